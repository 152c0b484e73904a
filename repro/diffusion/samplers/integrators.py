"""Reverse-SDE / probability-flow integrators for VE score models, on descending sigma grids.

Every sampler is `sampler(score, x, sigmas, *, noise=torch.randn_like, ...) -> x`: `score(x, sigma)` takes
a per-sample sigma [B]; `sigmas` is a grid [L] shared by the batch or [B, L] with one start per sample (DLG
denoises each chain from its own sigma); a sampler takes L - 1 steps from sigmas[..., 0] to sigmas[..., -1].
Grids come from `repro.diffusion.sde`. NFE is counted by wrapping `score` in `repro.diffusion.nfe.CountingScore`.
The single-step functions are exposed for predictor-corrector samplers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from repro.diffusion.samplers.dopri import dormand_prince

Score = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Noise = Callable[[torch.Tensor], torch.Tensor]


def per_sample_grid(sigmas: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The grid as [B, L] in x's dtype and device."""
    s = torch.as_tensor(sigmas).to(dtype=x.dtype, device=x.device)
    if s.ndim == 1:
        return s.expand(x.shape[0], -1)
    if s.ndim != 2 or s.shape[0] != x.shape[0]:
        raise ValueError(f"sigmas must be [L] or [B={x.shape[0]}, L], got shape {tuple(s.shape)}")
    return s


def _col(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-sample [B] value shaped to broadcast against x."""
    return v.reshape(-1, *([1] * (x.ndim - 1)))


# ----------------------------------------------------------------------------------------------------- single steps


def euler_maruyama_step(x, s, sigma, sigma_next, z):
    """Euler-Maruyama step of the reverse VE SDE in log-sigma time.

    g^2 dt = d(sigma^2) = 2 sigma^2 ln(sigma / sigma_next); x_mean = x + g^2 dt s, x = x_mean + sqrt(g^2 dt) z.
    Returns (x, x_mean).
    """
    g2dt = _col(2 * sigma**2 * torch.log(sigma / sigma_next), x)
    x_mean = x + g2dt * s
    return x_mean + g2dt.sqrt() * z, x_mean


def reverse_diffusion_step(x, s, sigma, sigma_next, z):
    """score_sde's reverse-diffusion predictor for SMLD/VE: x_mean = x + (sigma^2 - sigma_next^2) s, plus noise.

    Returns (x, x_mean).
    """
    var = _col(sigma**2 - sigma_next**2, x)
    x_mean = x + var * s
    return x_mean + var.sqrt() * z, x_mean


def probability_flow_step(x, s, sigma, sigma_next):
    """Deterministic step of the probability-flow ODE dx = -d(sigma^2)/2 s: x + (sigma^2 - sigma_next^2)/2 s.

    This is score_sde's reverse-diffusion predictor with probability_flow=True.
    """
    return x + 0.5 * _col(sigma**2 - sigma_next**2, x) * s


def euler_step(score: Score, x, sigma, sigma_next):
    """Karras Euler step on dx/dsigma = -sigma s(x, sigma). Returns (x_next, d)."""
    d = -_col(sigma, x) * score(x, sigma)
    return x + _col(sigma_next - sigma, x) * d, d


def heun_step(score: Score, x, sigma, sigma_next):
    """Karras (2022) Heun step from sigma to sigma_next (sigma_next > 0): two score evaluations."""
    x_euler, d = euler_step(score, x, sigma, sigma_next)
    d_next = -_col(sigma_next, x) * score(x_euler, sigma_next)
    return x + _col(sigma_next - sigma, x) * 0.5 * (d + d_next)


def churn(x, sigma, gamma, z, s_noise: float = 1.007):
    """Karras Alg. 2 churn: sigma_hat = sigma (1 + gamma), x_hat = x + sqrt(sigma_hat^2 - sigma^2) S_noise z."""
    sigma_hat = sigma * (1 + gamma)
    return x + _col((sigma_hat**2 - sigma**2).sqrt() * s_noise, x) * z, sigma_hat


def churn_gamma(sigma, n_levels: int, s_churn: float = 80.0, s_tmin: float = 0.05, s_tmax: float = 1.0):
    """gamma_i = min(S_churn / N, sqrt(2) - 1) where S_tmin <= sigma_i <= S_tmax, else 0 (per sample)."""
    g = min(s_churn / n_levels, math.sqrt(2) - 1)
    inside = (sigma >= s_tmin) & (sigma <= s_tmax)
    return torch.where(inside, torch.full_like(sigma, g), torch.zeros_like(sigma))


# ------------------------------------------------------------------------------------------------------- samplers


def _predictor(step, score: Score, x: torch.Tensor, sigmas, noise: Noise) -> torch.Tensor:
    """A stochastic predictor along the grid; the last step returns the mean (no noise), as score_sde's `denoise`."""
    grid = per_sample_grid(sigmas, x)
    n = grid.shape[1] - 1
    for i in range(n):
        x_new, x_mean = step(x, score(x, grid[:, i]), grid[:, i], grid[:, i + 1], noise(x))
        x = x_mean if i == n - 1 else x_new
    return x


def euler_maruyama(score: Score, x: torch.Tensor, sigmas, *, noise: Noise = torch.randn_like) -> torch.Tensor:
    """Euler-Maruyama on the reverse VE SDE; NFE = L - 1; the last step returns the mean (no noise).

    With `VESDE.time_sigmas(N + 1)` this is score_sde's EulerMaruyamaPredictor (which evaluates at
    linspace(1, eps, N) but steps dt = 1/N; here the steps follow the grid, ending exactly at eps).
    """
    return _predictor(euler_maruyama_step, score, x, sigmas, noise)


def reverse_diffusion(score: Score, x: torch.Tensor, sigmas, *, noise: Noise = torch.randn_like) -> torch.Tensor:
    """score_sde's reverse-diffusion predictor (corrector off); NFE = L - 1; the last step returns the mean.

    score_sde's grid is the N geometric levels followed by 0: `append_zero(geometric_sigmas(N, start, sigma_min))`.
    """
    return _predictor(reverse_diffusion_step, score, x, sigmas, noise)


def probability_flow(score: Score, x: torch.Tensor, sigmas, *, noise: Noise | None = None) -> torch.Tensor:
    """Fixed-step probability-flow ODE (Euler in sigma^2); NFE = L - 1. `noise` is unused (deterministic)."""
    grid = per_sample_grid(sigmas, x)
    for i in range(grid.shape[1] - 1):
        x = probability_flow_step(x, score(x, grid[:, i]), grid[:, i], grid[:, i + 1])
    return x


def karras_heun(score: Score, x: torch.Tensor, sigmas, *, noise: Noise | None = None) -> torch.Tensor:
    """Karras et al. (2022) Alg. 1: Heun on every step but the last (Euler); NFE = 2 (L - 1) - 1."""
    grid = per_sample_grid(sigmas, x)
    n = grid.shape[1] - 1
    for i in range(n):
        if i == n - 1:
            x, _ = euler_step(score, x, grid[:, i], grid[:, i + 1])
        else:
            x = heun_step(score, x, grid[:, i], grid[:, i + 1])
    return x


def karras_stochastic(
    score: Score,
    x: torch.Tensor,
    sigmas,
    *,
    noise: Noise = torch.randn_like,
    s_churn: float = 80.0,
    s_tmin: float = 0.05,
    s_tmax: float = 1.0,
    s_noise: float = 1.007,
) -> torch.Tensor:
    """Karras et al. (2022) Alg. 2 (churn then Heun; Euler on the last step); NFE = 2 (L - 1) - 1.

    gamma uses N = L, the number of levels (the DMCMC code's `S_churn / N`).
    """
    grid = per_sample_grid(sigmas, x)
    n_levels = grid.shape[1]
    for i in range(n_levels - 1):
        gamma = churn_gamma(grid[:, i], n_levels, s_churn, s_tmin, s_tmax)
        x_hat, sigma_hat = churn(x, grid[:, i], gamma, noise(x), s_noise)
        if i == n_levels - 2:
            x, _ = euler_step(score, x_hat, sigma_hat, grid[:, i + 1])
        else:
            x = heun_step(score, x_hat, sigma_hat, grid[:, i + 1])
    return x


def rk45(
    score: Score,
    x: torch.Tensor,
    sigmas,
    *,
    noise: Noise | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> torch.Tensor:
    """Adaptive RK45 on the probability-flow ODE, as score_sde's ODE sampler (scipy's RK45, here on the device).

    `sigmas` gives [start, end] ([2] or [B, 2]); u runs 1 -> 0 with sigma(u) = end (start / end)^u per sample,
    so dx/du = -sigma(u)^2 ln(start / end) s(x, sigma(u)). The whole batch is one state, as upstream; it is
    integrated in float64 and the score sees x's dtype. Each right-hand side is one call of `score`.
    """
    grid = per_sample_grid(sigmas, x)
    if grid.shape[1] != 2:
        raise ValueError(f"rk45 takes sigmas [start, end], got {grid.shape[1]} levels")
    start, end = grid[:, 0].double(), grid[:, 1].double()
    log_ratio = torch.log(start / end)

    def rhs(u: float, state: torch.Tensor) -> torch.Tensor:
        sigma = end * torch.exp(u * log_ratio)
        return -_col(sigma**2 * log_ratio, state) * score(state.to(x.dtype), sigma.to(x.dtype)).double()

    return dormand_prince(rhs, 1.0, x.double(), 0.0, rtol, atol).to(x.dtype)
