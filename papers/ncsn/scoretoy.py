"""ncsn/scoretoy: Fig. 2, a score learnt by sliced score matching is accurate only where the data are.

Same mixture as ncsn/gmm (0.2 N((-5,-5), I) + 0.8 N((5,5), I)). Score model: MLP 2 -> 128 -> 128 -> 2 with
softplus, trained by variance-reduced sliced score matching (1 projection), Adam 1e-3, batch 128 of fresh draws
from the mixture each step (the official toy runner does the same; the sample count is not stated in the paper).

Evaluation on a 201 x 201 grid over [-8, 8]^2: the error |s_theta(x) - grad log p(x)| is averaged separately
over the high-density region (within distance `r_high` of a mode centre) and the low-density region (farther
than `r_low` from both); the headline number is their ratio low/high. Config: `hidden` (MLP width), `box`,
`r_high`, `r_low`, and the `training:` section (one checkpoint, at the end, unless it sets `ckpt_every`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from papers.ncsn.gmm import DATASET, MEANS, WEIGHTS
from repro.config import ExperimentConfig, read_from
from repro.run import MetricRow, Run

GRID = 201


@dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    hidden: int
    box: float = read_from("evaluate")  # the evaluation grid (and figure) only
    r_high: float = read_from("evaluate")
    r_low: float = read_from("evaluate")
    training: dict[str, Any]


def score_mlp(hidden: int = 128) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(2, hidden), nn.Softplus(), nn.Linear(hidden, hidden), nn.Softplus(), nn.Linear(hidden, 2)
    )


def _data():
    from repro.diffusion.toy.gmm import GaussianMixture

    return GaussianMixture(WEIGHTS, MEANS, stds=1.0)


def _train_cfg(cfg: Config):
    from repro.train import TrainConfig

    steps = cfg.training["steps"]
    return TrainConfig.from_config(cfg.training, "ssm_mlp", ckpt_every=steps, log_every=min(100, steps))


def train(run: Run) -> None:
    from repro.diffusion.losses import sliced_score_matching_vr
    from repro.train import train as run_training

    cfg = run.cfg
    tc = _train_cfg(cfg)
    data, batch = _data(), tc.batch_size

    def batches(step: int) -> torch.Tensor:
        return data.sample(batch, torch.Generator().manual_seed(run.seed * 1_000_003 + step)).float()

    torch.manual_seed(run.seed)
    model = score_mlp(cfg.hidden)
    run_training(run, model, lambda m, x: sliced_score_matching_vr(m, x), batches, tc)


def _grid(box: float) -> torch.Tensor:
    axis = torch.linspace(-box, box, GRID, dtype=torch.float64)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def score_errors(model: nn.Module, box: float) -> dict[str, np.ndarray]:
    """Grid points, exact and learnt scores, their error norm and the distance to the nearest mode."""
    data = _data()
    x = _grid(box)
    with torch.no_grad():
        learnt = model(x.float()).double()
    exact = data.score(x, 0.0)
    dist = torch.cdist(x, torch.tensor(MEANS, dtype=torch.float64)).min(1).values
    return {
        "x": x.numpy(),
        "exact": exact.numpy(),
        "learnt": learnt.numpy(),
        "error": (learnt - exact).norm(dim=1).numpy(),
        "dist": dist.numpy(),
        "density": data.log_prob(x).exp().numpy(),
    }


def evaluate(run: Run) -> None:
    from repro.train import load_trained

    cfg = run.cfg
    model = load_trained(run, score_mlp(cfg.hidden), "ssm_mlp").cpu()
    e = score_errors(model, cfg.box)
    high, low = e["dist"] <= cfg.r_high, e["dist"] >= cfg.r_low
    err_high, err_low = float(e["error"][high].mean()), float(e["error"][low].mean())
    setting = {"score": "ssm_mlp", "steps": cfg.training["steps"], "r_high": cfg.r_high, "r_low": cfg.r_low}
    base = {"dataset": DATASET, "setting": setting, "seed": run.seed}
    n_high, n_low = int(high.sum()), int(low.sum())
    exact_low = float(np.linalg.norm(e["exact"][low], axis=1).mean())
    rows = [
        MetricRow(**base, metric="score_error_high_density", value=err_high, unit="L2", n_samples=n_high),
        MetricRow(**base, metric="score_error_low_density", value=err_low, unit="L2", n_samples=n_low),
        MetricRow(
            **base,
            metric="score_error_ratio_low_high",
            value=err_low / err_high,
            unit="ratio",
            n_samples=n_high + n_low,
        ),
        MetricRow(**base, metric="exact_score_norm_low_density", value=exact_low, unit="L2", n_samples=n_low),
    ]
    run.save_metrics(rows)
    run.log(f"score error: high-density {err_high:.4f}, low-density {err_low:.4f}, ratio {err_low / err_high:.2f}")
    _figure(run, e, cfg)


def _figure(run: Run, e: dict[str, np.ndarray], cfg: Config) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    box = cfg.box
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    img = axes[0].imshow(
        e["error"].reshape(GRID, GRID),
        origin="lower",
        extent=(-box, box, -box, box),
        norm=LogNorm(vmin=max(e["error"].min(), 1e-3)),
        cmap="viridis",
    )
    for r, style in ((cfg.r_high, "-"), (cfg.r_low, "--")):
        for m in MEANS:
            axes[0].add_patch(plt.Circle(m, r, fill=False, color="white", ls=style, lw=0.8))
    fig.colorbar(img, ax=axes[0], label="|s_theta - grad log p|")
    axes[0].set_title("score error (solid: r_high, dashed: r_low)")
    sub = np.zeros((GRID, GRID), dtype=bool)
    sub[::10, ::10] = True
    sub = sub.reshape(-1)
    for ax, key, title in (
        (axes[1], "exact", "data score directions"),
        (axes[2], "learnt", "estimated score directions (SSM)"),
    ):
        ax.imshow(e["density"].reshape(GRID, GRID), origin="lower", extent=(-box, box, -box, box), cmap="inferno")
        v = e[key][sub] / np.maximum(np.linalg.norm(e[key][sub], axis=1, keepdims=True), 1e-12)  # directions
        ax.quiver(e["x"][sub, 0], e["x"][sub, 1], v[:, 0], v[:, 1], color="white", width=0.004)
        ax.set_title(title)
    for ax in axes:
        ax.set(xlim=(-box, box), ylim=(-box, box), aspect="equal")
    run.save_figure(
        fig,
        "score_error_map",
        "Fig. 2: learnt vs exact scores",
        "A sliced-score-matching MLP against the exact mixture score over [-8,8]^2. Errors are small "
        "near the modes and large in the low-density regions between and around them.",
    )
