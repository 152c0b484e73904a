"""`build_report`: results CSVs + run directories -> report/index.html, report/README.md and report/figures/."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from repro import atomic
from repro import claims as claim_rules
from repro.provenance import build_info, package_versions
from repro.registry import PAPERS, PROJECT_ROOT, experiments
from repro.report import page, papertables, plots, readme
from repro.report.data import RunDir, load_claims, load_results, load_runs
from repro.report.model import ReportModel, ShownFigure, progress_rows
from repro.report.preregistration import preregistration
from repro.report.summary import Row, build_rows, papers

MANIFEST = ".report_manifest.json"


def registered_stages(warnings: list[str]) -> dict[str, tuple[str, ...]]:
    """Declared stages of every registered experiment (to show how far each one got).

    A paper whose registration fails to import is reported as a problem on the page instead of stopping the report.
    """
    stages: dict[str, tuple[str, ...]] = {}
    for paper in PAPERS:
        try:
            stages.update({key: exp.stages for key, exp in experiments((paper,)).items()})
        except Exception as err:  # any import error of one paper is shown on the page, not fatal
            warnings.append(f"papers/{paper}: its experiment registry could not be read ({type(err).__name__}: {err})")
    return stages


def _copy(src: Path, dest: Path, written: set[Path]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    written.add(dest)


def _remove_stale(out_dir: Path, written: set[Path]) -> None:
    """Delete files an earlier build wrote that this build did not (only files listed in our own manifest)."""
    manifest = out_dir / MANIFEST
    old = json.loads(manifest.read_text()) if manifest.exists() else []
    for rel in old:
        path = out_dir / rel
        if path not in written and path.is_file():
            path.unlink()
    atomic.write_json(manifest, sorted(str(p.relative_to(out_dir)) for p in written))


def _inputs(results_dir: Path, runs_root: Path, papers_root: str | Path | None):
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results folder {results_dir} does not exist: run `collect` first")
    claims = load_claims(Path(papers_root) if papers_root is not None else None)
    runs = load_runs(runs_root) if runs_root.is_dir() else []
    results = load_results(results_dir)
    if papers_root is not None:
        _check_verdicts(results, Path(papers_root))
    return build_rows(results, claims, runs), claims, runs


def _check_verdicts(results: list[dict[str, str]], papers_root: Path) -> None:
    """Every stored verdict is recomputed from its value and its claim's rule; a mismatch stops the build."""
    known = {
        c.id: c for path in sorted(papers_root.glob("*/claims.yaml")) for c in claim_rules.load(path.parent.name, path)
    }
    for row in results:
        if row["claim_id"] and row["claim_id"] not in known:
            continue  # reported as a warning on the page
        claim_rules.check_verdict(row, known.get(row["claim_id"]), row["_where"])


def _own_figures(rows: list[Row], runs: list[RunDir], out_dir: Path, written: set[Path]):
    """The report's seaborn figures under out_dir/figures/report/: claims and timing per paper, workflow timing."""
    claim_figures: dict[str, ShownFigure] = {}
    timing_figures: dict[str, ShownFigure] = {}
    timing = plots.timing_frame(runs, rows)
    for paper in papers(rows, runs):
        rel = Path("figures", "report", f"{paper}_claims.png")
        if plots.claims_figure([r for r in rows if r.paper == paper], out_dir / rel, f"{paper}: claimed vs measured"):
            written.add(out_dir / rel)
            claim_figures[paper] = ShownFigure(rel.as_posix(), "Claimed vs measured", _CLAIMS_CAPTION)
        rel = Path("figures", "report", f"{paper}_timing.png")
        frame = timing[timing["experiment"].str.startswith(f"{paper}/")]
        if plots.timing_figure(frame, out_dir / rel, f"{paper}: wall time per experiment"):
            written.add(out_dir / rel)
            timing_figures[paper] = ShownFigure(rel.as_posix(), "Wall time per experiment", _TIMING_CAPTION)
    rel = Path("figures", "report", "workflow_timing.png")
    plots.timing_figure(timing, out_dir / rel, "Whole workflow: wall time per experiment and stage", always=True)
    written.add(out_dir / rel)
    timing_figures[""] = ShownFigure(rel.as_posix(), "Whole workflow", _TIMING_CAPTION)
    return claim_figures, timing_figures


def build_figures(
    results_dir: str | Path = "results",
    runs_root: str | Path = "runs",
    out_dir: str | Path = "report",
    *,
    papers_root: str | Path | None = PROJECT_ROOT / "papers",
) -> Path:
    """Draw only the cross-paper figures (claimed vs measured, timing); returns out_dir/figures/report."""
    results_dir, runs_root, out_dir = Path(results_dir), Path(runs_root), Path(out_dir)
    rows, _, runs = _inputs(results_dir, runs_root, papers_root)
    _own_figures(rows, runs, out_dir, set())
    return out_dir / "figures" / "report"


def build_report(
    results_dir: str | Path = "results",
    runs_root: str | Path = "runs",
    out_dir: str | Path = "report",
    *,
    papers_root: str | Path | None = PROJECT_ROOT / "papers",
    stages: Mapping[str, Sequence[str]] | None = None,
    title: str = "Reproduction report: diffusion papers",
) -> Path:
    """Regenerate the report from results and run directories alone; returns the path of index.html.

    `papers_root` holds `<paper>/claims.yaml` (protocol, confidence, rules; None to skip), `stages` maps
    'paper/experiment' to its declared stages (default: the experiment registry).
    """
    results_dir, runs_root, out_dir = Path(results_dir), Path(runs_root), Path(out_dir)
    rows, claims, runs = _inputs(results_dir, runs_root, papers_root)
    warnings: list[str] = []
    with_claims = {c["_paper"] for c in claims.values()}  # papers that have a claims.yaml
    expected = {k: tuple(v) for k, v in (registered_stages(warnings) if stages is None else stages).items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    written: set[Path] = set()
    warnings += [
        f"{run.tier}/{run.key}: figures/index.json lists {p}, which does not exist"
        for run in runs
        for p in run.missing_figures
    ]
    warnings += [
        f"{r.csv_file}: claim id {r.claim_id!r} is not in papers/{r.paper}/claims.yaml"
        for r in rows
        if r.claim_id and r.paper in with_claims and r.claim_id not in claims
    ]

    experiment_figures: dict[str, list[ShownFigure]] = {}
    for run in runs:
        for fig in run.figures:
            rel = Path("figures", run.tier, run.paper, run.experiment, fig.path.name)
            _copy(fig.path, out_dir / rel, written)
            shown = ShownFigure(rel.as_posix(), fig.title, fig.caption, run.experiment, run.tier)
            experiment_figures.setdefault(run.key, []).append(shown)
    claim_figures, timing_figures = _own_figures(rows, runs, out_dir, written)
    tables = papertables.fill_all(rows, claims, Path(papers_root) if papers_root is not None else None)
    tables, drawn = papertables.draw_figures(tables, rows, claims, out_dir)
    written.update(drawn)
    data_files = []
    for csv_path in sorted(results_dir.glob("*.csv")):
        _copy(csv_path, out_dir / "data" / csv_path.name, written)
        data_files.append(f"data/{csv_path.name}")

    model = ReportModel(
        rows=rows,
        runs=runs,
        papers=papers(rows, runs),
        progress=progress_rows(runs, rows, expected),
        experiment_figures=experiment_figures,
        claim_figures=claim_figures,
        timing_figures=timing_figures,
        versions=package_versions(),
        build=build_info(),
        data_files=data_files,
        warnings=warnings,
        preregistration=preregistration(results_dir, Path(papers_root), claims) if papers_root is not None else None,
        paper_tables=tables,
    )
    for name, text in (("index.html", page.render(model, title)), ("README.md", readme.render(model, title))):
        atomic.write_text(out_dir / name, text)
        written.add(out_dir / name)
    _remove_stale(out_dir, written)
    for warning in warnings:
        print(f"report: warning: {warning}", file=sys.stderr)
    return out_dir / "index.html"


_CLAIMS_CAPTION = (
    "Each comparable claim with a numeric value: how far our value lies from the claimed one, in % of it "
    "(0 = the paper's value, or our threshold where the label says 'our threshold'; bar = ± stderr; colour = "
    "verdict; '(check)' marks a claim that cannot fail when our code is right). Shading is the range the claim's "
    "rule in claims.yaml accepts (green, 'within') or rejects (red, 'beyond'); a dashed tick marks an "
    "'at_most'/'at_least' bound."
)
_TIMING_CAPTION = (
    "Wall seconds per experiment and stage, from the run directories' stage stamps "
    "(the results CSV's wall_seconds when no stamp exists)."
)
