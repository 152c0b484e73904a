"""Reverse-SDE / probability-flow integrators for VE score models, on descending sigma grids.

Every sampler is `sampler(score, x, sigmas, *, noise=torch.randn_like, ...) -> x`: `score(x, sigma)` takes
a per-sample sigma [B]; `sigmas` is a grid [L] shared by the batch or [B, L] with one start per sample (DLG
denoises each chain from its own sigma); a sampler takes L - 1 steps from sigmas[..., 0] to sigmas[..., -1].
Grids come from `repro.diffusion.sde`. NFE is counted by wrapping `score` in `repro.diffusion.nfe.CountingScore`.
The single-step functions (per-sample sigmas [B]) are exposed for other samplers and tests; they share their
arithmetic with the samplers (`noisy_step`, `_euler`, `_heun`).

Speed: each sampler computes its step coefficients for the whole grid at once (a few ops on [B, L - 1]) and then
does only full-size arithmetic per step, out of place where the result is new and in place on its own temporaries.
Every x + a v is one `addcmul`: torch's vectorised CPU kernels and GPUs fuse it (one rounding, a fused
multiply-add), its scalar kernels round the product and then the sum as the formula is written. Otherwise the
grouping of every product and sum is the one the formulas state, so on the scalar kernels the numbers are those of
the plain per-step code bit for bit (`tests/test_sampler_ops.py` pins them there).
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


def step_columns(v: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-step coefficients [B, K] as K columns shaped to broadcast against x (two ops for the whole grid)."""
    return v.reshape(*v.shape, *([1] * (x.ndim - 1))).unbind(1)


def _plus(x: torch.Tensor, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """x + a v in one new tensor and one op (fused where the kernels are vectorised, see the module docstring)."""
    return torch.addcmul(x, a, v)


# ----------------------------------------------------------------------------------------------------- single steps


def _em_variance(sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
    """g^2 dt of the VE SDE in log-sigma time: d(sigma^2) = 2 sigma^2 ln(sigma / sigma_next)."""
    return 2 * sigma**2 * torch.log(sigma / sigma_next)


def ve_variance(sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
    """The variance added between two VE levels: sigma^2 - sigma_next^2."""
    return sigma**2 - sigma_next**2


def noisy_step(
    x: torch.Tensor, s: torch.Tensor, var: torch.Tensor, std: torch.Tensor, z: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """x_mean = x + var s, x = x_mean + std z (var, std: columns against x). Returns (x, x_mean)."""
    x_mean = _plus(x, var, s)
    return _plus(x_mean, std, z), x_mean


def euler_maruyama_step(x, s, sigma, sigma_next, z):
    """Euler-Maruyama step of the reverse VE SDE in log-sigma time.

    g^2 dt = d(sigma^2) = 2 sigma^2 ln(sigma / sigma_next); x_mean = x + g^2 dt s, x = x_mean + sqrt(g^2 dt) z.
    Returns (x, x_mean).
    """
    var = _col(_em_variance(sigma, sigma_next), x)
    return noisy_step(x, s, var, var.sqrt(), z)


def reverse_diffusion_step(x, s, sigma, sigma_next, z):
    """score_sde's reverse-diffusion predictor for SMLD/VE: x_mean = x + (sigma^2 - sigma_next^2) s, plus noise.

    Returns (x, x_mean).
    """
    var = _col(ve_variance(sigma, sigma_next), x)
    return noisy_step(x, s, var, var.sqrt(), z)


def probability_flow_step(x, s, sigma, sigma_next):
    """Deterministic step of the probability-flow ODE dx = -d(sigma^2)/2 s: x + (sigma^2 - sigma_next^2)/2 s.

    This is score_sde's reverse-diffusion predictor with probability_flow=True.
    """
    return _plus(x, 0.5 * _col(ve_variance(sigma, sigma_next), x), s)


def _euler(
    score: Score, x: torch.Tensor, sigma: torch.Tensor, neg_sigma: torch.Tensor, h: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Karras Euler step from sigma [B] with columns -sigma and h = sigma_next - sigma. Returns (x_next, d)."""
    d = neg_sigma * score(x, sigma)  # dx/dsigma = -sigma s(x, sigma)
    return _plus(x, h, d), d


def _heun(score: Score, x: torch.Tensor, sigma, sigma_next, neg_sigma, neg_sigma_next, h) -> torch.Tensor:
    """Karras Heun step (Alg. 1 lines 4-8): Euler to sigma_next, then the average slope; two evaluations.

    sigma, sigma_next: [B] for the score; neg_sigma, neg_sigma_next, h = sigma_next - sigma: columns against x.
    """
    x_euler, d = _euler(score, x, sigma, neg_sigma, h)
    d_next = neg_sigma_next * score(x_euler, sigma_next)
    return d_next.add_(d).mul_(h * 0.5).add_(x)  # x + (h / 2) (d + d_next)


def heun_step(score: Score, x, sigma, sigma_next):
    """Karras (2022) Heun step from sigma to sigma_next (sigma_next > 0): two score evaluations."""
    h = _col(sigma_next - sigma, x)
    return _heun(score, x, sigma, sigma_next, -_col(sigma, x), -_col(sigma_next, x), h)


def churn(x, sigma, gamma, z, s_noise: float = 1.007):
    """Karras Alg. 2 churn: sigma_hat = sigma (1 + gamma), x_hat = x + sqrt(sigma_hat^2 - sigma^2) S_noise z."""
    sigma_hat = sigma * (1 + gamma)
    return _plus(x, _col(_churn_std(sigma, sigma_hat, s_noise), x), z), sigma_hat


def _churn_std(sigma: torch.Tensor, sigma_hat: torch.Tensor, s_noise: float) -> torch.Tensor:
    """The churn's noise std sqrt(sigma_hat^2 - sigma^2) S_noise (Alg. 2 line 6)."""
    return (sigma_hat**2 - sigma**2).sqrt() * s_noise


def churn_gamma(sigma, n_levels: int, s_churn: float = 80.0, s_tmin: float = 0.05, s_tmax: float = 1.0):
    """gamma_i = min(S_churn / N, sqrt(2) - 1) where S_tmin <= sigma_i <= S_tmax, else 0 (per sample)."""
    g = min(s_churn / n_levels, math.sqrt(2) - 1)
    inside = (sigma >= s_tmin) & (sigma <= s_tmax)
    return torch.where(inside, torch.full_like(sigma, g), torch.zeros_like(sigma))


# ------------------------------------------------------------------------------------------------------- samplers


def _predictor(variance, score: Score, x: torch.Tensor, sigmas, noise: Noise) -> torch.Tensor:
    """A stochastic predictor along the grid; the last step returns the mean (no noise), as score_sde's `denoise`.

    `variance(sigma, sigma_next)` is the step's noise variance, which is also its drift coefficient on the score.
    """
    grid = per_sample_grid(sigmas, x)
    var = variance(grid[:, :-1], grid[:, 1:])
    steps = zip(grid.unbind(1)[:-1], step_columns(var, x), step_columns(var.sqrt(), x), strict=True)
    n = grid.shape[1] - 1
    for i, (sigma, v, std) in enumerate(steps):
        x_new, x_mean = noisy_step(x, score(x, sigma), v, std, noise(x))
        x = x_mean if i == n - 1 else x_new
    return x


def euler_maruyama(score: Score, x: torch.Tensor, sigmas, *, noise: Noise = torch.randn_like) -> torch.Tensor:
    """Euler-Maruyama on the reverse VE SDE; NFE = L - 1; the last step returns the mean (no noise).

    With `VESDE.time_sigmas(N + 1)` this is score_sde's EulerMaruyamaPredictor (which evaluates at
    linspace(1, eps, N) but steps dt = 1/N; here the steps follow the grid, ending exactly at eps).
    """
    return _predictor(_em_variance, score, x, sigmas, noise)


def reverse_diffusion(score: Score, x: torch.Tensor, sigmas, *, noise: Noise = torch.randn_like) -> torch.Tensor:
    """score_sde's reverse-diffusion predictor (corrector off); NFE = L - 1; the last step returns the mean.

    score_sde's grid is the N geometric levels followed by 0: `append_zero(geometric_sigmas(N, start, sigma_min))`.
    """
    return _predictor(ve_variance, score, x, sigmas, noise)


def probability_flow(score: Score, x: torch.Tensor, sigmas, *, noise: Noise | None = None) -> torch.Tensor:
    """Fixed-step probability-flow ODE (Euler in sigma^2); NFE = L - 1. `noise` is unused (deterministic)."""
    grid = per_sample_grid(sigmas, x)
    half_var = 0.5 * ve_variance(grid[:, :-1], grid[:, 1:])
    for sigma, c in zip(grid.unbind(1)[:-1], step_columns(half_var, x), strict=True):
        x = _plus(x, c, score(x, sigma))
    return x


def karras_heun(score: Score, x: torch.Tensor, sigmas, *, noise: Noise | None = None) -> torch.Tensor:
    """Karras et al. (2022) Alg. 1: Heun on every step but the last (Euler); NFE = 2 (L - 1) - 1."""
    grid = per_sample_grid(sigmas, x)
    levels, neg = grid.unbind(1), step_columns(-grid, x)
    h = step_columns(grid[:, 1:] - grid[:, :-1], x)
    n = grid.shape[1] - 1
    for i in range(n):
        if i == n - 1:
            x = _euler(score, x, levels[i], neg[i], h[i])[0]
        else:
            x = _heun(score, x, levels[i], levels[i + 1], neg[i], neg[i + 1], h[i])
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
    sigma, sigma_next = grid[:, :-1], grid[:, 1:]
    sigma_hat = sigma * (1 + churn_gamma(sigma, n_levels, s_churn, s_tmin, s_tmax))  # Alg. 2 line 5
    hats, nexts = sigma_hat.unbind(1), grid.unbind(1)[1:]
    churn_std = step_columns(_churn_std(sigma, sigma_hat, s_noise), x)
    neg_hat, neg_next = step_columns(-sigma_hat, x), step_columns(-sigma_next, x)
    h = step_columns(sigma_next - sigma_hat, x)
    for i in range(n_levels - 1):
        x_hat = _plus(x, churn_std[i], noise(x))  # Alg. 2 line 6
        if i == n_levels - 2:
            x = _euler(score, x_hat, hats[i], neg_hat[i], h[i])[0]
        else:
            x = _heun(score, x_hat, hats[i], nexts[i], neg_hat[i], neg_next[i], h[i])
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
    integrated in float64 and the score sees x's dtype. Each right-hand side is one call of `score`. With one grid
    for the batch ([2], score_sde's case) sigma(u) and the slope are host floats: no device op per evaluation.
    """
    grid = per_sample_grid(sigmas, x)
    if grid.shape[1] != 2:
        raise ValueError(f"rk45 takes sigmas [start, end], got {grid.shape[1]} levels")
    if torch.as_tensor(sigmas).ndim == 1:
        start, end = grid[0].double().tolist()  # the one host read of the grid
        host_log_ratio = math.log(start / end)

        def coefficients(u: float) -> tuple[torch.Tensor, float | torch.Tensor]:
            sigma = end * math.exp(u * host_log_ratio)
            return torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device), -sigma * sigma * host_log_ratio

    else:
        start_b, end_b = grid[:, 0].double(), grid[:, 1].double()
        log_end, log_ratio = torch.log(end_b), torch.log(start_b / end_b)
        neg_log_ratio = -log_ratio

        def coefficients(u: float) -> tuple[torch.Tensor, float | torch.Tensor]:
            sigma = torch.add(log_end, log_ratio, alpha=u).exp_()
            return sigma.to(x.dtype), _col(sigma.square().mul_(neg_log_ratio), x)

    def rhs(u: float, state: torch.Tensor, out: torch.Tensor) -> None:
        sigma, slope = coefficients(u)  # slope = -sigma^2 ln(start / end)
        out.copy_(score(state.to(x.dtype), sigma)).mul_(slope)  # the product in float64

    return dormand_prince(rhs, 1.0, x.double(), 0.0, rtol, atol).to(x.dtype)
