"""Sampling and scoring shared by the image experiments (mnist, cifar10, celebahq).

A point of the NFE axis is {integrator, dlg: on|off, budget} (RK45: {integrator, dlg, tol}). Without DLG every
sample has its own seed (repro.sampling). With DLG the samples come from persistent chains: chain c draws all its
noise from its own seed, so its outputs do not depend on the batch it ran in, but consecutive outputs of one
chain are correlated (as upstream: 50k CIFAR-10 samples from 200 chains). Samples are stored as uint8 PNG-free
arrays, never JPEG; each point's NFE accounting is saved beside its samples. `ImageConfig` holds the keys the
image experiments share (sigma_min, sigma_max, n_levels, n_samples, batch_size, points, dlg).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from papers.dlg.denoise import spec
from papers.dlg.gibbs import ClassifierCalls, DLGChains, DLGSection, vanilla
from repro.atomic import atomic_path
from repro.config import ExperimentConfig, read_from
from repro.diffusion.nfe import CountingScore
from repro.diffusion.sde import dlg_level_grid
from repro.rng import StackedGenerator
from repro.run import MetricRow, Run
from repro.sampling import sample_seed, to_uint8


@dataclass(frozen=True, kw_only=True)
class Point:
    """A point of the NFE axis: `integrator` with or without `dlg`, at a per-sample NFE `budget` (RK45: `tol`)."""

    integrator: str
    dlg: bool
    budget: int | None = None
    tol: float | None = None

    @property
    def name(self) -> str:
        axis = f"tol{self.tol:g}" if spec(self.integrator).adaptive else f"nfe{self.budget}"
        return f"{self.integrator}_{'dlg' if self.dlg else 'plain'}_{axis}"

    @property
    def setting(self) -> dict[str, Any]:
        s: dict[str, Any] = {"integrator": self.integrator, "dlg": "on" if self.dlg else "off"}
        if spec(self.integrator).adaptive:
            s["tol"] = self.tol
        else:
            s["budget"] = self.budget
        return s

    def as_dict(self) -> dict[str, Any]:
        """The point as its config wrote it (recorded beside its samples)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class ImageConfig(ExperimentConfig):
    """What every image experiment configures: the VE range, the classifier's `n_levels`, the NFE axis, DLG."""

    sigma_min: float
    sigma_max: float
    n_levels: int
    n_samples: int = read_from("sample")
    batch_size: int = read_from("sample")  # the sampling batch (each training's is in its `training:` section)
    points: tuple[Point, ...] = read_from("sample")
    dlg: DLGSection = read_from("sample")

    def levels(self) -> torch.Tensor:
        """The level classifier's classes (float32; class 0 = sigma_max)."""
        return dlg_level_grid(self.sigma_min, self.sigma_max, self.n_levels).float()


def _save(run: Run, name: str, x: torch.Tensor, info: dict[str, Any]) -> None:
    path = run.path("samples", f"{name}.npz")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, samples=to_uint8(x.clamp(0, 1)).numpy())
    run.save_json(f"samples/{name}.json", info)


@torch.no_grad()
def sample_points(run: Run, score, classifier, levels: torch.Tensor, shape: tuple[int, ...]) -> None:
    """Sample every configured point (skipping points already on disk) and record their NFE."""
    cfg: ImageConfig = run.cfg
    n, batch = cfg.n_samples, cfg.batch_size
    dev = run.device
    for p in cfg.points:
        if (run.root / "samples" / f"{p.name}.json").exists():
            continue
        n_skip, n_int, tol = cfg.dlg.split(p.integrator, p.dlg, budget=p.budget, tol=p.tol)
        counted = CountingScore(score)
        if not p.dlg:
            parts = []
            for lo in range(0, n, batch):
                gen = StackedGenerator([sample_seed(run.seed, j) for j in range(lo, min(n, lo + batch))], device=dev)
                x0 = cfg.sigma_max * gen.randn(shape).to(dev)
                parts.append(
                    vanilla(
                        counted,
                        p.integrator,
                        x0,
                        sigma_max=cfg.sigma_max,
                        n=n_int,
                        sigma_min=cfg.sigma_min,
                        tweedie_eps=cfg.dlg.tweedie_eps,
                        tol=tol,
                        noise=gen.randn_like,
                    ).cpu()
                )
            x, nfe, calls, burn, rounds = torch.cat(parts), counted.nfe / math.ceil(n / batch), 0.0, 0, 1
        else:
            chains_n = cfg.dlg.chains
            gen = StackedGenerator([sample_seed(run.seed + 1, c) for c in range(chains_n)], device=dev)
            clf = ClassifierCalls(classifier)
            settings = cfg.dlg.settings(n_skip, cfg.sigma_max, cfg.sigma_min)
            chains = DLGChains(counted, clf, levels.to(dev), settings, noise=gen.randn_like)
            chains.initialise(cfg.sigma_max * gen.randn(shape).to(dev))
            burn, burn_calls = counted.nfe, clf.calls  # one-off burn-in: amortised, not in the per-sample NFE
            rounds = math.ceil(n / chains_n)
            x = torch.cat([chains.round(p.integrator, n_int, tol).cpu() for _ in range(rounds)])[:n]
            nfe, calls = (counted.nfe - burn) / rounds, (clf.calls - burn_calls) / rounds
        _save(
            run,
            p.name,
            x,
            {
                "point": p.as_dict(),
                "n_skip": n_skip,
                "N": n_int,
                "nfe_per_sample": nfe,
                "classifier_calls_per_sample": calls,
                "burn_in_nfe_per_chain": burn,
                "burn_in_nfe_amortised": burn / rounds,
                "n": int(x.shape[0]),
            },
        )
        run.log(f"{p.name}: {x.shape[0]} samples, NFE per sample {nfe:.1f} (n_skip {n_skip}, N {n_int})")


def load_point(run: Run, p: Point) -> tuple[np.ndarray, dict[str, Any]]:
    path = run.root / "samples" / f"{p.name}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the sample stage of {run.paper}/{run.experiment} first")
    return np.load(path)["samples"], run.load_json(f"samples/{p.name}.json")


def metric_rows(run: Run, dataset: str, fid_fn, metric: str = "fid", unit: str = "FID") -> list[MetricRow]:
    """Per point: the FID-like number from `fid_fn(uint8 samples [N, H, W, C])`, measured NFE, classifier calls."""
    rows = []
    for p in run.cfg.points:
        x, info = load_point(run, p)
        measured = [(metric, fid_fn(x), unit), ("nfe", info["nfe_per_sample"], "score evals")]
        if p.dlg:
            measured += [
                ("classifier_calls", info["classifier_calls_per_sample"], "calls"),
                ("burn_in_nfe_amortised", info["burn_in_nfe_amortised"], "score evals per sample"),
            ]
        setting = {**p.setting, "n_skip": info["n_skip"], "N": info["N"]}
        rows += [
            MetricRow(
                dataset=dataset,
                setting=setting,
                metric=name,
                value=float(value),
                unit=unit_of,
                n_samples=int(x.shape[0]),
                seed=run.seed,
            )
            for name, value, unit_of in measured
        ]
    return rows


def plot_fid_vs_nfe(run: Run, rows: list[MetricRow], metric: str, name: str, title: str, caption: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repro.run import format_setting

    nfe = {format_setting(r.setting): r.value for r in rows if r.metric == "nfe"}
    order = ["kar1", "pfode", "rk45", "kar2", "rd", "em"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 7))
    for ax, integ in zip(axes.flat, order, strict=True):
        for arm in ("off", "on"):
            pts = sorted(
                (nfe[format_setting(r.setting)], r.value)
                for r in rows
                if r.metric == metric and r.setting["integrator"] == integ and r.setting["dlg"] == arm
            )
            if pts:
                ax.plot(
                    *zip(*pts, strict=True),
                    marker="o" if arm == "off" else "x",
                    label="without DLG" if arm == "off" else "with DLG",
                )
        ax.set_xscale("log")
        ax.set_title(integ)
        ax.set_xlabel("NFE per sample")
    axes[0, 0].set_ylabel(f"{metric} (lower is better)")
    axes[1, 0].set_ylabel(f"{metric} (lower is better)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    run.save_figure(fig, name, title, caption)
