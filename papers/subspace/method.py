"""The subspace-diffusion sampler pieces: step split, boundary (upsample + orthogonal noise), implicit score.

All functions work in VE coordinates (x_t = x_0 + σ·ε). A VP-type SDE (sub-VP) with x_t = α_t x_0 + σ_t ε is handled
by the scaled variable x̃ = x/α_t, whose noise level is σ̃ = σ_t/α_t: the orthogonal variance α_t²σ⊥² + σ_t² of the
paper (Eq. 9) becomes α_t²(σ⊥² + σ̃²) (see `boundary_std`, which takes α and σ explicitly and is tested for both).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from papers.subspace.operators import down, orthogonal, orthogonal_dim, project, up

Score = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def split_steps(n_steps: int, cut_time: float) -> tuple[int, int]:
    """Steps of the subspace and the full stage for one grid of `n_steps` steps (t: 1 → 0) cut at `cut_time`.

    Choice recorded: n_sub = floor(N·(1 − t₁) + 1e-9) and n_full = N − n_sub, so the total is always exactly N.
    (The official code floors both parts separately, which gives N − 1 steps for e.g. t₁ = 0.558, N = 1000.)
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if not 0.0 <= cut_time <= 1.0:
        raise ValueError(f"cut_time must be in [0, 1], got {cut_time}")
    n_sub = min(n_steps, int(math.floor(n_steps * (1.0 - cut_time) + 1e-9)))
    return n_sub, n_steps - n_sub


def boundary_std(alpha: float, sigma: float, sigma_perp: float) -> float:
    """Std of the orthogonal component at the boundary: sqrt(σ_t² + α_t²σ⊥²) (paper Eq. 9)."""
    if sigma < 0 or sigma_perp < 0 or alpha <= 0:
        raise ValueError(f"need alpha > 0, sigma >= 0, sigma_perp >= 0; got {alpha}, {sigma}, {sigma_perp}")
    return math.sqrt(sigma**2 + alpha**2 * sigma_perp**2)


def lift(
    y: torch.Tensor, levels: int, std: float | torch.Tensor, noise: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Boundary step: up^k(y) plus Gaussian noise of the given std restricted to the orthogonal complement.

    `std` is a float or a per-sample tensor [B]; `noise(x)` draws standard normal noise shaped like x.
    """
    x = up(y, levels)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(-1, *([1] * (x.dim() - 1)))
    return x + orthogonal(std * noise(x), levels)


def gaussian_orthogonal_score(x: torch.Tensor, levels: int, var: torch.Tensor) -> torch.Tensor:
    """Score of the Gaussian model of the orthogonal part, (P x − x) / var, var per sample [B]."""
    return (project(x, levels) - x) / var.reshape(-1, *([1] * (x.dim() - 1)))


def implicit_score(sub_score: Score, levels: int, sigma_perp: float, offset: float = 0.0) -> Score:
    """Full-space score implied by a subspace model (paper Eq. 11, VE coordinates):

    s(x, σ) = up^k(s_sub(down^k x + offset, σ)) + (P x − x)/(σ⊥² + σ²).
    Exact when the data are (subspace law) ⊕ N(0, σ⊥²(I − P)); used for probability-flow ODE sampling and likelihood.
    `offset` is added when projecting into the subspace model's coordinates (sub-VP DDPM++: 2^k − 1, sheet §2.5).
    """

    def score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        lifted = up(sub_score(down(x, levels) + offset, sigma), levels)
        return lifted + gaussian_orthogonal_score(x, levels, sigma_perp**2 + sigma**2)

    return score


def cut_score(full_score: Score, subspace_score: Score, sigma_cut: float) -> Score:
    """The subspace model's full-space score: `subspace_score` (the implicit score) above the cut-off noise level,
    `full_score` at or below it; decided by the batch's first noise level, as the official `SubspaceScore` (an ODE
    solve asks the whole batch at one time)."""

    def score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return subspace_score(x, sigma) if float(sigma[0]) > sigma_cut else full_score(x, sigma)

    return score


def implicit_log_prob(
    sub_log_prob: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    levels: int,
    sigma_perp: float,
    sigma: torch.Tensor,
) -> torch.Tensor:
    """Log-density of the implicit full-space model at noise σ (per sample [B]), the likelihood counterpart of
    `implicit_score`: log p_sub(down^k x) + log N((I − P)x; 0, (σ⊥² + σ²) I⊥). `down` is orthonormal, so there is
    no Jacobian term; this is what an exact probability-flow ODE likelihood of the implicit score converges to."""
    var = sigma_perp**2 + sigma.to(x.dtype) ** 2
    d_perp = orthogonal_dim(tuple(x.shape[1:]), levels)
    sq = orthogonal(x, levels).flatten(1).square().sum(1)
    return sub_log_prob(down(x, levels), sigma) - 0.5 * sq / var - 0.5 * d_perp * torch.log(2 * math.pi * var)


def projected_operator(levels: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The projector I − P onto the orthogonal complement, for the conditional Langevin steps at the boundary."""
    return lambda v: orthogonal(v, levels)
