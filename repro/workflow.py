"""What the Snakefile needs to build the DAG, kept torch-free so building it stays fast and offline."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import Any

from repro import config as tier_config
from repro import registry
from repro.check import present

PUBLISHING_TIERS = ("cpu", "paper")


class Workflow:
    """The experiments of one tier: their configs (validated here, before any job), stage chains and targets."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.tier = settings["tier"]
        self.runs = f"{settings['runs_root']}/{self.tier}"
        # Only the tiers whose numbers are evidence write the shared results/ and report/; a smoke run keeps its
        # own under runs/smoke/, so it never takes (or overwrites) a committed file of another tier.
        own = self.tier in PUBLISHING_TIERS
        self.results = settings["results"] if own else f"{self.runs}/results"
        self.report = settings["report"] if own else f"{self.runs}/report"
        self.data_root = settings["data_root"]
        self.n_gpus = int(settings["gpus"])
        self.experiments = registry.experiments()
        self.configs = {paper: tier_config.load_tier(paper, self.tier) for paper in registry.PAPERS}
        allow = " --allow-cpu" if settings["allow_cpu"] else ""
        self.collect_args = f"--tier {self.tier} --runs-root {shlex.quote(str(settings['runs_root']))}"
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
        """At this tier, with its downloads present: experiments needing a download join when it is there."""
        cfg = self.configs[exp.paper].get(exp.name)
        return cfg is not None and all(present(n, self.data_root) for n in cfg.get("needs", []))

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
            if self.tier != "paper" or stage not in self.experiment(wildcards).gpu_stages:
                return 0
            return self.n_gpus if stage == "train" else 1

        return count
