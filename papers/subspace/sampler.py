"""Subspace diffusion sampling (paper Sec. 4, official `subspace_sample.py`) on one shared grid of N steps.

Stage 1 runs the subspace model for the first n_sub steps of the grid, in subspace coordinates (same σ_max: the
projection of N(0, σ_max² I) is N(0, σ_max² I) in orthonormal coordinates). At the boundary level σ_b = sigmas[n_sub]
the sample is lifted with orthogonal noise of std sqrt(σ_b² + σ⊥²), corrected by conditional Langevin steps on the
orthogonal complement only, and stage 2 runs the full model for the remaining steps with the final denoising.

Deviation recorded: the official code samples each stage on its own linspace (start and end inclusive), so t₁ is
visited twice and the step count can be N − 1; here both stages share one grid and the total is always N.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from papers.subspace.method import Score, lift, projected_operator
from repro.config import ExperimentConfig, read_from
from repro.diffusion.samplers.integrators import Noise, per_sample_grid
from repro.diffusion.samplers.pc import langevin_corrector, pc_sampler


def div_rule(threshold: float) -> str:
    """The name of the divergence cut-off rule at `threshold`, as arms, rows and `bpd_rules` spell it."""
    return f"div{threshold:g}"


@dataclass(frozen=True)
class PCSettings:
    snr: float = 0.16  # score_sde NCSN++ CIFAR-10
    n_corrector: int = 1
    boundary_snr: float = 0.22  # NCSN++ (VE) CIFAR-10 in the official README
    boundary_steps: int = 2
    norms: str = "batch"  # score_sde's batch-averaged corrector norms


@dataclass(frozen=True, kw_only=True)
class SubspaceConfig(ExperimentConfig):
    """The keys every subspace experiment shares: subspace levels, the VE noise range, the divergence cut-off rule
    (D_F on `n_times` times, one cut per threshold, plus fixed cuts) and the PC sampler of both stages."""

    levels: tuple[int, ...]  # 1: the H/2 × W/2 subspace, 2: H/4 × W/4
    sigma_min: float  # the VE noise range
    sigma_max: float
    # the orthogonal Fisher divergence and the cut-off rule (computed in the sample stage)
    n_div_samples: int = read_from("sample")
    n_times: int = read_from("sample")
    thresholds: tuple[float, ...] = read_from("sample")
    fixed_cut_times: tuple[float, ...] = read_from("sample")
    # the samplers: `n_samples` draws with N = `n_steps` steps on one grid
    n_steps: int = read_from("sample")
    n_samples: int = read_from("sample")
    # predictor-corrector steps of both stages and the boundary's conditional Langevin steps (`pc`)
    snr: float = read_from("sample")
    n_corrector: int = read_from("sample")
    boundary_snr: float = read_from("sample")
    boundary_steps: int = read_from("sample")

    @property
    def pc(self) -> PCSettings:
        return PCSettings(
            snr=self.snr,
            n_corrector=self.n_corrector,
            boundary_snr=self.boundary_snr,
            boundary_steps=self.boundary_steps,
        )


def subspace_sample(
    full_score: Score,
    sub_score: Score,
    y: torch.Tensor,
    sigmas,
    *,
    n_sub: int,
    levels: int,
    sigma_perp: float,
    noise: Noise = torch.randn_like,
    pc: PCSettings = PCSettings(),
    offset: float = 0.0,
) -> torch.Tensor:
    """Sample with the subspace model for grid steps [0, n_sub) and the full model for the rest.

    `y` is the prior draw in subspace coordinates, `sigmas` the full grid [L] (L − 1 steps, ending at 0).
    `offset` (VE coordinates) is subtracted from the subspace sample before it is lifted: the subspace model's data
    minus the projection of the full model's data (sub-VP DDPM++ on centred CIFAR-10: 2^k − 1, sheet §2.5).
    """
    grid = per_sample_grid(sigmas, y)
    n = grid.shape[1] - 1
    if not 1 <= n_sub <= n:
        raise ValueError(f"n_sub must be in 1..{n} (use pc_sampler for full-space sampling), got {n_sub}")
    common = dict(noise=noise, snr=pc.snr, n_corrector=pc.n_corrector, norms=pc.norms)
    y = pc_sampler(sub_score, y, grid[:, : n_sub + 1], denoise=n_sub == n, **common)
    sigma_b = grid[:, n_sub]
    x = lift(y - offset, levels, (sigma_b**2 + sigma_perp**2).sqrt(), noise)
    if n_sub == n:
        return x
    if pc.boundary_steps:
        x = langevin_corrector(
            full_score,
            x,
            sigma_b,
            snr=pc.boundary_snr,
            n_steps=pc.boundary_steps,
            noise=noise,
            project=projected_operator(levels),
            norms=pc.norms,
        )
    return pc_sampler(full_score, x, grid[:, n_sub:], denoise=True, **common)
