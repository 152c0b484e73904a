"""Probability-flow ODE log-likelihood and bits/dim, with score_sde's conventions (its `likelihood.py`).

The data x_0 (shape [B, ...], in the model's own coordinates, e.g. centred to [-1, 1]) is carried forward along the
probability-flow ODE dx/dt = f(x, t) - g(t)^2 s(x, t) / 2 from t = eps to t = 1, together with the integral of the
drift's divergence; then log p_0(x_0) = log p_prior(x_1) + int_eps^1 div(drift) dt. The divergence is the
Skilling-Hutchinson estimate e^T (d drift / dx) e with one noise draw e per call (Rademacher or Gaussian), held fixed
along the solve, as upstream. The solver is adaptive Dormand-Prince RK45 over the whole batch as one state
(`repro.diffusion.samplers.dopri`, scipy's algorithm), rtol = atol = 1e-5, eps = 1e-5.

Bits/dim: -log p / (D ln 2) plus score_sde's offset 7 - inverse_scaler(-1): 7 for data centred to [-1, 1], 8 for
data in [0, 1]; with uniformly dequantised 8-bit data ((u8 + U(0, 1)) / 256, `dequantize`) this is the negative
log-likelihood of the discrete images in bits per dimension (a bound, as in the paper tables).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from repro.diffusion.samplers.dopri import dormand_prince
from repro.diffusion.sde import SDE, VESDE, SubVPSDE

TimeScore = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # score(x_t, t), t per sample [B]
HUTCHINSON = ("rademacher", "gaussian")


@dataclass(frozen=True)
class Likelihood:
    """Per-sample log-density of the data [B] (nats, in the model's coordinates), the ODE's end state and its NFE."""

    log_prob: torch.Tensor
    prior_sample: torch.Tensor
    nfe: int


def dequantize(pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """score_sde's uniform dequantisation of 8-bit images: (u8 + U(0, 1)) / 256, values in [0, 1)."""
    if pixels.dtype != torch.uint8:
        raise ValueError(f"dequantize takes uint8 pixels, got {pixels.dtype}")
    u = torch.rand(pixels.shape, generator=generator, dtype=torch.float64)
    return ((pixels.double() + u) / 256.0).to(pixels.device)


def prior_log_prob(sde: SDE, z: torch.Tensor) -> torch.Tensor:
    """log density [B] of score_sde's prior at z: N(0, sigma_max^2 I) for VE, N(0, I) for sub-VP."""
    if isinstance(sde, VESDE):
        std = sde.sigma_max
    elif isinstance(sde, SubVPSDE):
        std = 1.0
    else:
        raise TypeError(f"prior_log_prob: no prior known for {type(sde).__name__}")
    d = z[0].numel()
    sq = z.flatten(1).double().square().sum(1)
    return -0.5 * d * math.log(2 * math.pi * std**2) - 0.5 * sq / std**2


def hutchinson_noise(x: torch.Tensor, kind: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """The probe vectors e (shaped like x): Rademacher (+-1) or standard Gaussian."""
    if kind not in HUTCHINSON:
        raise ValueError(f"hutchinson noise must be one of {HUTCHINSON}, got {kind!r}")
    if kind == "rademacher":
        e = torch.randint(0, 2, x.shape, generator=generator, dtype=torch.float64) * 2 - 1
    else:
        e = torch.randn(x.shape, generator=generator, dtype=torch.float64)
    return e.to(dtype=x.dtype, device=x.device)


def divergence_estimate(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, probe: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(fn(x), e^T J_fn(x) e per sample [B]): one function call and one vector-Jacobian product."""
    with torch.enable_grad():
        xs = x.detach().requires_grad_(True)
        out = fn(xs)
        (grad,) = torch.autograd.grad((out * probe).sum(), xs)
    return out.detach(), (grad * probe).flatten(1).sum(1)


def ode_log_likelihood(
    sde: SDE,
    score: TimeScore,
    x: torch.Tensor,
    *,
    hutchinson: str = "rademacher",
    eps: float = 1e-5,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    generator: torch.Generator | None = None,
) -> Likelihood:
    """log p_0(x) per sample by the probability-flow ODE of `sde` with `score(x_t, t)`, integrated from eps to 1.

    The state (x_t and the accumulated divergence) is integrated in float64; `score` sees x's dtype.
    """
    drift_fn = sde.reverse(score, probability_flow=True)
    probe = hutchinson_noise(x, hutchinson, generator)
    b, n = x.shape[0], x[0].numel()
    nfe = 0

    def rhs(t: float, state: torch.Tensor, out: torch.Tensor) -> None:
        nonlocal nfe
        nfe += 1
        vec_t = torch.full((b,), t, dtype=x.dtype, device=x.device)
        drift, div = divergence_estimate(
            lambda v: drift_fn(v, vec_t)[0], state[:, :n].reshape(x.shape).to(x.dtype), probe
        )
        torch.cat([drift.flatten(1).double(), div.double()[:, None]], dim=1, out=out)

    start = torch.cat([x.flatten(1).double(), torch.zeros(b, 1, dtype=torch.float64, device=x.device)], dim=1)
    end = dormand_prince(rhs, eps, start, 1.0, rtol, atol)
    z = end[:, :n].reshape(x.shape)
    return Likelihood(prior_log_prob(sde, z) + end[:, n], z, nfe)


def bits_per_dim(log_prob: torch.Tensor, dims: int, centred: bool) -> torch.Tensor:
    """score_sde's bits/dim of [0, 1]-dequantised 8-bit data from log p in the model's coordinates: centred data
    ([-1, 1]) get offset 7, data in [0, 1] offset 8 (log2 of the 256 bins less the scaler's log2 Jacobian)."""
    return -log_prob / (dims * math.log(2)) + (7.0 if centred else 8.0)
