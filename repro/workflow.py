"""What the Snakefile needs to build the DAG, kept torch-free so building it stays fast and offline."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import Any

from repro import config as tier_config
from repro import registry
from repro.check import present
from repro.run import REHEARSAL

PUBLISHING_TIERS = ("cpu", "paper")


class Workflow:
    """The experiments of one tier: their configs (validated here, before any job), stage chains and targets."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.tier = settings["tier"]
        # The paper rehearsal (tier=paper rehearsal=true): the paper configs cut to a handful, under runs/rehearsal/.
        self.rehearsal = settings.get("rehearsal", False) in (True, "true")  # --config rehearsal=true: a string
        if self.rehearsal and self.tier != "paper":
            raise ValueError(f"rehearsal=true rehearses the paper tier; got tier={self.tier}")
        self.runs = f"{settings['runs_root']}/{REHEARSAL if self.rehearsal else self.tier}"
        # Only the tiers whose numbers are evidence write the shared results/ and report/; a smoke run (or the
        # paper rehearsal) keeps its own under runs/<tier>/, so it never takes (or overwrites) a committed file.
        own = self.tier in PUBLISHING_TIERS and not self.rehearsal
        self.results = settings["results"] if own else f"{self.runs}/results"
        self.report = settings["report"] if own else f"{self.runs}/report"
        self.data_root = settings["data_root"]
        self.n_gpus = int(settings["gpus"])
        self.experiments = registry.experiments()
        self.configs = {
            paper: tier_config.load_tier(paper, self.tier, rehearsal=self.rehearsal, data_root=self.data_root)
            for paper in registry.PAPERS
        }
        allow = " --allow-cpu" if settings["allow_cpu"] else ""
        self.collect_args = f"--tier {self.tier} --runs-root {shlex.quote(str(settings['runs_root']))}"
        if self.rehearsal:
            self.collect_args += " --rehearsal"
        self.cli_args = f"{self.collect_args} --data-root {shlex.quote(str(self.data_root))}{allow}"

    def experiment(self, wildcards) -> registry.Experiment:
        key = f"{wildcards.paper}/{wildcards.exp}"
        if key not in self.experiments:
            raise ValueError(f"unknown experiment {key}; known: {', '.join(sorted(self.experiments))}")
        if wildcards.exp not in self.configs[wildcards.paper]:
            raise ValueError(
                f"{key} has no config at tier {self.tier!r} (papers/{wildcards.paper}/configs/{self.tier}.yaml)"
            )
        return self.experiments[key]

    def runnable(self, exp: registry.Experiment) -> bool:
        """At this tier, with its downloads present: experiments needing a download join when it is there.
        A rehearsal runs every paper-tier experiment (stand-ins replace what is absent)."""
        cfg = self.configs[exp.paper].get(exp.name)
        if cfg is None:
            return False
        return self.rehearsal or all(present(n, self.data_root) for n in cfg.get("needs", []))

    def missing_downloads(self) -> list[str]:
        """Paper tier (not a rehearsal): one line per absent download a paper-tier experiment needs, with its fix,
        for the dry run to print (those experiments are left out of the default targets)."""
        if self.tier != "paper" or self.rehearsal:
            return []
        from repro import check

        users: dict[str, list[str]] = {}
        for exp in self.experiments.values():
            for name in (self.configs[exp.paper].get(exp.name) or {}).get("needs", []):
                if not present(name, self.data_root):
                    users.setdefault(name, []).append(exp.key)
        return [
            f"{name} (needed by {', '.join(sorted(keys))}): expected at {check.path(name, self.data_root)}; "
            f"{check.fix(name, self.data_root)}"
            for name, keys in sorted(users.items())
        ]

    def default_targets(self) -> list[str]:
        return sorted(f"{self.results}/{e.paper}_{e.name}.csv" for e in self.experiments.values() if self.runnable(e))

    def stage_input(self, stage: str) -> Callable:
        def inputs(wildcards) -> list[str]:
            previous = self.experiment(wildcards).previous_stage(stage)
            return [f"{self.runs}/{wildcards.paper}/{wildcards.exp}/stage_{previous}.json"] if previous else []

        return inputs

    def config_of(self, wildcards) -> str:
        """The experiment's config as a params value, so that editing it reruns the experiment."""
        return json.dumps(self.configs[wildcards.paper][wildcards.exp], sort_keys=True)

    def gpus(self, stage: str) -> Callable:
        """GPUs a stage asks for: training is data-parallel over `gpus`; other GPU stages take one."""

        def count(wildcards) -> int:
            if self.tier != "paper" or self.rehearsal or stage not in self.experiment(wildcards).gpu_stages:
                return 0
            return self.n_gpus if stage == "train" else 1

        return count
