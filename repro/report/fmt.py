"""Plain-text formatting shared by the HTML page and the Markdown summary (numbers, times, provenance lines)."""

from __future__ import annotations

from repro.progress import duration
from repro.report.summary import Row

PAPER_TITLES = {
    "sohl": "Sohl-Dickstein et al. 2015 — Deep Unsupervised Learning using Nonequilibrium Thermodynamics",
    "ncsn": "Song & Ermon 2019 — Generative Modeling by Estimating Gradients of the Data Distribution (NCSN)",
    "dlg": "Kim & Ye 2023 — Denoising MCMC / Denoising Langevin Gibbs",
    "subspace": "Jing et al. 2022 — Subspace Diffusion Generative Models",
}
TIER_NOTES = {
    "smoke": "plumbing check with tiny sizes; its numbers are not evidence",
    "cpu": "faithful at laptop scale: the papers' toy experiments exactly, real data subsets",
    "paper": "the paper's own configuration (GPU, downloaded data, official checkpoints)",
}
MISSING = "—"


def number(value: float | None, digits: int = 4) -> str:
    return MISSING if value is None else f"{value:.{digits}g}"


def value_pm(row: Row) -> str:
    """'12.3 ± 0.4' or 'not measured'."""
    if row.value is None:
        return "not measured"
    return number(row.value) + (f" ± {number(row.stderr, 2)}" if row.stderr is not None else "")


def delta(row: Row) -> str:
    """Measured − claimed, with the relative difference when the claim is not zero."""
    d = row.delta
    if d is None:
        return MISSING
    claimed = row.claimed_value or 0.0
    rel = f" ({100 * d / abs(claimed):+.1f}%)" if claimed else ""
    return f"{d:+.3g}{rel}"


def seconds(value: float | None) -> str:
    return MISSING if value is None else duration(value)


def provenance(row: Row) -> str:
    """The measured number's trail: samples, seed, device, wall time, commit, synthetic data."""
    if row.value is None:
        return ""
    parts = [
        f"n={row.n_samples or '?'}",
        f"seed {row.seed or '?'}",
        row.device or "device ?",
        seconds(row.wall_seconds),
        f"commit {row.commit or '?'}",
    ]
    if row.synthetic:
        parts.append("synthetic data")
    return " · ".join(parts)


def claimed(row: Row) -> str:
    """The claimed value with its unit; 'our threshold …' when the value is a threshold we chose."""
    if not row.claimed:
        return MISSING
    text = f"{row.claimed} {row.unit}".strip()
    return f"our threshold {text}" if row.threshold == "ours" else text


def value_range(lo: float, hi: float, unit: str = "") -> str:
    """'0.01 – 0.2 unit' (one number when both ends are equal at 4 digits)."""
    text = number(lo) if number(lo) == number(hi) else f"{number(lo)} – {number(hi)}"
    return f"{text} {unit}".strip()


def delta_range(lo: float, hi: float) -> str:
    return f"{lo:+.3g}" if f"{lo:+.3g}" == f"{hi:+.3g}" else f"{lo:+.3g} … {hi:+.3g}"


def paper_title(paper: str) -> str:
    return PAPER_TITLES.get(paper, paper)
