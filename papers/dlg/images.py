"""Sampling and scoring shared by the image experiments (mnist, cifar10, celebahq).

A point of the NFE axis is {integrator, dlg: on|off, budget} (RK45: {integrator, dlg, tol}), sampled once per
sampling seed. Without DLG every sample has its own seed (repro.sampling). With DLG the samples come from
persistent chains: chain c draws all its noise from its own seed, so its outputs do not depend on the batch it
ran in, but consecutive outputs of one chain are correlated (as upstream: 50k CIFAR-10 samples from 200 chains).
Samples are stored as uint8 PNG-free arrays, never JPEG; each point's NFE accounting is saved beside its samples,
with the settings that made them; a point cut short resumes inside itself (`papers.dlg.store`).
With several sampling seeds a point's numbers are mean +- standard error over seeds, and each budget's two arms
get a seed-paired difference row. `ImageConfig` holds the keys the image experiments share (sigma_min,
sigma_max, n_levels, n_samples, batch_size, points, dlg).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from papers.dlg import store
from papers.dlg.denoise import spec
from papers.dlg.gibbs import ClassifierCalls, DLGChains, DLGSection, vanilla
from repro import checkpoint
from repro.config import ExperimentConfig, read_from
from repro.diffusion.nfe import CountingScore
from repro.diffusion.sde import dlg_level_grid
from repro.metrics.distances import mean_stderr
from repro.metrics.sanity import paired_difference, seed_label
from repro.rng import StackedGenerator
from repro.run import MetricRow, Run
from repro.sampling import sample_seed
from repro.work import Net, Work, batches


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


# DLG chain c of sampling seed s draws from sample_seed(s, CHAIN_INDEX + c): the same base seed as the plain arm's
# samples (so seeds never share streams across arms), at indices no plain sample reaches.
CHAIN_INDEX = 5_000_000


def sample_name(p: Point, seed: int) -> str:
    return f"{p.name}_seed{seed}"


def _plain(
    run: Run,
    counted: CountingScore,
    p: Point,
    seed: int,
    shape: tuple[int, ...],
    n_int: int,
    tol: float | None,
    settings: dict[str, Any],
) -> tuple[np.ndarray, dict[str, float]]:
    """The integrator alone, batch by batch (resumable under `settings`): sample j starts from, and draws its noise
    from, its own seed. Returns (uint8 samples, NFE accounting)."""
    cfg: ImageConfig = run.cfg
    n, batch, dev = cfg.n_samples, cfg.batch_size, run.device
    units = math.ceil(n / batch)
    partial = store.Partial(run, sample_name(p, seed), settings, units, "batches")
    counted.nfe = partial.state.get("nfe", 0)
    for lo in range(partial.done * batch, n, batch):
        gen = StackedGenerator([sample_seed(seed, j) for j in range(lo, min(n, lo + batch))], device=dev)
        x0 = cfg.sigma_max * gen.randn(shape).to(dev)
        x = vanilla(
            counted,
            p.integrator,
            x0,
            sigma_max=cfg.sigma_max,
            n=n_int,
            sigma_min=cfg.sigma_min,
            tweedie_eps=cfg.dlg.tweedie_eps,
            tol=tol,
            noise=gen.randn_like,
        )
        partial.add(x, lambda: {"nfe": counted.nfe})
    info = {"nfe_per_sample": counted.nfe / units, "classifier_calls_per_sample": 0.0}
    return partial.samples(), info | {"burn_in_nfe_per_chain": 0, "burn_in_nfe_amortised": 0}


def _dlg(
    run: Run,
    counted: CountingScore,
    classifier,
    levels: torch.Tensor,
    p: Point,
    seed: int,
    shape: tuple[int, ...],
    n_skip: int,
    n_int: int,
    tol: float | None,
    settings: dict[str, Any],
) -> tuple[np.ndarray, dict[str, float]]:
    """Persistent chains: burn in once, then rounds of n_skip sweeps + integrator (resumable under `settings`: a
    save keeps the chains, their generators and the process's RNG). Returns (uint8 samples, NFE accounting)."""
    cfg: ImageConfig = run.cfg
    dev, chains_n = run.device, cfg.dlg.chains
    rounds = math.ceil(cfg.n_samples / chains_n)
    partial = store.Partial(run, sample_name(p, seed), settings, rounds, "rounds")
    gen = StackedGenerator([sample_seed(seed, CHAIN_INDEX + c) for c in range(chains_n)], device=dev)
    clf = ClassifierCalls(classifier)
    chains = DLGChains(
        counted, clf, levels.to(dev), cfg.dlg.settings(n_skip, cfg.sigma_max, cfg.sigma_min), noise=gen.randn_like
    )
    if partial.done:
        _restore(partial.state, chains, gen, counted, clf, dev)
        burn, burn_calls = partial.state["burn"], partial.state["burn_calls"]
    else:
        chains.initialise(cfg.sigma_max * gen.randn(shape).to(dev))
        burn, burn_calls = counted.nfe, clf.calls  # one-off burn-in: amortised, not in the per-sample NFE

    def state() -> dict[str, Any]:
        return {
            "x": chains.x,
            "sigma": chains.sigma,
            "generators": [g.get_state() for g in gen.generators],
            "rng": checkpoint.rng_state(),
            "nfe": counted.nfe,
            "classifier_calls": clf.calls,
            "burn": burn,
            "burn_calls": burn_calls,
        }

    for _ in range(partial.done, rounds):
        partial.add(chains.round(p.integrator, n_int, tol), state)
    info = {
        "nfe_per_sample": (counted.nfe - burn) / rounds,
        "classifier_calls_per_sample": (clf.calls - burn_calls) / rounds,
        "burn_in_nfe_per_chain": burn,
        "burn_in_nfe_amortised": burn / rounds,
    }
    return partial.samples()[: cfg.n_samples], info


def _restore(
    state: dict[str, Any],
    chains: DLGChains,
    gen: StackedGenerator,
    counted: CountingScore,
    clf: ClassifierCalls,
    dev: torch.device,
) -> None:
    """Chains, generators, RNG and counters as a partial save left them: the rounds go on bit for bit."""
    chains.x, chains.sigma = state["x"].to(dev), state["sigma"].to(dev)
    for g, s in zip(gen.generators, state["generators"], strict=True):
        g.set_state(s)
    checkpoint.set_rng_state(state["rng"])
    counted.nfe, clf.calls = state["nfe"], state["classifier_calls"]


def point_settings(run: Run, p: Point, seed: int) -> dict[str, Any]:
    """What the point's samples depend on: the sample stage's settings less the lists of points and of sampling
    seeds (adding a point or a seed keeps the others) and less what its arm never reads (the integrator alone reads
    no level classifier and, of the DLG section, only the Tweedie step; the chains no `batch_size`), plus the point
    itself and its sampling seed."""
    stage = checkpoint.run_settings(run.cfg, "sample")
    settings = {k: v for k, v in stage.items() if k not in ("points", "seeds")}
    settings |= {"point": p.as_dict(), "sampling_seed": seed}
    if p.dlg:
        return {k: v for k, v in settings.items() if k != "batch_size"}
    plain = {k: v for k, v in settings.items() if k not in ("classifier", "dlg")}
    return plain | {"dlg": {"tweedie_eps": settings["dlg"]["tweedie_eps"]}}


@torch.inference_mode()
def sample_points(
    run: Run, score, classifier, levels: torch.Tensor, shape: tuple[int, ...], seeds: Sequence[int] | None = None
) -> None:
    """Sample every configured point for every sampling seed (default: the run's), skipping those on disk that
    were made under the same settings (refusing those made under others) and resuming a point cut short."""
    cfg: ImageConfig = run.cfg
    for seed in seeds or (run.seed,):
        for p in cfg.points:
            name, settings = sample_name(p, seed), point_settings(run, p, seed)
            if store.finished(run, name, settings):
                store.remove_parts(run, name)  # left by a job killed between saving the point and this
                continue
            n_skip, n_int, tol = cfg.dlg.split(p.integrator, p.dlg, budget=p.budget, tol=p.tol)
            counted = CountingScore(score)
            if p.dlg:
                x, info = _dlg(run, counted, classifier, levels, p, seed, shape, n_skip, n_int, tol, settings)
            else:
                x, info = _plain(run, counted, p, seed, shape, n_int, tol, settings)
            record = {"point": p.as_dict(), "seed": seed, "n_skip": n_skip, "N": n_int, **info, "n": len(x)}
            store.save(run, name, x, record, settings)
            store.remove_parts(run, name)
            run.log(
                f"{name}: {len(x)} samples, NFE per sample {info['nfe_per_sample']:.1f} (n_skip {n_skip}, N {n_int})"
            )


def load_point(run: Run, p: Point, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    return store.load(run, sample_name(p, seed), point_settings(run, p, seed))


def _measure(run: Run, p: Point, seed: int, fid_fn, metric: str, unit: str) -> tuple[int, dict[str, Any], list]:
    """One point at one seed: (n, info, [(metric name, value, unit)])."""
    x, info = load_point(run, p, seed)
    value = fid_fn(x)
    run.log(f"{sample_name(p, seed)}: {metric} {value:.4g} on {len(x)} samples")  # a paper-tier point takes minutes
    measured = [(metric, value, unit), ("nfe", info["nfe_per_sample"], "score evals")]
    if p.dlg:
        measured += [
            ("classifier_calls", info["classifier_calls_per_sample"], "calls"),
            ("burn_in_nfe_amortised", info["burn_in_nfe_amortised"], "score evals per sample"),
        ]
    return int(x.shape[0]), info, measured


def metric_rows(
    run: Run,
    dataset: str,
    fid_fn,
    metric: str = "fid",
    unit: str = "FID",
    seeds: Sequence[int] | None = None,
    protocol: dict[str, Any] | None = None,
) -> list[MetricRow]:
    """Per point: the FID-like `fid_fn(uint8 samples [N, H, W, C])`, measured NFE, classifier calls.

    Each number is the mean over `seeds` (default: the run's seed) with its standard error. Where a budget point
    has both arms, a `<metric>_diff_dlg_minus_plain` row gives the seed-paired difference (< 0: DLG better).
    `protocol` (the FID protocol's keys: fid_protocol, jpeg, reference) ends every row's setting, so rows of
    two protocols never share a setting and a point's NFE row keeps the setting of its FID row.
    """
    protocol = protocol or {}
    seeds = list(seeds or (run.seed,))
    label = seed_label(seeds) if len(seeds) > 1 else seeds[0]
    rows, arms = [], {}
    for p in run.cfg.points:
        per_seed = [_measure(run, p, s, fid_fn, metric, unit) for s in seeds]
        n, info, _ = per_seed[0]
        arms.setdefault((p.integrator, p.budget), {})[p.dlg] = [m[0][1] for _, _, m in per_seed]
        setting = {**p.setting, "n_skip": info["n_skip"], "N": info["N"], **protocol}
        for k, (name, _, unit_of) in enumerate(per_seed[0][2]):
            value, stderr = mean_stderr([m[k][1] for _, _, m in per_seed])
            rows.append(_row(dataset, setting, name, value, stderr, unit_of, n, label))
    for (integ, budget), by_arm in arms.items():
        if budget is not None and len(by_arm) == 2:  # RK45 picks its own NFE: its arms are not at a matched budget
            value, stderr = paired_difference(by_arm[True], by_arm[False])
            setting = {"integrator": integ, "budget": budget, **protocol}
            rows.append(_row(dataset, setting, f"{metric}_diff_dlg_minus_plain", value, stderr, unit, n, label))
    return rows


def _row(dataset: str, setting, metric: str, value: float, stderr, unit: str, n: int, seed) -> MetricRow:
    return MetricRow(
        dataset=dataset,
        setting=setting,
        metric=metric,
        value=float(value),
        stderr=stderr,
        unit=unit,
        n_samples=n,
        seed=seed,
    )


def plot_fid_vs_nfe(run: Run, rows: list[MetricRow], metric: str, name: str, title: str, caption: str) -> None:
    """One panel per integrator that was run (the paper's Fig. 3 order), both arms, error bars over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repro.run import format_setting

    nfe = {format_setting(r.setting): r.value for r in rows if r.metric == "nfe"}
    run_integrators = {r.setting.get("integrator") for r in rows if r.metric == metric}
    order = [i for i in ("kar1", "pfode", "rk45", "kar2", "rd", "em") if i in run_integrators]
    cols = min(3, len(order))
    n_rows = math.ceil(len(order) / cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(4 * cols, 3.5 * n_rows), squeeze=False)
    for ax, integ in zip(axes.ravel()[: len(order)], order, strict=True):
        _panel(ax, rows, nfe, metric, integ)
    for ax in axes.ravel()[len(order) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{metric} (lower is better)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    run.save_figure(fig, name, title, caption)


def _panel(ax, rows: list[MetricRow], nfe: dict[str, float], metric: str, integ: str) -> None:
    from repro.run import format_setting

    for arm in ("off", "on"):
        pts = sorted(
            (nfe[format_setting(r.setting)], r.value, r.stderr or 0.0)
            for r in rows
            if r.metric == metric and r.setting.get("integrator") == integ and r.setting.get("dlg") == arm
        )
        if pts:
            ax.errorbar(
                *zip(*pts, strict=True),
                marker="o" if arm == "off" else "x",
                capsize=3,
                label="without DLG" if arm == "off" else "with DLG",
            )
    for r in rows:
        if r.metric == metric and r.setting.get("sanity") == "real":
            ax.axhline(r.value, color="grey", linestyle=":", label="held-out real data")
    ax.set_xscale("log")
    ax.set_title(integ)
    ax.set_xlabel("NFE per sample")


# Declared GPU work (`repro.work`) of `sample_points`.

RK45_TOL = 1e-5  # the tolerance of the paper's RK45 points, at which `rk45_nfe`'s figure readings are taken


def rk45_nfe(figure: Mapping[bool, int], p: Point, n_skip: int) -> int:
    """An estimate of one RK45 solve's NFE, for pricing only (RK45 picks its own; the stage counts it): the paper's
    per-sample NFE of the arm at tol 1e-5 (`figure[p.dlg]`) less the Tweedie step and the `n_skip` sweeps, scaled
    by (tol / 1e-5)^(-1/5) at other tolerances (Dormand-Prince's local error is O(h^5), so steps ~ tol^(-1/5))."""
    return max(1, math.ceil((figure[p.dlg] - 1 - n_skip) * (p.tol / RK45_TOL) ** -0.2))


def sample_work(cfg: ImageConfig, score: Net, classifier: Net, rk45: Mapping[bool, int]) -> list[Work]:
    """`sample_points` on a first run at the run's one seed. Without DLG: per point, batches of `batch_size`, each
    the integrator's NFE + 1 (Tweedie). With DLG: per point, at batch `chains`, the KAR2 initialisation
    (`init_levels`), one classifier call and the burn-in sweeps once, then ceil(n_samples / chains) rounds of
    n_skip sweeps (a score and a classifier call each), the integrator and Tweedie. RK45 points are separate
    items: their NFE is `rk45_nfe`'s estimate from the paper's figure (`rk45`), not a number of the config."""
    d = cfg.dlg
    plain_batches, rounds = batches(cfg.n_samples, cfg.batch_size), batches(cfg.n_samples, d.chains)
    burn = sum(sweeps for sweeps, _ in d.burn_in)
    setup = spec("kar2").nfe(d.init_levels) + burn  # score calls once per DLG point
    calls: Counter[tuple[bool, bool]] = Counter()  # (dlg, rk45) -> score calls
    points: Counter[tuple[bool, bool]] = Counter()
    classifier_calls = 0
    for p in cfg.points:
        n_skip, n, _ = d.split(p.integrator, p.dlg, budget=p.budget, tol=p.tol)
        s = spec(p.integrator)
        per = n_skip + (rk45_nfe(rk45, p, n_skip) if s.adaptive else s.nfe(n)) + 1
        calls[p.dlg, s.adaptive] += setup + rounds * per if p.dlg else plain_batches * per
        points[p.dlg, s.adaptive] += 1
        classifier_calls += (1 + burn + rounds * n_skip) if p.dlg else 0
    out = []
    for (dlg, adaptive), count in sorted(calls.items()):
        integ = "RK45 (NFE estimated from the paper's figure)" if adaptive else "fixed-step integrators"
        if dlg:
            what = (
                f"DLG {integ}: {points[dlg, adaptive]} points x (KAR2 init {d.init_levels} levels + {burn} burn-in "
                f"sweeps, then {rounds} rounds of n_skip sweeps + integrator + Tweedie), {d.chains} chains"
            )
        else:
            n = points[dlg, adaptive]
            what = f"{integ} + Tweedie: {n} points x {plain_batches} batches ({cfg.n_samples} samples)"
        out.append(Work("sample", what, "forward", count, d.chains if dlg else cfg.batch_size, score))
    if classifier_calls:
        n = points[True, False] + points[True, True]
        what = f"DLG level classifier: {n} points x (1 + {burn} burn-in + n_skip per round x {rounds} rounds)"
        out.append(Work("sample", what, "forward", classifier_calls, d.chains, classifier))
    return out
