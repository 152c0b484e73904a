"""Every sampler of the engine and the papers as one table of small cases with an exact score, for the device tests.

Each case takes the start `x` (any device and dtype) and a noise function and returns the sample; scores,
classifiers and grids are built the way callers build them (grids on the host, nets on x's device).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from papers.dlg.gibbs import DLGChains, DLGSettings, vanilla
from papers.subspace.operators import down
from papers.subspace.sampler import subspace_sample
from repro.diffusion.samplers import langevin, pc
from repro.diffusion.samplers.table import SAMPLERS
from repro.diffusion.sde import append_zero, geometric_sigmas

Noise = Callable[[torch.Tensor], torch.Tensor]
Case = Callable[[torch.Tensor, Noise], torch.Tensor]
V0 = 0.25  # the data: N(0, V0 I)
SIGMA_MAX = 2.0
# read the device on the host: rk45 its error estimate once per step, a DLG round the selected levels (its grids are
# built on the host) once per round
HOST_READS = {"rk45", "dlg_round"}


def gauss_score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The exact VE score of N(0, V0 I) at per-sample sigma [B]."""
    return -x / (V0 + sigma.reshape(-1, *([1] * (x.ndim - 1))) ** 2)


def _levels() -> torch.Tensor:
    return geometric_sigmas(8, SIGMA_MAX, 0.01)  # on the host, as DLG keeps its level grid


def _std_classifier(x: torch.Tensor) -> torch.Tensor:
    """Logits of the noise level nearest to each sample's std, computed on x's device."""
    std = (x.flatten(1).var(1) - V0).clamp_min(0).sqrt()
    return -((std[:, None] - _levels().to(x.device, x.dtype)[None]) ** 2)


def _table_case(name: str) -> Case:
    spec = SAMPLERS[name]

    def case(x: torch.Tensor, noise: Noise) -> torch.Tensor:
        grid = spec.sigmas(6, torch.full((x.shape[0],), SIGMA_MAX), 0.01)
        options = {"rtol": 1e-3, "atol": 1e-3} if spec.adaptive else {}
        return spec.fn(gauss_score, x, grid, noise=noise, **options)

    return case


def _chains(x: torch.Tensor, noise: Noise) -> DLGChains:
    settings = DLGSettings(eta=1e-3, n_skip=2, burn_in=[(2, 1e-3)], sigma_max=SIGMA_MAX, init_levels=4)
    chains = DLGChains(gauss_score, _std_classifier, _levels(), settings, noise=noise)
    chains.initialise(x)
    return chains


def _subspace(x: torch.Tensor, noise: Noise) -> torch.Tensor:
    grid = append_zero(geometric_sigmas(6, SIGMA_MAX, 0.01))
    return subspace_sample(gauss_score, gauss_score, down(x, 1), grid, n_sub=3, levels=1, sigma_perp=0.1, noise=noise)


def sampler_cases() -> dict[str, Case]:
    """Name -> case, for every sampler: the table's integrators, PC, Langevin (annealed and single-level), the DLG
    chains (initialisation and Gibbs sweeps with the level classifier; a whole round adds the integrator and
    Tweedie), DLG's vanilla baseline and subspace sampling."""
    grid = geometric_sigmas(3, SIGMA_MAX, 0.01).tolist()
    return {
        **{name: _table_case(name) for name in SAMPLERS},
        "pc_sampler": lambda x, noise: pc.pc_sampler(
            gauss_score, x, append_zero(geometric_sigmas(6, SIGMA_MAX, 0.01)), noise=noise
        ),
        "annealed_langevin": lambda x, noise: langevin.annealed_langevin(gauss_score, x, grid, n_steps=2, noise=noise),
        "langevin": lambda x, noise: langevin.langevin(gauss_score, x, 0.01, n_steps=3, noise=noise),
        "dlg_sweeps": lambda x, noise: _chains(x, noise).select()[0],
        "dlg_round": lambda x, noise: _chains(x, noise).round("kar2", n=4),
        "dlg_vanilla": lambda x, noise: vanilla(gauss_score, "kar1", x, sigma_max=SIGMA_MAX, n=4, noise=noise),
        "subspace_sample": _subspace,
    }
