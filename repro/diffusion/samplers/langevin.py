"""Langevin samplers of NCSN (Song & Ermon 2019): annealed (Alg. 1), plain single-level, and inpainting (Alg. 2).

Two step conventions exist and both are named here, because they differ by a factor 2 in the step size:

- `"code"` (official `AnnealRunner`, used for the released samples and numbers):
  step_i = eps * (sigma_i / sigma_L)^2 and x <- x + step_i * s + sqrt(2 step_i) z;
- `"paper"` (Alg. 1 as printed, and the official toy runner):
  alpha_i = eps * sigma_i^2 / sigma_L^2 and x <- x + alpha_i / 2 * s + sqrt(alpha_i) z.

So `"code"` with eps equals `"paper"` with 2 eps. No final denoising step and no clamping of the state.
`score(x, sigma)` gets a per-sample sigma tensor [B]; noise comes from `noise(x)` (e.g. a
`repro.rng.StackedGenerator.randn_like`), so samples can depend on their own seeds only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

__all__ = ["CONVENTIONS", "step_sizes", "annealed_langevin", "langevin", "annealed_langevin_inpaint"]

Score = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Noise = Callable[[torch.Tensor], torch.Tensor]
CONVENTIONS = ("code", "paper")


def step_sizes(sigmas: Sequence[float], eps: float, convention: str = "code") -> list[tuple[float, float]]:
    """Per level, the (drift coefficient, noise scale) pair: x <- x + drift * score + scale * z."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown Langevin step convention {convention!r}; use one of {CONVENTIONS}")
    if eps <= 0:
        raise ValueError(f"Langevin step size eps must be > 0, got {eps}")
    sigmas = [float(s) for s in sigmas]
    if not sigmas or min(sigmas) <= 0:
        raise ValueError(f"noise levels must be a non-empty list of positive numbers, got {sigmas}")
    pairs = []
    for sigma in sigmas:
        base = eps * (sigma / sigmas[-1]) ** 2
        pairs.append((base, math.sqrt(2 * base)) if convention == "code" else (base / 2, math.sqrt(base)))
    return pairs


def _run(
    score: Score,
    x: torch.Tensor,
    sigmas: Sequence[float],
    n_steps: int,
    eps: float,
    convention: str,
    noise: Noise,
    known: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The shared loop; with `known`/`mask` the known pixels are reset to a per-level noisy copy (Alg. 2)."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    for (drift, scale), sigma in zip(step_sizes(sigmas, eps, convention), sigmas, strict=True):
        sigma_b = torch.full((x.shape[0],), float(sigma), dtype=x.dtype, device=x.device)
        if mask is not None:
            target = torch.add(known, noise(x), alpha=float(sigma))
            x = torch.where(mask, target, x)
        for _ in range(n_steps):
            x = torch.add(x, score(x, sigma_b), alpha=drift).add_(noise(x), alpha=scale)
            if mask is not None:
                x = torch.where(mask, target, x)
    return x


@torch.inference_mode()
def annealed_langevin(
    score: Score,
    x: torch.Tensor,
    sigmas: Sequence[float],
    *,
    n_steps: int = 100,
    eps: float = 2e-5,
    convention: str = "code",
    noise: Noise = torch.randn_like,
) -> torch.Tensor:
    """Alg. 1: `n_steps` Langevin steps at each level, largest sigma first, step scaled by (sigma_i/sigma_L)^2."""
    return _run(score, x, sigmas, n_steps, eps, convention, noise, None)


@torch.inference_mode()
def langevin(
    score: Score,
    x: torch.Tensor,
    sigma: float,
    *,
    n_steps: int = 1000,
    eps: float = 2e-5,
    convention: str = "code",
    noise: Noise = torch.randn_like,
) -> torch.Tensor:
    """Plain Langevin dynamics at one noise level (the paper's single-sigma baseline and Fig. 3b)."""
    return _run(score, x, [sigma], n_steps, eps, convention, noise, None)


@torch.inference_mode()
def annealed_langevin_inpaint(
    score: Score,
    x: torch.Tensor,
    sigmas: Sequence[float],
    *,
    known: torch.Tensor,
    mask: torch.Tensor,
    n_steps: int = 100,
    eps: float = 2e-5,
    convention: str = "code",
    noise: Noise = torch.randn_like,
) -> torch.Tensor:
    """Alg. 2: at each level draw y = known + sigma_i z once; after every step put y on the known pixels.

    `mask` is 1 on known pixels (broadcastable to `x`); `known` holds the observed image (shape of `x`).
    """
    if known.shape != x.shape:
        raise ValueError(f"known image shape {tuple(known.shape)} differs from the state shape {tuple(x.shape)}")
    mask = torch.as_tensor(mask, device=x.device).bool().expand_as(x)
    return _run(score, x, sigmas, n_steps, eps, convention, noise, known.to(x), mask)
