"""The papers' own tables rebuilt beside ours: the paper's cells from claims.yaml, ours from the results rows.

A table is declared once (`TABLES`): one `Line` per printed row naming the claim of each column, and `Analogue`
blocks for the laptop-scale experiments that measure a related quantity. Filling a table never copies a claimed
number into our column: our cells come only from results rows carrying the claim's id (each with its tier and
commit, and labelled 'not comparable' when the row is), and analogue rows never sit in the paper's column.
An unmeasured cell says which tier would measure it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from repro.report import fmt, plots
from repro.report.summary import Row

MEASURING_TIERS = ("cpu", "paper")


@dataclass(frozen=True)
class Line:
    """One printed row: its label cells and the claim id of each value column ('' where the paper prints none)."""

    label: tuple[str, ...]
    claims: tuple[str, ...]
    baseline: bool = False  # a number the paper cites from another work: no tier of ours measures it


@dataclass(frozen=True)
class Analogue:
    """Rows of one of our experiments that measure a related quantity at laptop scale (never the paper's number)."""

    experiment: str
    metrics: tuple[str, ...] = ()  # exact metric names
    prefixes: tuple[str, ...] = ()  # or any metric starting with one of these
    note: str = ""

    def wants(self, metric: str) -> bool:
        return metric in self.metrics or (bool(self.prefixes) and metric.startswith(self.prefixes))


@dataclass(frozen=True)
class PaperTable:
    paper: str
    key: str  # anchor and figure name
    title: str
    label_head: tuple[str, ...]
    columns: tuple[str, ...]
    lines: tuple[Line, ...]
    setting_label: str = ""  # a claim setting key shown as an extra label column (e.g. the NFE of a figure point)
    setting_head: str = ""  # that column's heading
    analogues: tuple[Analogue, ...] = ()
    figure_metric: str = ""  # draw ours vs NFE with the paper's points for each experiment of the lines

    @property
    def claim_ids(self) -> set[str]:
        return {c for line in self.lines for c in line.claims if c}


@dataclass(frozen=True)
class Cell:
    """One shown cell: `text` (a number or 'not measured (...)') and a muted `note` (source, tier, commit)."""

    text: str
    note: str = ""
    measured: bool = False


@dataclass(frozen=True)
class FilledLine:
    label: tuple[str, ...]
    cells: tuple[Cell, ...]  # paper, ours, paper, ours, ... per column


@dataclass(frozen=True)
class FilledAnalogue:
    experiment: str
    note: str
    columns: tuple[str, ...]
    lines: tuple[FilledLine, ...]  # label: (setting, tier)
    missing: str = ""  # 'not measured (cpu tier)' when no row exists


@dataclass(frozen=True)
class TableFigure:
    src: str
    title: str
    caption: str


@dataclass(frozen=True)
class FilledTable:
    spec: PaperTable
    head: tuple[str, ...]
    lines: tuple[FilledLine, ...]
    analogues: tuple[FilledAnalogue, ...]
    figures: tuple[TableFigure, ...] = ()


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def paper_cell(claim: Mapping[str, Any] | None, cid: str) -> Cell:
    """The claim's value ± stderr as claims.yaml states it, with its source; our thresholds are labelled."""
    if not cid:
        return Cell("not printed")
    if claim is None:
        return Cell("—", f"claim {cid} is not in claims.yaml")
    text = _number(claim["value"]) + (f" ± {_number(claim['stderr'])}" if "stderr" in claim else "")
    text = f"{text} {claim.get('unit', '')}".strip()
    if claim.get("threshold") == "ours":
        text = f"our threshold {text}"
    return Cell(text, f"{claim.get('source', '')} · {claim.get('confidence', '')}".strip(" ·"), True)


def _provenance(row: Row, analogue: bool = False) -> str:
    """Tier and commit (the tier is the analogue table's own column), and why a row is not evidence for the claim."""
    parts = ([] if analogue else [f"{row.tier} tier"]) + [f"commit {row.commit or '?'}", f"n={row.n_samples or '?'}"]
    if row.verdict == "smoke":
        parts.append("smoke: plumbing only, not evidence")
    elif not row.comparable and not analogue:
        parts.append("analogue, not comparable")
    return " · ".join(parts)


def measured_cell(row: Row, analogue: bool = False) -> Cell:
    return Cell(f"{fmt.value_pm(row)} {row.unit}".strip(), _provenance(row, analogue), True)


def ours_cell(rows: list[Row], claim: Mapping[str, Any] | None, cid: str, line: Line, tiers_run: list[str]) -> Cell:
    """Our measurements of the claim (all tiers, each with tier and commit), or which tier would measure it."""
    if not cid:
        return Cell(fmt.MISSING)
    if line.baseline:
        return Cell("not measured (a cited baseline; no tier runs it)")
    measured = [r for r in rows if r.claim_id == cid and r.value is not None]
    if measured:
        cells = [measured_cell(r) for r in measured]
        return Cell(" / ".join(c.text for c in cells), " / ".join(c.note for c in cells), True)
    tiers = [str(t) for t in (claim or {}).get("tiers", [])] or tiers_run
    return Cell(f"not measured ({'/'.join(tiers) or 'no'} tier)" if tiers else "not measured (no tier runs it)")


def _setting_text(setting: str) -> str:
    return setting.replace(";", "; ") or "(no setting)"


def fill_analogue(spec: Analogue, paper: str, rows: list[Row], shown: set[str], tiers: list[str]) -> FilledAnalogue:
    """One line per (setting, tier) of the experiment's chosen metrics, less the rows the table shows by claim id."""
    picked = [
        r
        for r in rows
        if r.paper == paper
        and r.experiment == spec.experiment
        and r.value is not None
        and not r.comparable
        and spec.wants(r.metric)
        and r.claim_id not in shown
    ]
    columns = tuple(dict.fromkeys(r.metric for r in picked))
    by_line: dict[tuple[str, str], dict[str, Row]] = {}
    for r in picked:
        by_line.setdefault((r.setting, r.tier), {})[r.metric] = r
    lines = tuple(
        FilledLine(
            (_setting_text(setting), tier),
            tuple(measured_cell(found[m], analogue=True) if m in found else Cell(fmt.MISSING) for m in columns),
        )
        for (setting, tier), found in by_line.items()
    )
    analogue_tiers = [t for t in tiers if t != "paper"] or tiers
    missing = "" if lines else f"not measured ({'/'.join(analogue_tiers) or 'no'} tier)"
    return FilledAnalogue(spec.experiment, spec.note, columns, lines, missing)


def configured_tiers(papers_root: Path | None, paper: str, experiment: str) -> list[str]:
    """The measuring tiers whose config of `paper` runs `experiment` (what an unmeasured cell points to)."""
    if papers_root is None:
        return []
    found = []
    for tier in MEASURING_TIERS:
        path = papers_root / paper / "configs" / f"{tier}.yaml"
        doc = yaml.safe_load(path.read_text()) if path.is_file() else None
        if isinstance(doc, dict) and experiment in doc:
            found.append(tier)
    return found


def fill(
    spec: PaperTable, rows: list[Row], claims: Mapping[str, Mapping[str, Any]], papers_root: Path | None
) -> FilledTable:
    """The table with every paper cell from claims.yaml and every one of ours from the results rows."""
    head = [*spec.label_head] + ([spec.setting_head] if spec.setting_label else [])
    for column in spec.columns:
        head += [f"{column}: paper", f"{column}: ours"]
    lines = []
    for line in spec.lines:
        label = line.label
        if spec.setting_label:
            first = claims.get(next((c for c in line.claims if c), ""), {})
            label = (*label, _number((first.get("setting") or {}).get(spec.setting_label, "adaptive")))
        cells: list[Cell] = []
        for cid in line.claims:
            claim = claims.get(cid)
            experiment = str((claim or {}).get("experiment", ""))
            tiers = configured_tiers(papers_root, spec.paper, experiment)
            cells += [paper_cell(claim, cid), ours_cell(rows, claim, cid, line, tiers)]
        lines.append(FilledLine(label, tuple(cells)))
    analogues = tuple(
        fill_analogue(a, spec.paper, rows, spec.claim_ids, configured_tiers(papers_root, spec.paper, a.experiment))
        for a in spec.analogues
    )
    return FilledTable(spec, tuple(head), tuple(lines), analogues)


def fill_all(rows: list[Row], claims: Mapping[str, Mapping[str, Any]], papers_root: Path | None) -> list[FilledTable]:
    """Every declared table of which claims.yaml holds at least one claim (a report built without them shows none)."""
    return [fill(t, rows, claims, papers_root) for t in TABLES if t.claim_ids & set(claims)]


def _pairs(setting: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in setting.split(";") if "=" in kv)


def curve_frame(rows: list[Row], paper: str, experiment: str, metric: str) -> pd.DataFrame:
    """Our points: the metric against the measured NFE of the same setting (the setting's budget when none)."""
    nfe = {
        (r.tier, r.setting): r.value for r in rows if (r.paper, r.experiment, r.metric) == (paper, experiment, "nfe")
    }
    records = []
    for r in rows:
        if (r.paper, r.experiment, r.metric) != (paper, experiment, metric) or r.value is None:
            continue
        pairs = _pairs(r.setting)
        x = nfe.get((r.tier, r.setting), fmt_float(pairs.get("budget")))
        if x is not None and x > 0:
            records.append(
                {
                    "integrator": pairs.get("integrator", "?"),
                    "dlg": pairs.get("dlg", "?"),
                    "nfe": x,
                    "value": r.value,
                    "tier": r.tier,
                }
            )
    return pd.DataFrame(records, columns=["integrator", "dlg", "nfe", "value", "tier"])


def fmt_float(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def paper_points(claims: Mapping[str, Mapping[str, Any]], paper: str, experiment: str, metric: str) -> pd.DataFrame:
    """The paper's figure points (claims of the experiment and metric whose setting gives the NFE)."""
    records = []
    for c in claims.values():
        setting = c.get("setting") or {}
        x, y = fmt_float(setting.get("budget")), fmt_float(c.get("value"))
        if (c.get("_paper"), c.get("experiment"), c.get("metric")) == (paper, experiment, metric) and x and y:
            records.append(
                {
                    "integrator": str(setting.get("integrator", "?")),
                    "dlg": str(setting.get("dlg", "?")),
                    "nfe": x,
                    "value": y,
                }
            )
    return pd.DataFrame(records, columns=["integrator", "dlg", "nfe", "value"])


OFF = ("off", "false", "False")


def curve_figure(ours: pd.DataFrame, paper: pd.DataFrame, path: Path, title: str, metric: str) -> Path:
    """Our metric-vs-NFE curves (solid: with DLG, dashed: without) and the paper's points as black-edged crosses."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    integrators = sorted(set(ours["integrator"]) | set(paper["integrator"]))
    palette = dict(zip(integrators, sns.color_palette("colorblind", len(integrators)), strict=True))
    with plots.style():
        fig, ax = plt.subplots(figsize=(7.0, 4.2))
        for (integrator, dlg, tier), group in ours.groupby(["integrator", "dlg", "tier"]):
            group = group.sort_values("nfe")
            ax.plot(
                group["nfe"],
                group["value"],
                marker="o",
                ms=4,
                color=palette[integrator],
                ls="--" if dlg in OFF else "-",
                label=f"ours {integrator}, DLG {dlg} ({tier})",
            )
        for (integrator, dlg), group in paper.groupby(["integrator", "dlg"]):
            ax.scatter(
                group["nfe"],
                group["value"],
                marker="X",
                s=70,
                color=palette[integrator],
                edgecolor="black",
                zorder=3,
                label=f"paper {integrator}, DLG {dlg}",
            )
        ax.set_xscale("log")
        values = pd.concat([ours["value"], paper["value"]])
        if values.min() > 0 and values.max() / values.min() > 10:
            ax.set_yscale("log")
        ax.set_xlabel("NFE per sample (score evaluations)")
        ax.set_ylabel(metric)
        ax.set_title(title, fontsize=11)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return plots.save(fig, path)


def draw_figures(
    filled: list[FilledTable], rows: list[Row], claims: Mapping[str, Mapping[str, Any]], out_dir: Path
) -> tuple[list[FilledTable], list[Path]]:
    """Each figure table gets, per experiment we measured, ours vs NFE with the paper's points overlaid."""
    done, written = [], []
    for table in filled:
        spec, figures = table.spec, []
        experiments = sorted({str(claims[c]["experiment"]) for c in spec.claim_ids if c in claims})
        for experiment in experiments if spec.figure_metric else []:
            ours = curve_frame(rows, spec.paper, experiment, spec.figure_metric)
            if ours.empty:
                continue
            rel = Path("figures", "report", f"{spec.key}_{experiment}_vs_nfe.png")
            title = f"{spec.paper}/{experiment}: {spec.figure_metric} against NFE, ours and the paper's points"
            written.append(
                curve_figure(
                    ours,
                    paper_points(claims, spec.paper, experiment, spec.figure_metric),
                    out_dir / rel,
                    title,
                    spec.figure_metric,
                )
            )
            figures.append(TableFigure(rel.as_posix(), title, FIGURE_CAPTION))
        done.append(FilledTable(spec, table.head, table.lines, table.analogues, tuple(figures)))
    return done, written


FIGURE_CAPTION = (
    "Lines: our measurements (solid with DLG, dashed without; the tier in the legend), NFE as measured. Crosses "
    "(with DLG) and diamonds (without): the paper's figure points from claims.yaml, NFE read off the paper's axis "
    "where its label gives none exactly."
)


def cell_html(cell: Cell, paper: bool) -> str:
    cls = "paper" if paper else ("ours" if cell.measured else "ours unmeasured")
    note = f'<br><span class="muted">{escape(cell.note)}</span>' if cell.note else ""
    return f'<td class="{cls}">{escape(cell.text)}{note}</td>'


def _line_html(line: FilledLine, paired: bool) -> str:
    labels = "".join(f"<td>{escape(text)}</td>" for text in line.label)
    cells = "".join(cell_html(c, paired and i % 2 == 0) for i, c in enumerate(line.cells))
    return f"<tr>{labels}{cells}</tr>"


TableFn = Callable[[list[str], list[str], str], str]


def _analogue_html(a: FilledAnalogue, table: TableFn) -> str:
    head = (
        f"<h4>Our analogue: <code>{escape(a.experiment)}</code> ({escape(a.note)}; not comparable, "
        "never in the paper's column)</h4>"
    )
    if not a.lines:
        return f'{head}<p class="muted">{escape(a.missing)}</p>'
    body = [_line_html(line, paired=False) for line in a.lines]
    html = table(["Setting", "Tier", *a.columns], body, "papertable analogue")
    return head + (
        f"<details><summary>{len(body)} analogue lines</summary>{html}</details>" if len(body) > 15 else html
    )


def table_html(t: FilledTable, table: TableFn, figure: Callable[[TableFigure], str]) -> str:
    """One paper table: the paper's columns beside ours, then our analogues and figures."""
    spec = t.spec
    parts = [
        f'<h3 id="table-{escape(spec.key)}">{escape(spec.title)}</h3>',
        table(list(t.head), [_line_html(line, paired=True) for line in t.lines], "papertable"),
    ]
    parts += [_analogue_html(a, table) for a in t.analogues]
    if t.figures:
        parts.append(f'<div class="figs">{"".join(figure(f) for f in t.figures)}</div>')
    elif spec.figure_metric:
        parts.append(
            f'<p class="muted">No {escape(spec.figure_metric)}-against-NFE figure: no tier has measured these points '
            "(the paper tier would).</p>"
        )
    return "".join(parts)


def _ncsn_table1() -> PaperTable:
    base = [
        ("unconditional", "PixelCNN", "pixelcnn"),
        ("unconditional", "PixelIQN", "pixeliqn"),
        ("unconditional", "EBM", "ebm"),
        ("unconditional", "WGAN-GP", "wgangp"),
        ("unconditional", "MoLM", "molm"),
        ("unconditional", "SNGAN", "sngan"),
    ]
    cond = [
        ("conditional", "EBM", "cond_ebm"),
        ("conditional", "SNGAN", "cond_sngan"),
        ("conditional", "BigGAN", "biggan"),
    ]
    lines = [Line((g, m), (f"ncsn.table1.{k}.is", f"ncsn.table1.{k}.fid"), baseline=True) for g, m, k in base]
    lines += [
        Line(("unconditional", "ProgressiveGAN"), ("ncsn.table1.progan.is", ""), baseline=True),
        Line(("unconditional", "NCSN (the paper's model)"), ("ncsn.cifar.is", "ncsn.cifar.fid")),
    ]
    lines += [Line((g, m), (f"ncsn.table1.{k}.is", f"ncsn.table1.{k}.fid"), baseline=True) for g, m, k in cond]
    note = "MNIST digits, a digit classifier's features instead of Inception; real digits and matched noise bracket it"
    return PaperTable(
        "ncsn",
        "ncsn_table1",
        "NCSN Table 1: Inception score and FID on CIFAR-10, with the paper's baselines",
        ("Group", "Model"),
        ("Inception score", "FID"),
        tuple(lines),
        analogues=(Analogue("mnist", prefixes=("fid", "kid", "is_"), note=note),),
    )


def _sohl_tables() -> tuple[PaperTable, PaperTable]:
    t1 = [
        ("Swiss roll", "swiss"),
        ("Binary heartbeat", "heart"),
        ("Bark", "bark"),
        ("Dead leaves", "dl"),
        ("CIFAR-10", "cifar"),
    ]
    table1 = PaperTable(
        "sohl",
        "sohl_table1",
        "Sohl-Dickstein Table 1: the bound K on the held-out log-likelihood and its gain over the null model",
        ("Dataset",),
        ("K", "K − L_null"),
        tuple(Line((name,), (f"sohl.{k}.K", f"sohl.{k}.gain")) for name, k in t1),
        analogues=(Analogue("deadleaves", metrics=("K", "K_minus_Lnull"), note="our dead-leaves generator"),),
    )
    t2 = [
        (("Dead leaves", "MCGSM"), "sohl.t2.dl.mcgsm", True),
        (("Dead leaves", "Diffusion"), "sohl.dl.K", False),
        (("MNIST", "Stacked CAE"), "sohl.t2.mnist.cae", True),
        (("MNIST", "DBN"), "sohl.t2.mnist.dbn", True),
        (("MNIST", "Deep GSN"), "sohl.t2.mnist.gsn", True),
        (("MNIST", "Diffusion"), "sohl.t2.mnist.diff", False),
        (("MNIST", "Adversarial net"), "sohl.t2.mnist.gan", True),
        (("MNIST", "Perfect model (Parzen on training digits)"), "sohl.t2.mnist.perfect", False),
    ]
    table2 = PaperTable(
        "sohl",
        "sohl_table2",
        "Sohl-Dickstein Table 2: log-likelihood against other models (MNIST: Parzen-window estimate)",
        ("Dataset", "Model"),
        ("log-likelihood",),
        tuple(Line(label, (cid,), baseline=b) for label, cid, b in t2),
        analogues=(Analogue("mnist", metrics=("parzen_loglik",), note="Parzen rows of the digits we run"),),
    )
    return table1, table2


_INTEGRATORS = (("kar1", "KAR1"), ("pfode", "probability flow"), ("rk45", "RK45"), ("kar2", "KAR2"))
_INTEGRATORS += (("rd", "reverse diffusion"), ("em", "Euler–Maruyama"))


def _dlg_tables() -> tuple[PaperTable, PaperTable]:
    fig3 = {
        "kar1": (
            "dlg.f3.kar1.off.nfe1000",
            "dlg.v1.cifar.nfe10",
            "dlg.v1.cifar.nfe20",
            "dlg.icml.cifar.nfe10",
            "dlg.icml.cifar.nfe16",
            "dlg.f3.kar1.on.nfe50",
        ),
        "pfode": ("dlg.f3.pfode.off.nfe1000", "dlg.f3.pfode.on.nfe200"),
        "rk45": ("dlg.f3.rk45.off", "dlg.f3.rk45.on"),
        "kar2": ("dlg.f3.kar2.off.nfe1000", "dlg.f3.kar2.on.nfe100"),
        "rd": ("dlg.f3.rd.off.nfe1000", "dlg.f3.rd.on.nfe600"),
        "em": ("dlg.f3.em.off.nfe1000", "dlg.f3.em.on.nfe400"),
    }
    lines3 = [Line((name, "on" if ".off" not in c else "off"), (c,)) for key, name in _INTEGRATORS for c in fig3[key]]
    fig4 = {
        "kar1": ("dlg.f4.kar1.off.nfe400", "dlg.f4.kar1.on.nfe20"),
        "pfode": ("dlg.f4.pfode.off.nfe400", "dlg.f4.pfode.on.nfe145"),
        "rk45": ("dlg.f4.rk45.off", "dlg.f4.rk45.on"),
        "kar2": ("dlg.f4.kar2.off.nfe400", "dlg.f4.kar2.on.nfe48", "dlg.celebahq.nfe160"),
        "rd": ("dlg.f4.rd.off.nfe400", "dlg.f4.rd.on.nfe130"),
        "em": ("dlg.f4.em.off.nfe400", "dlg.f4.em.on.nfe105"),
    }
    lines4 = [Line((name, "on" if ".off" not in c else "off"), (c,)) for key, name in _INTEGRATORS for c in fig4[key]]
    lines4.append(Line(("Soft Truncation (baseline)", "—"), ("dlg.base.softtrunc",), baseline=True))
    note = (
        "digits with a small score net and classifier trained here; Frechet distance in a digit classifier's features"
    )
    table3 = PaperTable(
        "dlg",
        "dlg_fig3",
        "DLG Fig. 3: CIFAR-10 FID against NFE, six integrators without and with DLG",
        ("Integrator", "DLG"),
        ("FID",),
        tuple(lines3),
        setting_label="budget",
        setting_head="NFE (paper's setting)",
        analogues=(Analogue("mnist", prefixes=("fid", "kid"), note=note),),
        figure_metric="fid_pytorch_fid",
    )
    table4 = PaperTable(
        "dlg",
        "dlg_fig4",
        "DLG Fig. 4: CelebA-HQ-256 FID without (NFE about 400) and with DLG",
        ("Integrator", "DLG"),
        ("FID",),
        tuple(lines4),
        setting_label="budget",
        setting_head="NFE (paper's setting)",
        figure_metric="fid_pytorch_fid",
    )
    return table3, table4


def _subspace_tables() -> tuple[PaperTable, ...]:
    quality = PaperTable(
        "subspace",
        "subspace_models",
        "Subspace diffusion: FID and IS per model and cut-off, with the runtime against the full-space model",
        ("Model", "Cut-off"),
        ("FID", "Inception score", "wall time, subspace / full"),
        (
            Line(("NCSN++ cont. (VE), full space", "none"), ("sub.ref.ncsnpp.fid", "sub.ref.ncsnpp.is", "")),
            Line(
                ("Subspace diffusion, best model", "orthogonal divergence 3e-3"),
                ("sub.cifar.fid", "sub.cifar.is", "sub.quality_cost.cifar.runtime"),
            ),
        ),
        analogues=(
            Analogue(
                "mnist",
                prefixes=("fid", "kid", "wall"),
                note="digits, small VE nets trained here; a line per sampler arm and cut-off (ratios: subspace / full)",
            ),
        ),
    )
    rmsd = PaperTable(
        "subspace",
        "subspace_table1",
        "Subspace Table 1: RMSD of the data to each subspace, per orthogonal dimension",
        ("Subspace", "Method"),
        ("RMSD",),
        tuple(
            Line((f"{s}×{s}", method), (f"sub.table1.cifar.{key}{s}",))
            for s in (16, 8)
            for method, key in (("downsampling", "down"), ("PCA", "pca"))
        ),
        analogues=(Analogue("mnist", metrics=("rmsd",), note="the digits' 14×14 and 7×7 subspaces"),),
    )
    cut = PaperTable(
        "subspace",
        "subspace_cutoff",
        "Subspace: cut-off times at the orthogonal-divergence threshold 3e-3",
        ("Subspace",),
        ("cut-off time",),
        (Line(("16×16",), ("sub.cut.ncsnpp.16",)), Line(("8×8",), ("sub.cut.ncsnpp.8",))),
        analogues=(Analogue("mnist", metrics=("cut_time",), note="our digit model, every threshold"),),
    )
    return quality, rmsd, cut


TABLES: tuple[PaperTable, ...] = (
    *_sohl_tables(),
    _ncsn_table1(),
    *_dlg_tables(),
    *_subspace_tables(),
)
