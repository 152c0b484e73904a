"""SDEs with one base (as score_sde's sde_lib) and the one place that defines sigma schedules.

Every SDE gives `sigma(t)`, the noise level of x_t / alpha_t (the VE coordinate in which the samplers of
`repro.diffusion.samplers` work), its marginal, prior, forward coefficients, discretisation and reverse SDE.
Schedules return a descending grid `[L]`, or `[B, L]` when the start sigma is given per sample (DLG denoises
each chain from its own sigma). Integrators take `L - 1` steps along such a grid.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
import torch

Score = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Drift = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _as_tensor(v, dtype=torch.float64) -> torch.Tensor:
    return torch.as_tensor(v, dtype=dtype)


def _col(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return v.to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))


class SDE(ABC):
    """dx = f(x, t) dt + g(t) dw on t in [0, 1], with a Gaussian marginal N(alpha_t x_0, std_t^2 I)."""

    def __init__(self, n: int) -> None:
        self.n = int(n)

    @abstractmethod
    def sigma(self, t) -> torch.Tensor:
        """std_t / alpha_t: the noise level of x_t / alpha_t."""

    @abstractmethod
    def alpha(self, t) -> torch.Tensor:
        """The signal scale alpha_t of the marginal mean."""

    @abstractmethod
    def t_of_sigma(self, sigma) -> torch.Tensor:
        """The inverse of `sigma(t)`: a sampler walking a sigma grid asks a time-conditioned model at this t."""

    @abstractmethod
    def marginal_prob(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean [B, ...] and std [B] of x_t given x_0 = x."""

    @abstractmethod
    def prior_sampling(self, shape, generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
        """A draw of x_1."""

    @abstractmethod
    def sde(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Drift f(x, t) [B, ...] and diffusion g(t) [B]."""

    def discretize(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Euler-Maruyama with dt = 1/n (score_sde's default): f dt and g sqrt(dt)."""
        dt = 1.0 / self.n
        f, g = self.sde(x, t)
        return f * dt, g * math.sqrt(dt)

    def reverse(
        self, score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], probability_flow: bool = False
    ) -> Drift:
        """The reverse-time SDE (or its probability-flow ODE) as `(x, t) -> (drift, diffusion)`, with `score(x, t)`.

        drift = f - g^2 s (halved for the ODE, whose diffusion is 0), as Anderson (1982) / score_sde.
        """
        weight = 0.5 if probability_flow else 1.0

        def coefficients(x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            f, g = self.sde(x, t)
            drift = f - weight * _col(g**2, x) * score(x, t)
            return drift, torch.zeros_like(g) if probability_flow else g

        return coefficients


class VESDE(SDE):
    """Variance exploding: x_t = x_0 + sigma(t) z, sigma(t) = sigma_min (sigma_max / sigma_min)^t, t in [0, 1]."""

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, n: int = 1000) -> None:
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"VESDE needs 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        super().__init__(n)
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self.log_ratio = math.log(self.sigma_max / self.sigma_min)

    def sigma(self, t) -> torch.Tensor:
        """A float tensor t keeps its dtype (a loss computes in its batch's); other t is taken as float64."""
        t = t if isinstance(t, torch.Tensor) and t.is_floating_point() else _as_tensor(t)
        return self.sigma_min * torch.exp(t * self.log_ratio)

    def alpha(self, t) -> torch.Tensor:
        return torch.ones_like(_as_tensor(t))

    def t_of_sigma(self, sigma) -> torch.Tensor:
        return torch.log(_as_tensor(sigma) / self.sigma_min) / self.log_ratio

    def marginal_prob(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std of x_t given x_0 = x."""
        return x, self.sigma(t).to(x.dtype)

    def prior_sampling(self, shape, generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
        return self.sigma_max * torch.randn(tuple(shape), generator=generator, dtype=dtype)

    def sde(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Drift f(x, t) = 0 and diffusion g(t) = sigma(t) sqrt(2 ln(sigma_max / sigma_min)), g per sample [B]."""
        g = self.sigma(t) * math.sqrt(2 * self.log_ratio)
        return torch.zeros_like(x), g.to(x.dtype)

    def discrete_sigmas(self) -> torch.Tensor:
        """score_sde's n discrete levels, ascending from sigma_min to sigma_max."""
        return torch.exp(
            torch.linspace(math.log(self.sigma_min), math.log(self.sigma_max), self.n, dtype=torch.float64)
        )

    def discretize(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """score_sde's SMLD discretisation: f = 0, G = sqrt(sigma_i^2 - sigma_{i-1}^2) on the discrete levels."""
        levels = self.discrete_sigmas()
        i = (_as_tensor(t) * (self.n - 1)).long()  # truncation, as upstream
        adjacent = torch.where(i == 0, torch.zeros_like(levels[i]), levels[(i - 1).clamp_min(0)])
        return torch.zeros_like(x), torch.sqrt(levels[i] ** 2 - adjacent**2).to(x.dtype)

    def time_sigmas(self, n: int, sigma_start=None, eps: float = 1e-5) -> torch.Tensor:
        """sigma at t_i = linspace(1, eps, n) of the VE SDE whose sigma_max is `sigma_start` (default sigma_max).

        This is the grid of score_sde's time-based samplers; a per-sample `sigma_start` [B] gives [B, n], as in
        the DMCMC code that passes a vector sigma_max to the VE SDE.
        """
        start = _as_tensor(self.sigma_max if sigma_start is None else sigma_start)
        end = self.sigma_min * (start / self.sigma_min) ** eps
        return geometric_sigmas(n, start, end)


class SubVPSDE(SDE):
    """sub-VP: x_t = alpha_t x_0 + std_t z; B(t) = t^2 (b_max - b_min)/2 + t b_min, alpha = e^{-B/2}, std = 1 - e^{-B}.

    (Subspace sheet Sec. 2.2; score_sde's subVPSDE.)
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, n: int = 1000) -> None:
        if not 0 < beta_min < beta_max:
            raise ValueError(f"SubVPSDE needs 0 < beta_min < beta_max, got {beta_min}, {beta_max}")
        super().__init__(n)
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def beta(self, t) -> torch.Tensor:
        return self.beta_min + _as_tensor(t) * (self.beta_max - self.beta_min)

    def integrated_beta(self, t) -> torch.Tensor:
        t = _as_tensor(t)
        return 0.5 * t**2 * (self.beta_max - self.beta_min) + t * self.beta_min

    def alpha(self, t) -> torch.Tensor:
        return torch.exp(-0.5 * self.integrated_beta(t))

    def std(self, t) -> torch.Tensor:
        return -torch.expm1(-self.integrated_beta(t))

    def sigma(self, t) -> torch.Tensor:
        return self.std(t) / self.alpha(t)

    def t_of_sigma(self, sigma) -> torch.Tensor:
        """sigma = std / alpha = e^{B/2} - e^{-B/2} = 2 sinh(B/2), so B = 2 asinh(sigma / 2)."""
        return self._t_of_integrated_beta(2 * torch.asinh(_as_tensor(sigma) / 2))

    def t_of_std(self, std) -> torch.Tensor:
        """Inverse of std(t) (the quadratic B(t) = -ln(1 - std) solved for t >= 0)."""
        return self._t_of_integrated_beta(-torch.log1p(-_as_tensor(std)))

    def _t_of_integrated_beta(self, b: torch.Tensor) -> torch.Tensor:
        """The t >= 0 with B(t) = b (B quadratic in t)."""
        a = 0.5 * (self.beta_max - self.beta_min)
        return (-self.beta_min + torch.sqrt(self.beta_min**2 + 4 * a * b)) / (2 * a)

    def marginal_prob(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = _col(self.alpha(t), x)
        return a * x, self.std(t).to(x.dtype)

    def prior_sampling(self, shape, generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
        return torch.randn(tuple(shape), generator=generator, dtype=dtype)

    def sde(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """f = -beta(t) x / 2, g = sqrt(beta(t) (1 - e^{-2 B(t)})), g per sample [B]."""
        beta = self.beta(t)
        drift = -0.5 * _col(beta, x) * x
        g = torch.sqrt(beta * -torch.expm1(-2 * self.integrated_beta(t)))
        return drift, g.to(x.dtype)


def geometric_sigmas(n: int, sigma_start, sigma_end) -> torch.Tensor:
    """n levels log-uniform from sigma_start to sigma_end (each a scalar or [B]); [n] or [B, n] in float64."""
    if n < 2:
        raise ValueError(f"a sigma grid needs n >= 2 levels, got {n}")
    start, end = _as_tensor(sigma_start).cpu(), _as_tensor(sigma_end).cpu()
    if (start <= 0).any() or (end <= 0).any():
        raise ValueError("geometric_sigmas needs positive sigma_start and sigma_end")
    # numpy to the bit, as the official NCSN code's np.exp(np.linspace(np.log(b), np.log(e), n)).
    logs = np.linspace(np.log(start.numpy()), np.log(end.numpy()), n, axis=-1)
    return torch.from_numpy(np.exp(logs))


def karras_sigmas(n: int, sigma_start, sigma_min: float = 0.01, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. (2022) schedule, n levels from sigma_start (scalar or [B]) to sigma_min; [n] or [B, n]."""
    if n < 2:
        raise ValueError(f"a Karras schedule needs n >= 2 levels, got {n}")
    start = _as_tensor(sigma_start)
    if (start < sigma_min).any():
        raise ValueError(f"karras_sigmas: sigma_start must be >= sigma_min={sigma_min}")
    u = torch.linspace(0, 1, n, dtype=torch.float64, device=start.device)
    return (start[..., None] ** (1 / rho) + u * (sigma_min ** (1 / rho) - start[..., None] ** (1 / rho))) ** rho


def dlg_level_grid(sigma_min: float = 0.01, sigma_max: float = 50.0, k: int = 1000, t_min: float = 1e-3):
    """The DLG noise-level classifier's K classes: sigma(t_k), t_k = linspace(1, t_min, K); class 0 is sigma_max."""
    return VESDE(sigma_min, sigma_max).sigma(torch.linspace(1.0, t_min, k, dtype=torch.float64))


def append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    """Append a final sigma = 0 (the reverse-diffusion predictor's last step removes all noise)."""
    return torch.cat([sigmas, torch.zeros_like(sigmas[..., :1])], dim=-1)


def sigma_score(sde: SDE, score_t: Score) -> Score:
    """A time-conditioned score s(x, t) of x_t as the samplers' s(y, sigma) of y = x / alpha_t at noise level sigma.

    y = x / alpha has the density alpha^d p_t(alpha y), so its score is alpha s(alpha y, t) with t = t_of_sigma(sigma):
    how a sub-VP model (DDPM++) runs under the VE-coordinate samplers.
    """

    def score(y: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        t = sde.t_of_sigma(sigma.double()).to(y.dtype)
        a = _col(sde.alpha(t), y)
        return a * score_t(a * y, t)

    return score


def time_score(sde: SDE, score_y: Score) -> Score:
    """The inverse of `sigma_score`: a score s_y(y, sigma) of y = x / alpha_t as the score s(x, t) of x_t,
    s(x, t) = s_y(x / alpha_t, sigma(t)) / alpha_t (for the probability-flow ODE in time)."""

    def score(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = _col(sde.alpha(t.double()).to(x.dtype), x)
        return score_y(x / a, sde.sigma(t.double()).to(x.dtype)) / a

    return score
