"""The context every stage function receives: identity, config, paths, device, logging, artifacts."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from repro import atomic
from repro.provenance import git_commit, package_versions

METRIC_KEYS = ("dataset", "setting", "metric", "value", "stderr", "unit", "n_samples", "seed")


REHEARSAL = "rehearsal"  # the folder of the paper rehearsal under the runs root (beside the tiers' folders)


def run_root(runs_root: str | Path, tier: str, paper: str, experiment: str, rehearsal: bool = False) -> Path:
    """`<runs_root>/<tier>/<paper>/<experiment>`, or `<runs_root>/rehearsal/...` for the paper rehearsal."""
    return Path(runs_root) / (REHEARSAL if rehearsal else tier) / paper / experiment


@dataclass(frozen=True, kw_only=True)
class MetricRow:
    """One measured number; the engine adds paper, experiment, tier, device, wall time and commit."""

    dataset: str
    metric: str
    value: float
    stderr: float | None = None
    unit: str = ""
    n_samples: int
    seed: int | str
    setting: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in METRIC_KEYS}


@dataclass
class Run:
    paper: str
    experiment: str
    tier: str
    cfg: Any  # the experiment's config dataclass (a plain mapping in engine tests)
    runs_root: Path = Path("runs")
    data_root: Path = Path("data")
    started: float = field(default_factory=time.time)
    rehearsal: bool = False  # the paper rehearsal: the paper tier's config cut to a handful, under runs/rehearsal/

    def __post_init__(self) -> None:
        self.runs_root = Path(self.runs_root)
        self.data_root = Path(self.data_root)

    @property
    def root(self) -> Path:
        return run_root(self.runs_root, self.tier, self.paper, self.experiment, self.rehearsal)

    @property
    def seed(self) -> int:
        return int(self.cfg["seed"] if isinstance(self.cfg, Mapping) else self.cfg.seed)

    @property
    def smoke(self) -> bool:
        return self.tier == "smoke"

    @cached_property
    def device(self):
        import torch

        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def log(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {self.paper}/{self.experiment} ({self.tier}): {msg}"
        print(line, file=sys.stderr, flush=True)
        with open(self.path("log.txt"), "a") as fh:
            fh.write(line + "\n")

    def progress(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "", initial: int = 0):
        """A bar on a terminal; elsewhere (Snakemake, a batch job) a line in the log every minute or so, with the
        time left."""
        desc = f"{self.experiment}: {desc}"
        if not sys.stderr.isatty():
            from repro.progress import LoggedProgress

            return LoggedProgress(self.log, iterable, total, desc, initial)
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, initial=initial, dynamic_ncols=True, leave=False)

    def save_json(self, name: str, obj: Any) -> Path:
        p = self.path(name)
        atomic.write_json(p, obj)
        return p

    def load_json(self, name: str) -> Any:
        p = self.root / name
        if not p.exists():
            raise FileNotFoundError(f"{p} is missing: run the earlier stage of {self.paper}/{self.experiment} first")
        return json.loads(p.read_text())

    def save_metrics(self, rows: list[MetricRow | dict[str, Any]], synthetic_data: bool = False) -> Path:
        """Write metrics.json; `synthetic_data` marks rows measured on a stand-in for real data. Where the config
        switches on bf16 or TF32 anywhere, every row's setting says so (`numerics=bf16+tf32`), so it never shares
        a setting with an fp32 row (fp32, the default, adds nothing)."""
        from repro.checkpoint import run_settings
        from repro.speed import reduced_precision

        fast = reduced_precision(run_settings(self.cfg, "evaluate"))
        clean = []
        for row in rows:
            row = row.as_dict() if isinstance(row, MetricRow) else row
            missing = [k for k in METRIC_KEYS if k not in row]
            extra = [k for k in row if k not in METRIC_KEYS]
            if missing or extra:
                raise ValueError(f"metric row {row.get('metric')!r}: missing keys {missing}, unknown keys {extra}")
            setting = format_setting(row["setting"])
            if fast:
                setting += f"{';' if setting else ''}numerics={'+'.join(fast)}"
            clean.append({**row, "setting": setting})
        (self.root / "figures").mkdir(parents=True, exist_ok=True)  # a declared output, even when empty
        return self.save_json(
            "metrics.json",
            {
                "paper": self.paper,
                "experiment": self.experiment,
                "tier": self.tier,
                "synthetic_data": bool(synthetic_data),
                "device": self.device_name(),
                "wall_seconds": self.wall_seconds(),
                "commit": git_commit(),
                "versions": package_versions(),
                "rows": clean,
            },
        )

    def save_figure(self, fig, name: str, title: str, caption: str = "") -> Path:
        import matplotlib.pyplot as plt

        png = self.path("figures", f"{name}.png")
        with atomic.atomic_path(png) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        index_path = self.root / "figures" / "index.json"
        index = json.loads(index_path.read_text()) if index_path.exists() else []
        index = [e for e in index if e["name"] != name] + [
            {"name": name, "file": png.name, "title": title, "caption": caption}
        ]
        atomic.write_json(index_path, index)
        return png

    def device_name(self) -> str:
        import torch

        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return f"cpu ({torch.get_num_threads()} threads)"

    def wall_seconds(self) -> float:
        """Wall time of all stages so far: earlier stages record theirs in stage stamps."""
        total = time.time() - self.started
        for stamp in self.root.glob("stage_*.json"):
            total += json.loads(stamp.read_text()).get("wall_seconds", 0.0)
        return round(total, 3)


def format_setting(setting: dict[str, Any] | str) -> str:
    """A stable 'key=value;key=value' string (keys in the order given)."""
    if isinstance(setting, str):
        return setting
    return ";".join(f"{k}={v}" for k, v in setting.items())
