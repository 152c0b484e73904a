"""Denoising Langevin Gibbs: persistent chains on (x, sigma), minimum-sigma selection, denoising, Tweedie.

One Gibbs sweep costs one score evaluation: a Langevin step on p(x | sigma) with a fixed step eta (no sigma^2
scaling), then sigma <- the level of argmax_k q(k | x) (or a draw from q, an ablation). Score calls are counted
by the caller's `CountingScore`; classifier calls by `ClassifierCalls`. `DLGSection` is the experiments' `dlg:`
config section; it makes the `DLGSettings` of one point of the NFE axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from papers.dlg.denoise import denoise, spec, split_budget
from repro.diffusion.samplers.integrators import karras_stochastic
from repro.diffusion.sde import append_zero, karras_sigmas

Noise = Callable[[torch.Tensor], torch.Tensor]


class ClassifierCalls:
    """Counts classifier evaluations separately from score evaluations (they are not part of the NFE)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fn(x)


def level_sigma(
    classifier, levels: torch.Tensor, x: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """sigma of argmax_k q(k | x) (index 0 = sigma_max), or of a draw from q when `sample`."""
    logits = classifier(x)
    if sample:
        probs = torch.softmax(logits.double(), -1)
        if generator is not None:  # a generator draws on its own device (a CPU one may feed CUDA chains)
            probs = probs.to(generator.device)
        k = torch.multinomial(probs, 1, generator=generator).squeeze(-1).to(x.device)
    else:
        k = logits.max(-1).indices  # = argmax (first maximum on ties), several times faster on the CPU
    return levels.to(device=x.device, dtype=x.dtype)[k]


def gibbs_sweep(
    score,
    classifier,
    levels,
    x,
    sigma,
    eta: float,
    *,
    noise: Noise = torch.randn_like,
    sample_level: bool = False,
    generator: torch.Generator | None = None,
):
    """x <- x + (eta/2) s(x, sigma) + sqrt(eta) z; sigma <- level(classifier(x)). Returns (x, sigma)."""
    x = x + 0.5 * eta * score(x, sigma) + math.sqrt(eta) * noise(x)
    return x, level_sigma(classifier, levels, x, sample_level, generator)


def keep_min_sigma(x_min, s_min, x, s):
    """Per chain, the state with the smaller sigma (ties keep the earlier state, as upstream)."""
    better = s < s_min
    return torch.where(better.reshape(-1, *([1] * (x.ndim - 1))), x, x_min), torch.where(better, s, s_min)


@dataclass
class DLGSettings:
    """One DLG configuration; `burn_in` is a list of (sweeps, eta) phases run once after initialisation."""

    eta: float
    n_skip: int
    burn_in: Sequence[tuple[int, float]]
    sigma_max: float
    sigma_min: float = 0.01
    init_levels: int = 20
    init_noise: float = 0.5
    tweedie_eps: float = 1e-2
    sample_level: bool = False


@dataclass(frozen=True, kw_only=True)
class DLGSection:
    """The `dlg:` config section: `chains` persistent chains, Langevin step `eta`, `burn_in` phases (sweeps, eta),
    KAR2 initialisation with `init_levels` levels plus `init_noise` z, the Tweedie step at `tweedie_eps`, the share
    `skip_fraction` of a budget spent on Gibbs sweeps, and the sweeps `rk45_skip` before an RK45 denoise."""

    chains: int
    eta: float
    burn_in: tuple[tuple[int, float], ...]
    init_levels: int
    init_noise: float
    tweedie_eps: float
    skip_fraction: float
    rk45_skip: int

    def split(
        self, integrator: str, dlg: bool, budget: int | None = None, tol: float | None = None
    ) -> tuple[int, int, float]:
        """(n_skip, N, tol) of a point: RK45 runs at `tol` after `rk45_skip` sweeps (with DLG); a fixed-step
        integrator spends its `budget` as `denoise.split_budget` says."""
        if spec(integrator).adaptive:
            return (self.rk45_skip if dlg else 0), 0, tol
        n_skip, n = split_budget(integrator, budget, self.skip_fraction, dlg)
        return n_skip, n, 0.0

    def settings(self, n_skip: int, sigma_max: float, sigma_min: float) -> DLGSettings:
        """The chains' settings for a point that spends `n_skip` sweeps per output."""
        return DLGSettings(
            eta=self.eta,
            n_skip=n_skip,
            burn_in=list(self.burn_in),
            sigma_max=sigma_max,
            sigma_min=sigma_min,
            init_levels=self.init_levels,
            init_noise=self.init_noise,
            tweedie_eps=self.tweedie_eps,
        )


class DLGChains:
    """Persistent chains; `initialise` once, then each `round` yields one denoised sample per chain."""

    def __init__(
        self,
        score,
        classifier,
        levels: torch.Tensor,
        settings: DLGSettings,
        noise: Noise = torch.randn_like,
        generator: torch.Generator | None = None,
    ) -> None:
        self.score, self.classifier, self.levels, self.cfg = score, classifier, levels, settings
        self.noise, self.generator = noise, generator
        self.x: torch.Tensor | None = None
        self.sigma: torch.Tensor | None = None

    def _sweep(self, eta: float) -> None:
        self.x, self.sigma = gibbs_sweep(
            self.score,
            self.classifier,
            self.levels,
            self.x,
            self.sigma,
            eta,
            noise=self.noise,
            sample_level=self.cfg.sample_level,
            generator=self.generator,
        )

    def initialise(self, x_prior: torch.Tensor) -> None:
        """x_prior = sigma_max z: KAR2 with `init_levels` from sigma_max, add init_noise z, classify, burn in."""
        c = self.cfg
        start = torch.full((x_prior.shape[0],), c.sigma_max, dtype=torch.float64)  # on the host, as every grid
        x = karras_stochastic(
            self.score, x_prior, append_zero(karras_sigmas(c.init_levels - 1, start, c.sigma_min)), noise=self.noise
        )
        self.x = x + c.init_noise * self.noise(x)
        self.sigma = level_sigma(self.classifier, self.levels, self.x, c.sample_level, self.generator)
        for sweeps, eta in c.burn_in:
            for _ in range(sweeps):
                self._sweep(eta)

    def select(self, n_skip: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run n_skip sweeps; per chain return the lowest-sigma state of the block, its start included."""
        if self.x is None:
            raise RuntimeError("DLGChains.select before initialise")
        x_min, s_min = self.x, self.sigma
        for _ in range(self.cfg.n_skip if n_skip is None else n_skip):
            self._sweep(self.cfg.eta)
            x_min, s_min = keep_min_sigma(x_min, s_min, self.x, self.sigma)
        return x_min, s_min

    def round(self, integrator: str, n: int, tol: float = 1e-5) -> torch.Tensor:
        """One output per chain: select, denoise from the selected sigma with the integrator, Tweedie step."""
        x_sel, s_sel = self.select()
        x = denoise(integrator, self.score, x_sel, s_sel, n=n, sigma_min=self.cfg.sigma_min, tol=tol, noise=self.noise)
        return tweedie(self.score, x, self.cfg.tweedie_eps)


def tweedie(score, x: torch.Tensor, eps: float) -> torch.Tensor:
    """x + eps^2 s(x, eps): the final denoising step (one score evaluation)."""
    return x + eps**2 * score(x, torch.full((x.shape[0],), eps, dtype=x.dtype, device=x.device))


def vanilla(
    score,
    integrator: str,
    x_prior: torch.Tensor,
    *,
    sigma_max: float,
    n: int,
    sigma_min: float = 0.01,
    tweedie_eps: float = 1e-2,
    tol: float = 1e-5,
    noise: Noise = torch.randn_like,
) -> torch.Tensor:
    """The baseline: the integrator from sigma_max for every sample, then the same Tweedie step."""
    start = torch.full((x_prior.shape[0],), sigma_max, dtype=torch.float64)  # on the host, as every grid
    x = denoise(integrator, score, x_prior, start, n=n, sigma_min=sigma_min, tol=tol, noise=noise)
    return tweedie(score, x, tweedie_eps)
