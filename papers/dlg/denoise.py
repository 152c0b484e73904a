"""The six integrators as DMCMC configures them, started from a per-sample sigma, and NFE budget matching.

Grids follow the DMCMC notebook and score_sde:
- kar1 / kar2: N - 1 Karras levels (rho 7) from the start down to sigma_min, then 0; NFE 2 (N - 1) - 1.
- rd (reverse diffusion) and pfode (its probability-flow variant, our fixed-step PF-ODE choice): the N
  geometric levels of a VE SDE whose sigma_max is the start, then 0; NFE N.
- em: score_sde's time grid t = linspace(1, eps, .) of that SDE, N steps; NFE N.
- rk45: adaptive (score_sde ODE sampler, t from 1 to eps = 1e-5); NFE = nfev.
"""

from __future__ import annotations

import torch

from repro.samplers import integrators as I
from repro.sde import VESDE, append_zero, geometric_sigmas, karras_sigmas

INTEGRATORS = ("kar1", "kar2", "rk45", "pfode", "rd", "em")
SAMPLING_EPS = 1e-5


def grid(name: str, n: int, sigma_start: torch.Tensor, sigma_min: float) -> torch.Tensor:
    """The integrator's sigma grid [B, L] for N = n from each sample's sigma_start [B]."""
    start = torch.as_tensor(sigma_start, dtype=torch.float64).clamp_min(sigma_min * (1 + 1e-9))
    if name in ("kar1", "kar2"):
        if n < 3:
            raise ValueError(f"{name} needs N >= 3 (N - 1 >= 2 Karras levels), got {n}")
        return append_zero(karras_sigmas(n - 1, start, sigma_min))
    if name in ("rd", "pfode"):
        return append_zero(geometric_sigmas(n, start, sigma_min))
    if name == "em":
        return VESDE(sigma_min, float(start.max())).time_sigmas(n + 1, start, SAMPLING_EPS)
    if name == "rk45":
        return VESDE(sigma_min, float(start.max())).time_sigmas(2, start, SAMPLING_EPS)
    raise ValueError(f"unknown integrator {name!r}; known: {', '.join(INTEGRATORS)}")


def denoise(
    name: str,
    score,
    x: torch.Tensor,
    sigma_start: torch.Tensor,
    *,
    n: int = 0,
    sigma_min: float = 0.01,
    tol: float = 1e-5,
    noise=torch.randn_like,
) -> torch.Tensor:
    """Integrate from each sample's sigma_start down to sigma_min with integrator `name` (N = n; rk45 uses tol)."""
    g = grid(name, n, sigma_start, sigma_min)
    if name == "kar1":
        return I.karras_heun(score, x, g)
    if name == "kar2":
        return I.karras_stochastic(score, x, g, noise=noise)
    if name == "rd":
        return I.reverse_diffusion(score, x, g, noise=noise)
    if name == "pfode":
        return I.probability_flow(score, x, g)
    if name == "em":
        return I.euler_maruyama(score, x, g, noise=noise)
    out, _ = I.rk45(score, x, g, rtol=tol, atol=tol)
    return out


def integrator_nfe(name: str, n: int) -> int:
    """Score evaluations of a fixed-step integrator with N = n (rk45 is adaptive: count it instead)."""
    if name in ("kar1", "kar2"):
        return 2 * (n - 1) - 1
    if name in ("rd", "pfode", "em"):
        return n
    raise ValueError(f"{name!r} has no fixed NFE")


def n_for_nfe(name: str, nfe: int) -> int:
    """The largest N whose integrator NFE does not exceed `nfe` (>= the integrator's minimum)."""
    if name in ("kar1", "kar2"):
        n = (nfe + 3) // 2
        if n < 3:
            raise ValueError(f"{name}: an NFE of {nfe} is below the minimum of 3")
        return n
    if name in ("rd", "pfode", "em"):
        if nfe < 1:
            raise ValueError(f"{name}: NFE must be >= 1, got {nfe}")
        return nfe
    raise ValueError(f"{name!r} has no fixed NFE")


def split_budget(name: str, budget: int, skip_fraction: float, dlg: bool) -> tuple[int, int]:
    """(n_skip, N) so that n_skip + NFE(integrator, N) + 1 (Tweedie) equals `budget` exactly.

    Without DLG n_skip = 0; with DLG about `skip_fraction` of the budget goes to Gibbs sweeps (at least 1) and
    any NFE the integrator cannot use (Karras NFE is odd) moves to n_skip.
    """
    rest = budget - 1
    n_skip = max(1, round(skip_fraction * budget)) if dlg else 0
    n = n_for_nfe(name, rest - n_skip)
    used = integrator_nfe(name, n)
    if used != rest - n_skip:
        if not dlg:
            raise ValueError(f"{name}: budget {budget} cannot be met exactly without DLG (N={n} uses {used + 1})")
        n_skip = rest - used
    return n_skip, n
