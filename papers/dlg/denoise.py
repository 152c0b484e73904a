"""The six integrators as DMCMC names and configures them, started from a per-sample sigma, and NFE budgets.

Each DMCMC name maps to a sampler of `repro.diffusion.samplers.table`, which holds its grid and NFE rule
(kar1 / kar2: Karras Heun / stochastic; rd: reverse diffusion; pfode: its fixed-step probability-flow variant,
our choice; em: Euler-Maruyama on score_sde's time grid; rk45: adaptive, its NFE counted).
"""

from __future__ import annotations

import torch

from repro.diffusion.samplers import table
from repro.diffusion.samplers.table import SamplerSpec

SAMPLER_OF = {
    "kar1": "karras_heun",
    "kar2": "karras_stochastic",
    "rk45": "rk45",
    "pfode": "probability_flow",
    "rd": "reverse_diffusion",
    "em": "euler_maruyama",
}
INTEGRATORS = tuple(SAMPLER_OF)


def spec(name: str) -> SamplerSpec:
    """The table entry of a DMCMC integrator name."""
    if name not in SAMPLER_OF:
        raise ValueError(f"unknown integrator {name!r}; known: {', '.join(INTEGRATORS)}")
    return table.get(SAMPLER_OF[name])


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
    s = spec(name)
    options = {"rtol": tol, "atol": tol} if s.adaptive else {}
    return s.fn(score, x, s.sigmas(n, sigma_start, sigma_min), noise=noise, **options)


def split_budget(name: str, budget: int, skip_fraction: float, dlg: bool) -> tuple[int, int]:
    """(n_skip, N) so that n_skip + NFE(integrator, N) + 1 (Tweedie) equals `budget` exactly.

    Without DLG n_skip = 0; with DLG about `skip_fraction` of the budget goes to Gibbs sweeps (at least 1) and
    any NFE the integrator cannot use (Karras NFE is odd) moves to n_skip.
    """
    s = spec(name)
    rest = budget - 1
    n_skip = max(1, round(skip_fraction * budget)) if dlg else 0
    n = s.n_for_nfe(rest - n_skip)
    used = s.nfe(n)
    if used != rest - n_skip:
        if not dlg:
            raise ValueError(f"{name}: budget {budget} cannot be met exactly without DLG (N={n} uses {used + 1})")
        n_skip = rest - used
    return n_skip, n
