"""ncsn/gmm: Fig. 3, plain vs annealed Langevin dynamics with the exact scores of a 2-D mixture.

p_data = 0.2 N((-5,-5), I) + 0.8 N((5,5), I); particles start from U[-8, 8]^2. Plain Langevin uses the data
score (eps = 0.1, T = 1000); annealed Langevin uses sigma geometric 20 -> 1 (L = 10, T = 100, alpha_i =
eps sigma_i^2 / sigma_L^2) with the toy update x += alpha/2 s + sqrt(alpha) z ("paper" convention).

Perturbed scores follow the official toy code (`models/gmm.py`, `GMMDistAnneal`): each component's variance is
*replaced* by sigma^2 (not 1 + sigma^2), so the last level sigma = 1 is exactly the data distribution. That is
`GaussianMixture(..., stds=0).score(x, sigma)`; plain Langevin uses the same mixture at sigma = 1.
The measured number is the weight of the (-5,-5) mode: the fraction of particles nearer to (-5,-5) than to
(5,5), per seed; rows give the mean and standard error over seeds. An extra row runs annealed Langevin in the
"code" convention (twice the step) as a step-convention ablation.
Config: `n_seeds` seeds of `n_particles` particles from U[-box, box]^2; `langevin:` (n_steps, eps) and
`annealed:` (sigma_begin, sigma_end, n_levels, n_steps_each, eps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from repro.config import ExperimentConfig
from repro.diffusion.sde import geometric_sigmas
from repro.run import MetricRow, Run

WEIGHTS = (0.2, 0.8)
MEANS = ((-5.0, -5.0), (5.0, 5.0))
DATASET = "gmm2d"


@dataclass(frozen=True, kw_only=True)
class Langevin:
    n_steps: int
    eps: float


@dataclass(frozen=True, kw_only=True)
class Annealed:
    sigma_begin: float
    sigma_end: float
    n_levels: int
    n_steps_each: int
    eps: float


@dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    n_seeds: int
    n_particles: int
    box: float
    langevin: Langevin
    annealed: Annealed


def _mixtures():
    from repro.diffusion.toy.gmm import GaussianMixture

    toy = GaussianMixture(WEIGHTS, MEANS, stds=0.0)  # score(x, sigma): component variance sigma^2 (official toy)
    data = GaussianMixture(WEIGHTS, MEANS, stds=1.0)  # the data distribution itself (exact samples)
    return toy, data


def samplers(cfg: Config) -> dict[str, dict[str, Any]]:
    """The sampler variants of this experiment and their settings (recorded in every metric row)."""
    a, p = cfg.annealed, cfg.langevin
    annealed = {
        "sigma_begin": a.sigma_begin,
        "sigma_end": a.sigma_end,
        "L": a.n_levels,
        "T": a.n_steps_each,
        "eps": a.eps,
    }
    return {
        "langevin": {"sampler": "langevin", "convention": "paper", "sigma": 1.0, "T": p.n_steps, "eps": p.eps},
        "annealed": {"sampler": "annealed", "convention": "paper", **annealed},
        "annealed_code": {"sampler": "annealed_code", "convention": "code", **annealed},
    }


def _plain(score, x0: torch.Tensor, setting: dict[str, Any], noise: Callable) -> torch.Tensor:
    from repro.diffusion.samplers.langevin import langevin

    return langevin(
        score,
        x0,
        setting["sigma"],
        n_steps=setting["T"],
        eps=setting["eps"],
        convention=setting["convention"],
        noise=noise,
    )


def _annealed(score, x0: torch.Tensor, setting: dict[str, Any], noise: Callable) -> torch.Tensor:
    from repro.diffusion.samplers.langevin import annealed_langevin

    sigmas = geometric_sigmas(setting["L"], setting["sigma_begin"], setting["sigma_end"]).tolist()
    return annealed_langevin(
        score, x0, sigmas, n_steps=setting["T"], eps=setting["eps"], convention=setting["convention"], noise=noise
    )


# Sampler variant -> its update loop, given (score, x0, setting, noise).
RUNNERS: dict[str, Callable] = {"langevin": _plain, "annealed": _annealed, "annealed_code": _annealed}


def run_sampler(name: str, setting: dict[str, Any], x0: torch.Tensor, gen: torch.Generator):
    """(final particles, NFE) of variant `name` from `x0`, its noise drawn from `gen`."""
    from repro.diffusion.nfe import CountingScore

    toy, _ = _mixtures()
    score = CountingScore(toy.score)

    def noise(x):
        return torch.randn(x.shape, generator=gen, dtype=x.dtype)

    return RUNNERS[name](score, x0, setting, noise), score.nfe


def sample(run: Run) -> None:
    """Per seed: one U[-8,8]^2 start shared by every sampler, each sampler with its own noise stream."""
    cfg = run.cfg
    n, box = cfg.n_particles, cfg.box
    _, data = _mixtures()
    out: dict[str, np.ndarray] = {}
    nfe: dict[str, int] = {}
    variants = samplers(cfg)
    for r in run.progress(range(cfg.n_seeds), total=cfg.n_seeds, desc="seeds"):
        seed = run.seed * 1000 + r
        x0 = torch.rand(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 * box - box
        out.setdefault("exact", []).append(data.sample(n, torch.Generator().manual_seed(seed + 1)).numpy())
        for k, (name, setting) in enumerate(variants.items()):
            gen = torch.Generator().manual_seed(seed * 10 + 2 + k)
            x, nfe[name] = run_sampler(name, setting, x0, gen)
            out.setdefault(name, []).append(x.numpy())
    with open(run.path("samples.npz"), "wb") as fh:
        np.savez(fh, **{k: np.stack(v) for k, v in out.items()})
    run.save_json("nfe.json", nfe)
    run.log(f"sampled {cfg.n_seeds} seeds x {n} particles; NFE {nfe}")


def mode_a_weights(x: np.ndarray) -> np.ndarray:
    """Per seed, the fraction of particles nearer to (-5,-5) than to (5,5): x [seeds, n, 2] -> [seeds]."""
    from repro.metrics.distances import nearest_mode_weights

    return np.array([nearest_mode_weights(xs, np.asarray(MEANS))[0] for xs in x])


def evaluate(run: Run) -> None:
    from repro.metrics.distances import mean_stderr

    cfg = run.cfg
    samples = dict(np.load(run.root / "samples.npz"))
    nfe = run.load_json("nfe.json")
    settings = {"exact": {"sampler": "exact"}, **samplers(cfg)}
    seeds = f"{run.seed * 1000}-{run.seed * 1000 + cfg.n_seeds - 1}"
    rows = []
    for name, setting in settings.items():
        w = mode_a_weights(samples[name])
        mean, se = mean_stderr(w)
        base = {"dataset": DATASET, "setting": setting, "n_samples": int(samples[name].shape[1]), "seed": seeds}
        rows.append(MetricRow(**base, metric="weight_mode_a", value=mean, stderr=se, unit="fraction"))
        if name in nfe:
            rows.append(MetricRow(**base, metric="nfe", value=float(nfe[name]), unit="evaluations"))
        run.log(f"{name}: weight of (-5,-5) = {mean:.4f} +- {se if se is None else round(se, 4)}")
    run.save_metrics(rows)
    _figure(run, samples, cfg.box)


def _figure(run: Run, samples: dict[str, np.ndarray], box: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_style("white")
    titles = {
        "exact": "i.i.d. samples",
        "langevin": "Langevin dynamics",
        "annealed": "annealed Langevin",
        "annealed_code": "annealed, code step (2x)",
    }
    fig, axes = plt.subplots(1, len(titles), figsize=(4 * len(titles), 4))
    for ax, (name, title) in zip(axes, titles.items(), strict=True):
        x = samples[name][0]
        w = mode_a_weights(samples[name][:1])[0]
        ax.scatter(x[:, 0], x[:, 1], s=0.5)
        ax.set(xlim=(-box, box), ylim=(-box, box), aspect="equal", title=f"{title}\nweight(-5,-5) = {w:.3f}")
    run.save_figure(
        fig,
        "gmm_samples",
        "Fig. 3: exact-score Langevin vs annealed Langevin",
        "Particles from U[-8,8]^2 (first seed). The exact mixture has weight 0.2 at (-5,-5); plain "
        "Langevin keeps the split of the initial basins, annealed Langevin recovers the weights.",
    )
