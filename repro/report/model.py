"""The assembled report content that both renderers (HTML page, Markdown summary) draw from."""

from __future__ import annotations

from dataclasses import dataclass, field

from repro.report.data import RunDir, paper_rank, stage_rank
from repro.report.papertables import FilledTable
from repro.report.preregistration import Preregistration
from repro.report.summary import Row


@dataclass(frozen=True)
class ShownFigure:
    """A figure as the page shows it: `src` is relative to the output folder."""

    src: str
    title: str
    caption: str
    experiment: str = ""
    tier: str = ""


@dataclass(frozen=True)
class Progress:
    """Workflow progress and time of one experiment at one tier."""

    tier: str
    paper: str
    experiment: str
    stages: dict[str, float]
    expected: tuple[str, ...]
    csv_wall: float | None
    status: str
    finished: str = ""

    @property
    def stage_total(self) -> float | None:
        return sum(self.stages.values()) if self.stages else None

    @property
    def wall(self) -> float | None:
        """Best estimate of this experiment's wall time: stage stamps, else the CSV's wall_seconds."""
        return self.stage_total if self.stages else self.csv_wall


@dataclass
class ReportModel:
    rows: list[Row]
    runs: list[RunDir]
    papers: list[str]
    progress: list[Progress]
    experiment_figures: dict[str, list[ShownFigure]]  # key 'paper/experiment'
    claim_figures: dict[str, ShownFigure]  # key paper
    timing_figures: dict[str, ShownFigure]  # key paper, plus '' for the whole workflow
    versions: dict[str, str]
    build: dict[str, str]
    data_files: list[str]
    warnings: list[str] = field(default_factory=list)
    preregistration: Preregistration | None = None  # None: built without claims files
    paper_tables: list[FilledTable] = field(default_factory=list)  # the papers' tables beside ours

    def paper_rows(self, paper: str) -> list[Row]:
        return [r for r in self.rows if r.paper == paper]

    def experiments(self, paper: str) -> list[str]:
        names = {r.experiment for r in self.rows if r.paper == paper} | {
            r.experiment for r in self.runs if r.paper == paper
        }
        return sorted(n for n in names if n)

    @property
    def tiers(self) -> list[str]:
        order = ("smoke", "cpu", "paper")
        found = {r.tier for r in self.rows if r.tier} | {r.tier for r in self.runs}
        return sorted(found, key=lambda t: (order.index(t) if t in order else len(order), t))


def progress_rows(runs: list[RunDir], rows: list[Row], expected: dict[str, tuple[str, ...]]) -> list[Progress]:
    """One entry per run directory or results experiment, with stage times, the CSV time and a status word."""
    csv_wall: dict[tuple[str, str, str], float | None] = {}
    for r in rows:
        if r.tier:
            key = (r.tier, r.paper, r.experiment)
            known = csv_wall.get(key)
            csv_wall[key] = r.wall_seconds if known is None else max(known, r.wall_seconds or 0.0)
    by_key = {(run.tier, run.paper, run.experiment): run for run in runs}
    out = []
    for key in sorted(set(by_key) | set(csv_wall), key=lambda k: (paper_rank(k[1]), k[2], k[0])):
        tier, paper, experiment = key
        run = by_key.get(key)
        stages = run.stages if run else {}
        want = tuple(expected.get(f"{paper}/{experiment}", ()))
        if key in csv_wall:
            status = "collected"
        elif run is not None and run.metrics is not None:
            status = "evaluated, not collected"
        elif stages:
            done = sum(1 for s in want if s in stages)
            status = f"running: {done}/{len(want)} stages" if want else f"running: {len(stages)} stages done"
        else:
            status = "not started"
        ordered = dict(sorted(stages.items(), key=lambda kv: stage_rank(kv[0])))
        finished = run.finished if run else ""
        out.append(Progress(tier, paper, experiment, ordered, want, csv_wall.get(key), status, finished))
    return out
