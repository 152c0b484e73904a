"""One table from sampler name to its function, its sigma grid and its NFE rule, so no caller dispatches on names.

Grids start at a per-sample sigma [B] (DLG denoises each chain from its own level) and end at `sigma_min`:
- karras_heun / karras_stochastic: N - 1 Karras levels (rho 7) down to sigma_min, then 0; NFE 2 (N - 1) - 1.
- reverse_diffusion / probability_flow: the N geometric levels of a VE SDE whose sigma_max is the start, then 0
  (score_sde's SMLD grid); NFE N.
- euler_maruyama: score_sde's time grid t = linspace(1, eps, N + 1) of that SDE; NFE N.
- rk45: adaptive on [start, sigma(eps)]; its NFE is what `CountingScore` counts, no rule gives it in advance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from repro.diffusion.samplers import integrators as I
from repro.diffusion.sde import VESDE, append_zero, geometric_sigmas, karras_sigmas

SAMPLING_EPS = 1e-5  # score_sde's end time of its time-based samplers


def _karras_grid(n: int, start: torch.Tensor, sigma_min: float) -> torch.Tensor:
    return append_zero(karras_sigmas(n - 1, start, sigma_min))


def _geometric_grid(n: int, start: torch.Tensor, sigma_min: float) -> torch.Tensor:
    return append_zero(geometric_sigmas(n, start, sigma_min))


def _time_grid(n: int, start: torch.Tensor, sigma_min: float) -> torch.Tensor:
    return VESDE(sigma_min, float(start.max())).time_sigmas(n + 1, start, SAMPLING_EPS)


def _ends_grid(n: int, start: torch.Tensor, sigma_min: float) -> torch.Tensor:
    return VESDE(sigma_min, float(start.max())).time_sigmas(2, start, SAMPLING_EPS)


@dataclass(frozen=True)
class SamplerSpec:
    """A sampler with its grid `(N, sigma_start [B], sigma_min) -> [B, L]` and its NFE as `nfe_per_n * N + nfe_offset`
    (None for adaptive samplers); `min_n` is the smallest N its grid allows."""

    fn: Callable[..., torch.Tensor]
    grid: Callable[[int, torch.Tensor, float], torch.Tensor]
    nfe_per_n: int | None
    nfe_offset: int = 0
    min_n: int = 1

    @property
    def adaptive(self) -> bool:
        return self.nfe_per_n is None

    def sigmas(self, n: int, sigma_start, sigma_min: float) -> torch.Tensor:
        """The grid [B, L] from each sample's start (clamped just above sigma_min, so every grid descends).

        Grids are built on the host in float64 whatever device the start is on (DLG selects levels on the chains'
        device); the samplers move them to x's device and dtype.
        """
        if not self.adaptive and n < self.min_n:
            raise ValueError(f"{self.fn.__name__} needs N >= {self.min_n}, got {n}")
        start = torch.as_tensor(sigma_start).to("cpu", torch.float64).clamp_min(sigma_min * (1 + 1e-9))
        return self.grid(n, start, sigma_min)

    def nfe(self, n: int) -> int:
        """Score evaluations with N = n (an adaptive sampler has none in advance: count it)."""
        if self.adaptive:
            raise ValueError(f"{self.fn.__name__} is adaptive: its NFE is counted, not given by N")
        return self.nfe_per_n * n + self.nfe_offset

    def n_for_nfe(self, nfe: int) -> int:
        """The largest N whose NFE does not exceed `nfe`."""
        if self.adaptive:
            raise ValueError(f"{self.fn.__name__} is adaptive: no N matches an NFE")
        n = (nfe - self.nfe_offset) // self.nfe_per_n
        if n < self.min_n:
            raise ValueError(f"{self.fn.__name__}: an NFE of {nfe} is below the minimum of {self.nfe(self.min_n)}")
        return n


SAMPLERS: dict[str, SamplerSpec] = {
    "karras_heun": SamplerSpec(I.karras_heun, _karras_grid, 2, -3, min_n=3),
    "karras_stochastic": SamplerSpec(I.karras_stochastic, _karras_grid, 2, -3, min_n=3),
    "reverse_diffusion": SamplerSpec(I.reverse_diffusion, _geometric_grid, 1),
    "probability_flow": SamplerSpec(I.probability_flow, _geometric_grid, 1),
    "euler_maruyama": SamplerSpec(I.euler_maruyama, _time_grid, 1),
    "rk45": SamplerSpec(I.rk45, _ends_grid, None),
}


def get(name: str) -> SamplerSpec:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]
