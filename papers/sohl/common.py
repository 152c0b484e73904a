"""Stage helpers shared by the Sohl-Dickstein experiments: models from configs, training, bound evaluation, rows."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from papers.sohl.gaussian import GaussianDiffusion, Schedule, log_std_normal
from papers.sohl.nets import MLP, ImageReverseNet, NormalisedRBF, VectorReverseNet
from repro.data.batches import TensorBatches
from repro.run import Run
from repro.train import TrainConfig, train

LN2 = math.log(2)


def vector_body(cfg: dict[str, Any], d: int, x_train: torch.Tensor, gen: torch.Generator) -> nn.Module:
    """RBF (centres at random training points, width = RMS distance to the nearest other centre) or MLP body."""
    if cfg["net"] == "rbf":
        idx = torch.randperm(len(x_train), generator=gen)[: cfg["rbf_units"]]
        centres = x_train[idx]
        dist = torch.cdist(centres, centres) + torch.eye(len(centres)) * 1e9
        return NormalisedRBF(centres, float(dist.min(1).values.pow(2).mean().sqrt()))
    return MLP(d, cfg["hidden"], cfg["activation"])


def gaussian_vector_model(cfg: dict[str, Any], x_train: torch.Tensor, seed: int) -> GaussianDiffusion:
    gen = torch.Generator().manual_seed(seed)
    d = x_train.shape[1]
    net = VectorReverseNet(
        vector_body(cfg, d, x_train, gen),
        d,
        cfg["T"],
        2,
        cfg["readout"],
        cfg.get("n_bumps", 10),
        cfg.get("bump_axis", "linear"),
    )
    return GaussianDiffusion(net, Schedule(cfg["T"], cfg["beta1"], cfg["learned_beta"]), cfg["mean_param"])


def gaussian_image_model(cfg: dict[str, Any], shape: tuple[int, int, int]) -> GaussianDiffusion:
    n = cfg["net"]
    net = ImageReverseNet(
        shape,
        cfg["T"],
        n["conv_layers"],
        n["conv_channels"],
        n["n_scales"],
        n["dense_hidden"],
        n["dense_out"],
        n["pixel_layers"],
        n["pixel_hidden"],
        n["n_bumps"],
    )
    return GaussianDiffusion(net, Schedule(cfg["T"], cfg["beta1"], cfg["learned_beta"]), cfg["mean_param"])


def fit(run: Run, model: nn.Module, x_train: torch.Tensor, cfg: dict[str, Any], name: str = "model") -> nn.Module:
    """Maximise K with the engine's training loop; the loss is the model's -K estimate."""
    tc = TrainConfig(
        steps=cfg["steps"],
        lr=cfg["lr"],
        batch_size=cfg["batch_size"],
        ema_decay=cfg.get("ema_decay"),
        grad_clip=cfg.get("grad_clip"),
        decay_frac=cfg.get("decay_frac", 0.0),
        ckpt_every=max(1, cfg["steps"] // 4),
        log_every=100,
        name=name,
    )
    batches = TensorBatches(x_train, cfg["batch_size"], seed=run.seed)
    return train(run, model, lambda m, b: m.loss(b), batches, tc)


@torch.no_grad()
def per_example_bound(model: nn.Module, x: torch.Tensor, batch_size: int, seed: int, **kw) -> torch.Tensor:
    """K(x0) in nats for every example (by default the exact sum over t = 2..T, one x_t draw per (example, t))."""
    torch.manual_seed(seed)
    model.eval()
    return torch.cat([model.bound(x[i : i + batch_size], **kw).cpu() for i in range(0, len(x), batch_size)])


def mean_se(v: torch.Tensor) -> tuple[float, float]:
    v = v.double()
    return float(v.mean()), float(v.std() / math.sqrt(len(v))) if len(v) > 1 else float("nan")


def bound_rows(
    k_nats: torch.Tensor,
    null_nats: torch.Tensor,
    per: float,
    unit: str,
    dataset: str,
    setting: dict[str, Any],
    seed: int,
) -> list[dict[str, Any]]:
    """Rows K, L_null and K - L_null (paired per example) in bits per `per` dimensions-group, with standard errors."""
    rows = []
    for metric, v in (("K", k_nats), ("L_null", null_nats), ("K_minus_Lnull", k_nats - null_nats)):
        m, se = mean_se(v / LN2 / per)
        rows.append(
            {
                "dataset": dataset,
                "setting": dict(setting),
                "metric": metric,
                "value": m,
                "stderr": se,
                "unit": unit,
                "n_samples": len(v),
                "seed": seed,
            }
        )
    return rows


def gaussian_null(x: torch.Tensor) -> torch.Tensor:
    """log N(x; 0, I) per example (nats): the paper's null model for rescaled continuous data."""
    return log_std_normal(x)
