"""Stage helpers shared by the Sohl-Dickstein experiments: training, bound evaluation, metric rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from papers.sohl.gaussian import log_std_normal
from repro.data.batches import TensorBatches
from repro.metrics.distances import mean_stderr
from repro.run import MetricRow, Run
from repro.train import TrainConfig, train

LN2 = math.log(2)


def train_config(training: Mapping[str, Any], name: str) -> TrainConfig:
    """The config's `training:` section; a checkpoint every quarter of the steps unless it says otherwise."""
    return TrainConfig.from_config(training, name=name, ckpt_every=max(1, training["steps"] // 4), log_every=100)


def fit(
    run: Run, model: nn.Module, x_train: torch.Tensor, training: Mapping[str, Any], name: str = "model"
) -> nn.Module:
    """Maximise K with the engine's training loop; the loss is the model's -K estimate."""
    tc = train_config(training, name)
    batches = TensorBatches(x_train, tc.batch_size, seed=run.seed)
    return train(run, model, lambda m, b: m.loss(b), batches, tc)


@torch.no_grad()
def per_example_bound(run: Run, model: nn.Module, x: torch.Tensor, batch_size: int, **kw) -> torch.Tensor:
    """K(x0) in nats for every example (by default the exact sum over t = 2..T, one x_t draw per (example, t)),
    seeded by the run's seed; progress in the run's log (a paper-tier test split takes minutes)."""
    torch.manual_seed(run.seed)
    model.eval()
    starts = range(0, len(x), batch_size)
    return torch.cat([model.bound(x[i : i + batch_size], **kw).cpu() for i in run.progress(starts, desc="bound")])


def bound_rows(
    k_nats: torch.Tensor,
    null_nats: torch.Tensor,
    per: float,
    unit: str,
    dataset: str,
    setting: dict[str, Any],
    seed: int,
) -> list[MetricRow]:
    """Rows K, L_null and K - L_null (paired per example) in bits per `per` dimensions-group, with standard errors."""
    rows = []
    for metric, v in (("K", k_nats), ("L_null", null_nats), ("K_minus_Lnull", k_nats - null_nats)):
        m, se = mean_stderr(v / LN2 / per)
        rows.append(
            MetricRow(
                dataset=dataset,
                setting=dict(setting),
                metric=metric,
                value=m,
                stderr=se,
                unit=unit,
                n_samples=len(v),
                seed=seed,
            )
        )
    return rows


def plus_minus(row: MetricRow) -> str:
    """`value +- stderr` for a log line (a single example has no standard error)."""
    return f"{row.value:.3f}" + (f" +- {row.stderr:.3f}" if row.stderr is not None else "")


def gaussian_null(x: torch.Tensor) -> torch.Tensor:
    """log N(x; 0, I) per example (nats): the paper's null model for rescaled continuous data."""
    return log_std_normal(x)
