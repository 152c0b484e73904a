"""score_sde's calling conventions for continuous-time networks (its `models/utils.get_score_fn`).

- VE (NCSN++): the network takes the noise level std(t) and returns the score itself (call it directly).
- VP / sub-VP (DDPM++): the network takes the label 999 t and returns an epsilon-style output; the score is
  -output / std(t), with std(t) the marginal standard deviation of x_t given x_0.

`vp_continuous_score` returns `score(x, t)` for x_t of shape [B, ...] and t of shape [B], the signature of
`repro.diffusion.sde.SDE.reverse`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from repro.diffusion.sde import SDE

VP_LABEL_SCALE = 999.0  # score_sde: labels = t * (N - 1) with N = 1000, for continuous VP / sub-VP training

TimeScore = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _marginal_std(sde: SDE, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return sde.marginal_prob(torch.zeros_like(x), t)[1].to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))


def vp_labels(t: torch.Tensor) -> torch.Tensor:
    """Network time input of a continuous VP / sub-VP model: 999 t."""
    return t * VP_LABEL_SCALE


def vp_continuous_score(model: nn.Module, sde: SDE) -> TimeScore:
    """Score of a continuous VP / sub-VP model (DDPM++): -model(x, 999 t) / std(t)."""

    def score(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -model(x, vp_labels(t.to(x.dtype))) / _marginal_std(sde, x, t)

    return score
