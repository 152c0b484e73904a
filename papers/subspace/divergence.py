"""Orthogonal Fisher divergence of a full-space score against the Gaussian orthogonal model, and the cut-off time.

D_F(t) = E‖(I − P)s(x_t) − g(x_t)‖² / (D⊥ / v_t), g = (P x_t − x_t)/v_t, v_t = α_t²σ⊥² + σ_t² (sheet §2.6): the squared
error normalised by the expected ‖g‖² under the Gaussian model, so D_F = 1 means "as wrong as a zero score". It is
invariant to the α-scaling, so it is computed in VE coordinates (x_t = x_0 + σ ε).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from papers.subspace.method import Score, gaussian_orthogonal_score
from papers.subspace.operators import orthogonal, orthogonal_dim


@torch.no_grad()
def orthogonal_fisher_divergence(
    score: Score, x0: torch.Tensor, levels: int, sigma_perp: float, sigma: float, noise: torch.Tensor
) -> torch.Tensor:
    """Per-sample normalised orthogonal Fisher divergence at noise level σ; average it for D_F."""
    sig = torch.full((x0.shape[0],), float(sigma), dtype=x0.dtype, device=x0.device)
    var = sig**2 + sigma_perp**2
    xt = x0 + sigma * noise
    err = orthogonal(score(xt, sig), levels) - gaussian_orthogonal_score(xt, levels, var)
    expected = orthogonal_dim(tuple(x0.shape[1:]), levels) / var
    return err.reshape(x0.shape[0], -1).pow(2).sum(1) / expected


def divergence_curve(
    score: Score,
    x0: torch.Tensor,
    levels: int,
    sigma_perp: float,
    sigmas: Sequence[float],
    noise: Callable[[int], torch.Tensor],
    batch_size: int = 500,
) -> list[float]:
    """D_F at each noise level (one fresh noise draw `noise(i)` per level, shaped like x0)."""
    out = []
    for i, s in enumerate(sigmas):
        eps = noise(i)
        parts = [
            orthogonal_fisher_divergence(score, x0[j : j + batch_size], levels, sigma_perp, s, eps[j : j + batch_size])
            for j in range(0, x0.shape[0], batch_size)
        ]
        out.append(float(torch.cat(parts).double().mean()))
    return out


def cut_time(times: Sequence[float], divergence: Sequence[float], threshold: float, grid_points: int = 1001) -> float:
    """Smallest t on a `grid_points` grid over [0, 1] where log-linear interpolation of D_F(t) is below `threshold`.

    Returns 1.0 (no subspace stage) when the curve never drops below the threshold.
    """
    t = np.asarray(times, dtype=np.float64)
    d = np.asarray(divergence, dtype=np.float64)
    if t.shape != d.shape or t.ndim != 1 or len(t) < 2:
        raise ValueError(f"times and divergence must be 1-d of equal length >= 2, got {t.shape} and {d.shape}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("times must be strictly increasing")
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    grid = np.linspace(0.0, 1.0, grid_points)
    log_d = np.interp(grid, t, np.log(np.maximum(d, 1e-300)))
    below = np.nonzero(log_d < np.log(threshold))[0]
    return float(grid[below[0]]) if len(below) else 1.0
