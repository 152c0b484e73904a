"""dlg/gmm: the paper's Fig. 3 protocol on Gaussian mixtures with exact VE-perturbed scores (a CPU analogue).

Stages: `train` fits the MLP noise-level classifier per mixture (cross-entropy on k ~ Uniform, as DMCMC; config
`classifier`: n_data, hidden, depth and its `training:` section);
`evaluate` runs each of the six integrators alone and after DLG (oracle and learned classifiers) at matched
per-sample NFE budgets, and scores samples against exact mixture samples (sliced W2, mode-weight error).
Exact scores remove score-approximation error: only discretisation and mixing effects are measured.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from papers.dlg import denoise
from papers.dlg.classifier import MLPClassifier, OracleLevelPosterior, level_loss
from papers.dlg.gibbs import ClassifierCalls, DLGChains, DLGSection, vanilla
from repro.config import ExperimentConfig, read_from
from repro.data.batches import TensorBatches
from repro.diffusion.nfe import CountingScore
from repro.diffusion.sde import dlg_level_grid
from repro.diffusion.toy.gmm import GaussianMixture
from repro.metrics.distances import frechet_distance, mean_stderr, mode_weight_error, sliced_wasserstein2
from repro.run import MetricRow, Run

if TYPE_CHECKING:
    from repro.train import TrainConfig


@dataclass(frozen=True, kw_only=True)
class Mixture:
    """A dataset: components of `weights`, std `std`, means at distance `radius` (see `build_mixture`)."""

    name: str
    dim: int
    weights: tuple[float, ...]
    radius: float
    std: float
    layout_seed: int


@dataclass(frozen=True, kw_only=True)
class MLPSection:
    """The learned level classifier: trained on `n_data` exact samples, `hidden` wide, `depth` hidden layers."""

    n_data: int
    hidden: int
    depth: int
    training: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Per mixture of `datasets`: every integrator at every budget (RK45: every tolerance of `rk45_tols`), alone
    and with DLG under each of `classifiers` (oracle, mlp), `n_samples` samples, over `seeds` seeds."""

    datasets: tuple[Mixture, ...]
    n_levels: int
    integrators: tuple[str, ...] = read_from("evaluate")
    budgets: tuple[int, ...] = read_from("evaluate")
    rk45_tols: tuple[float, ...] = read_from("evaluate")
    classifiers: tuple[str, ...] = read_from("evaluate")
    n_samples: int = read_from("evaluate")
    n_projections: int = read_from("evaluate")
    seeds: int = read_from("evaluate")
    dlg: DLGSection = read_from("evaluate")
    classifier: MLPSection


def build_mixture(spec: Mixture) -> tuple[GaussianMixture, float, float]:
    """The mixture of a dataset spec and its (sigma_max, sigma_min).

    Means: on a circle of radius `radius` in 2-D, else `radius` times random unit vectors (seeded by
    `layout_seed`). sigma_max = the largest pairwise distance among 2000 exact samples (score_sde's guideline);
    sigma_min = 0.01 x the component std.
    """
    m, d = len(spec.weights), spec.dim
    if d == 2:
        ang = 2 * math.pi * torch.arange(m, dtype=torch.float64) / m
        means = spec.radius * torch.stack([ang.cos(), ang.sin()], -1)
    else:
        g = torch.Generator().manual_seed(spec.layout_seed)
        dirs = torch.randn(m, d, generator=g, dtype=torch.float64)
        means = spec.radius * dirs / dirs.norm(dim=-1, keepdim=True)
    mix = GaussianMixture(spec.weights, means, stds=spec.std)
    pts = mix.sample(2000, torch.Generator().manual_seed(spec.layout_seed))
    sigma_max = float(torch.cdist(pts, pts).max())
    return mix, sigma_max, 0.01 * spec.std


def _levels(cfg: Config, spec: Mixture) -> tuple[GaussianMixture, torch.Tensor, float, float]:
    mix, smax, smin = build_mixture(spec)
    return mix, dlg_level_grid(smin, smax, cfg.n_levels), smax, smin


def train_config(cfg: Config, name: str) -> TrainConfig:
    """One checkpoint, at the end, unless the section says otherwise."""
    from repro.train import TrainConfig

    t = cfg.classifier.training
    return TrainConfig.from_config(t, f"classifier_{name}", ckpt_every=t["steps"])


def _mlp(cfg: Config, spec: Mixture) -> MLPClassifier:
    return MLPClassifier(spec.dim, cfg.n_levels, hidden=cfg.classifier.hidden, depth=cfg.classifier.depth)


def train(run: Run) -> None:
    """Fit the MLP level classifier of each mixture on exact samples (float32)."""
    from repro.train import train as fit

    cfg: Config = run.cfg
    for spec in cfg.datasets:
        mix, levels, _, _ = _levels(cfg, spec)
        t = train_config(cfg, spec.name)
        data = mix.sample(cfg.classifier.n_data, torch.Generator().manual_seed(run.seed)).float()
        fit(run, _mlp(cfg, spec), level_loss(levels.float()), TensorBatches(data, t.batch_size, seed=run.seed), t)
        run.log(f"trained the level classifier of {spec.name}")


def _oracle(run: Run, spec: Mixture, mix: GaussianMixture, levels: torch.Tensor) -> Callable:
    return OracleLevelPosterior(mix, levels, dtype=torch.float32)


def _learned(run: Run, spec: Mixture, mix: GaussianMixture, levels: torch.Tensor) -> Callable:
    from repro.train import load_trained

    net = load_trained(run, _mlp(run.cfg, spec), f"classifier_{spec.name}").cpu()
    return lambda x: net(x.float())


CLASSIFIERS = {"oracle": _oracle, "mlp": _learned}  # config name -> (run, spec, mixture, levels) -> q(k | x)


def _classifiers(run: Run, spec: Mixture, mix: GaussianMixture, levels: torch.Tensor) -> dict[str, Callable]:
    return {name: CLASSIFIERS[name](run, spec, mix, levels) for name in run.cfg.classifiers}


def _arms(cfg: Config) -> Iterator[tuple[str, str, float]]:
    """(integrator, budget-or-tol key, value) for every point on the NFE axis."""
    for name in cfg.integrators:
        if denoise.spec(name).adaptive:
            for tol in cfg.rk45_tols:
                yield name, "tol", tol
        else:
            for b in cfg.budgets:
                yield name, "budget", b


@torch.inference_mode()
def _one_seed(run: Run, spec: Mixture, seed: int) -> list[dict[str, Any]]:
    """Every (integrator, arm, budget) for one mixture and one seed: per-seed measurements."""
    cfg: Config = run.cfg
    d = cfg.dlg
    mix, levels, smax, smin = _levels(cfg, spec)
    gen = torch.Generator().manual_seed(seed)

    def noise(t):
        return torch.randn(t.shape, generator=gen, dtype=t.dtype)

    n = cfg.n_samples
    ref = mix.sample(n, torch.Generator().manual_seed(10_000 + seed))

    def score_of(x):
        return {
            "sw2": sliced_wasserstein2(x, ref, cfg.n_projections, seed=20_000 + seed),
            "frechet_raw": frechet_distance(x, ref),
            "mode_weight_error": mode_weight_error(x, mix.means, mix.weights),
        }

    rows = [
        {
            "integrator": "exact",
            "dlg": "off",
            "key": "budget",
            "value": 0,
            "nfe": 0.0,
            **score_of(mix.sample(n, torch.Generator().manual_seed(30_000 + seed))),
        }
    ]
    for name, key, val in _arms(cfg):
        counted = CountingScore(mix.score)
        x0 = smax * torch.randn(n, mix.dim, generator=gen, dtype=torch.float64)
        _, n_int, tol = d.split(name, False, **{key: val})
        out = vanilla(
            counted, name, x0, sigma_max=smax, n=n_int, sigma_min=smin, tweedie_eps=d.tweedie_eps, tol=tol, noise=noise
        )
        rows.append(
            {
                "integrator": name,
                "dlg": "off",
                "key": key,
                "value": val,
                "n_skip": 0,
                "N": n_int,
                "nfe": float(counted.nfe),
                **score_of(out),
            }
        )

    n_rounds = math.ceil(n / d.chains)
    for cname, clf in _classifiers(run, spec, mix, levels).items():
        init = DLGChains(CountingScore(mix.score), ClassifierCalls(clf), levels, d.settings(0, smax, smin), noise=noise)
        init.initialise(smax * torch.randn(d.chains, mix.dim, generator=gen, dtype=torch.float64))
        burn_nfe = init.score.nfe
        for name, key, val in _arms(cfg):
            n_skip, n_int, tol = d.split(name, True, **{key: val})
            chains = copy.copy(init)
            chains.score, chains.classifier = CountingScore(mix.score), ClassifierCalls(clf)
            chains.cfg = d.settings(n_skip, smax, smin)
            out = torch.cat([chains.round(name, n_int, tol) for _ in range(n_rounds)])[:n]
            rows.append(
                {
                    "integrator": name,
                    "dlg": cname,
                    "key": key,
                    "value": val,
                    "n_skip": n_skip,
                    "N": n_int,
                    "nfe": chains.score.nfe / n_rounds,
                    "classifier_calls": chains.classifier.calls / n_rounds,
                    "burn_in_nfe": burn_nfe,
                    **score_of(out),
                }
            )
    return rows


METRICS = (
    ("sw2", "distance"),
    ("frechet_raw", "squared distance"),
    ("mode_weight_error", "fraction"),
    ("nfe", "score evals"),
    ("classifier_calls", "calls"),
    ("burn_in_nfe", "score evals"),
)  # (per-seed measurement, unit), summarised over seeds


def evaluate(run: Run) -> None:
    cfg: Config = run.cfg
    seeds = list(range(run.seed, run.seed + cfg.seeds))
    seed_range = f"{seeds[0]}-{seeds[-1]}"
    rows: list[MetricRow] = []
    table: list[dict[str, Any]] = []
    for spec in cfg.datasets:
        per_seed = {s: _one_seed(run, spec, s) for s in seeds}
        run.log(f"{spec.name}: {len(per_seed[seeds[0]])} settings x {len(seeds)} seeds done")
        for i, first in enumerate(per_seed[seeds[0]]):
            points = [per_seed[s][i] for s in seeds]
            setting = {"integrator": first["integrator"], "dlg": first["dlg"], first["key"]: first["value"]}
            if "N" in first:
                setting.update(n_skip=first["n_skip"], N=first["N"])
            summary = {"dataset": spec.name, **setting}
            for metric, unit in METRICS:
                if metric not in first:
                    continue
                mean, se = mean_stderr([p[metric] for p in points])
                summary[metric], summary[metric + "_se"] = mean, se
                rows.append(
                    MetricRow(
                        dataset=spec.name,
                        setting=setting,
                        metric=metric,
                        value=mean,
                        stderr=se,
                        unit=unit,
                        n_samples=cfg.n_samples,
                        seed=seed_range,
                    )
                )
            table.append(summary)
        rows += _ratios(spec.name, per_seed, seeds, cfg.n_samples)
    run.save_json("summary.json", table)
    run.save_metrics(rows)
    _figures(run, table)


def _ratios(dataset: str, per_seed, seeds, n_samples) -> list[MetricRow]:
    """sw2(DLG) / sw2(integrator alone) at the same budget, per seed, then mean +- s.e. (< 1: DLG better)."""
    rows = []
    first = per_seed[seeds[0]]
    base = {(r["integrator"], r["value"]): i for i, r in enumerate(first) if r["dlg"] == "off" and r["key"] == "budget"}
    for i, r in enumerate(first):
        if r["dlg"] == "off" or r["key"] != "budget":
            continue
        j = base[(r["integrator"], r["value"])]
        mean, se = mean_stderr([per_seed[s][i]["sw2"] / per_seed[s][j]["sw2"] for s in seeds])
        rows.append(
            MetricRow(
                dataset=dataset,
                setting={"integrator": r["integrator"], "dlg": r["dlg"], "budget": r["value"]},
                metric="sw2_ratio",
                value=mean,
                stderr=se,
                unit="ratio",
                n_samples=n_samples,
                seed=f"{seeds[0]}-{seeds[-1]}",
            )
        )
    return rows


def _figures(run: Run, table: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {
        "kar1": "KAR1 (Heun)",
        "pfode": "probability flow",
        "rk45": "RK45",
        "kar2": "KAR2 (churn)",
        "rd": "reverse diffusion",
        "em": "Euler-Maruyama",
    }
    order = ["kar1", "pfode", "rk45", "kar2", "rd", "em"]
    for dataset in dict.fromkeys(r["dataset"] for r in table):
        rows = [r for r in table if r["dataset"] == dataset]
        floor = next(r["sw2"] for r in rows if r["integrator"] == "exact")
        fig, axes = plt.subplots(2, 3, figsize=(12, 7), sharey=True)
        for ax, name in zip(axes.flat, order, strict=True):
            for arm in dict.fromkeys(r["dlg"] for r in rows if r["integrator"] == name):
                pts = sorted(
                    (r["nfe"], r["sw2"], r["sw2_se"] or 0.0)
                    for r in rows
                    if r["integrator"] == name and r["dlg"] == arm
                )
                if pts:
                    x, y, e = zip(*pts, strict=True)
                    ax.errorbar(
                        x,
                        y,
                        yerr=e,
                        marker="o" if arm == "off" else "x",
                        capsize=2,
                        label="without DLG" if arm == "off" else f"with DLG ({arm})",
                    )
            ax.axhline(floor, color="grey", ls=":", lw=1, label="exact vs exact")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(titles[name])
            ax.set_xlabel("NFE per sample")
        axes[0, 0].set_ylabel("sliced W2 (lower is better)")
        axes[1, 0].set_ylabel("sliced W2 (lower is better)")
        axes[0, 0].legend(fontsize=8)
        fig.tight_layout()
        run.save_figure(
            fig,
            f"sw2_vs_nfe_{dataset}",
            f"DLG analogue on {dataset}: sliced W2 vs NFE",
            "Exact VE-perturbed mixture scores; per integrator, without DLG and with DLG (oracle and "
            "learned classifiers); mean +- s.e. over seeds; dotted: two exact sample sets (noise floor).",
        )
