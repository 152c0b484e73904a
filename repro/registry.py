"""The one registry of experiments, filled by each paper's torch-free `papers/<id>/__init__.py`."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

STAGE_ORDER = ("train", "select", "sample", "evaluate")
PAPERS = ("sohl", "ncsn", "dlg", "subspace")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Experiment:
    paper: str
    name: str
    stages: tuple[str, ...] = ("evaluate",)
    gpu_stages: tuple[str, ...] = field(default=())
    # The module holding the stage functions and `Config`, when several experiments share one
    # (default papers.<paper>.<name>); a stage finds its experiment's own parts through `run.experiment`.
    module_name: str | None = None

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in STAGE_ORDER]
        if unknown or list(self.stages) != sorted(self.stages, key=STAGE_ORDER.index):
            raise ValueError(f"{self.key}: stages {self.stages} must be drawn from {STAGE_ORDER} in that order")
        if "evaluate" not in self.stages:
            raise ValueError(f"{self.key}: every experiment ends with an 'evaluate' stage")

    @property
    def key(self) -> str:
        return f"{self.paper}/{self.name}"

    @property
    def module(self) -> str:
        return self.module_name or f"papers.{self.paper}.{self.name}"

    def previous_stage(self, stage: str) -> str | None:
        i = self.stages.index(stage)
        return self.stages[i - 1] if i else None

    def config_class(self) -> type:
        """The experiment's config dataclass: `Config` in its module."""
        module = importlib.import_module(self.module)
        if not hasattr(module, "Config"):
            raise TypeError(f"{self.module} defines no `Config` dataclass for its experiment config")
        return module.Config

    def work(self, cfg) -> list:
        """What the experiment computes at `cfg`, in units a GPU can price (`repro.work`): its module's `work(cfg)`;
        every experiment with GPU stages has one."""
        fn = getattr(importlib.import_module(self.module), "work", None)
        if fn is None:
            raise TypeError(f"{self.module} defines no `work(cfg)` declaring the GPU work of {self.key}")
        return fn(cfg)

    def stage_function(self, stage: str):
        if stage not in self.stages:
            raise KeyError(f"{self.key} has no stage {stage!r} (it has {', '.join(self.stages)})")
        return getattr(importlib.import_module(self.module), stage)


def experiments(papers: tuple[str, ...] = PAPERS) -> dict[str, Experiment]:
    """All registered experiments, keyed 'paper/name'. Papers not yet present are skipped."""
    found: dict[str, Experiment] = {}
    for paper in papers:
        if not (PROJECT_ROOT / "papers" / paper / "__init__.py").exists():
            continue
        for exp in importlib.import_module(f"papers.{paper}").EXPERIMENTS:
            found[exp.key] = exp
    return found


def get(key: str) -> Experiment:
    """Look up 'paper/experiment'; the error lists what exists."""
    table = experiments()
    if key not in table:
        raise KeyError(f"unknown experiment {key!r}; known: {', '.join(sorted(table)) or 'none'}")
    return table[key]
