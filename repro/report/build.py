"""`build_report`: results CSVs + run directories -> report/index.html, report/README.md and report/figures/."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from repro import atomic
from repro.registry import PROJECT_ROOT
from repro.report import page, plots, readme
from repro.report.data import load_claims, load_results, load_runs
from repro.report.model import ReportModel, ShownFigure, progress_rows
from repro.report.provenance import build_info, package_versions
from repro.report.summary import build_rows, papers

MANIFEST = ".report_manifest.json"


def registered_stages() -> dict[str, tuple[str, ...]]:
    """Declared stages of every registered experiment (to show how far each one got)."""
    from repro.registry import experiments

    return {key: exp.stages for key, exp in experiments().items()}


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
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results folder {results_dir} does not exist: run `collect` first")
    results = load_results(results_dir)
    claims = load_claims(Path(papers_root) if papers_root is not None else None)
    runs = load_runs(runs_root) if runs_root.is_dir() else []
    rows = build_rows(results, claims, runs)
    expected = {k: tuple(v) for k, v in (registered_stages() if stages is None else stages).items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    written: set[Path] = set()
    warnings = [f"{run.tier}/{run.key}: figures/index.json lists {p}, which does not exist"
                for run in runs for p in run.missing_figures]  # fmt: skip
    warnings += [f"{r.csv_file}: claim id {r.claim_id!r} is not in papers/{r.paper}/claims.yaml"
                 for r in rows if r.claim_id and claims and r.claim_id not in claims]  # fmt: skip

    experiment_figures: dict[str, list[ShownFigure]] = {}
    for run in runs:
        for fig in run.figures:
            rel = Path("figures", run.tier, run.paper, run.experiment, fig.path.name)
            _copy(fig.path, out_dir / rel, written)
            experiment_figures.setdefault(run.key, []).append(
                ShownFigure(rel.as_posix(), fig.title, fig.caption, run.experiment, run.tier))

    progress = progress_rows(runs, rows, expected)
    claim_figures, timing_figures = {}, {}
    all_timing = plots.timing_frame(runs, rows)
    for paper in papers(rows, runs):
        paper_rows = [r for r in rows if r.paper == paper]
        rel = Path("figures", "report", f"{paper}_claims.png")
        if plots.claims_figure(paper_rows, out_dir / rel, f"{paper}: claimed vs measured"):
            written.add(out_dir / rel)
            claim_figures[paper] = ShownFigure(rel.as_posix(), "Claimed vs measured", _CLAIMS_CAPTION)
        rel = Path("figures", "report", f"{paper}_timing.png")
        frame = all_timing[all_timing["experiment"].str.startswith(f"{paper}/")]
        if plots.timing_figure(frame, out_dir / rel, f"{paper}: wall time per experiment"):
            written.add(out_dir / rel)
            timing_figures[paper] = ShownFigure(rel.as_posix(), "Wall time per experiment", _TIMING_CAPTION)
    rel = Path("figures", "report", "workflow_timing.png")
    if plots.timing_figure(all_timing, out_dir / rel, "Whole workflow: wall time per experiment and stage"):
        written.add(out_dir / rel)
        timing_figures[""] = ShownFigure(rel.as_posix(), "Whole workflow", _TIMING_CAPTION)

    data_files = []
    for csv_path in sorted(results_dir.glob("*.csv")):
        _copy(csv_path, out_dir / "data" / csv_path.name, written)
        data_files.append(f"data/{csv_path.name}")

    model = ReportModel(rows=rows, runs=runs, papers=papers(rows, runs), progress=progress,
                        experiment_figures=experiment_figures, claim_figures=claim_figures,
                        timing_figures=timing_figures, versions=package_versions(), build=build_info(),
                        data_files=data_files, warnings=warnings)  # fmt: skip
    for name, text in (("index.html", page.render(model, title)), ("README.md", readme.render(model, title))):
        atomic.write_text(out_dir / name, text)
        written.add(out_dir / name)
    _remove_stale(out_dir, written)
    for warning in warnings:
        print(f"report: warning: {warning}", file=sys.stderr)
    return out_dir / "index.html"


_CLAIMS_CAPTION = (
    "One panel per comparable claim: the paper's value (blue) beside ours (coloured by verdict, bar = ± stderr). "
    "The shaded band is the tolerance the claim's verdict rule accepts (claims.yaml)."
)
_TIMING_CAPTION = (
    "Wall seconds per experiment and stage, from the run directories' stage stamps "
    "(the results CSV's wall_seconds when no stamp exists)."
)
