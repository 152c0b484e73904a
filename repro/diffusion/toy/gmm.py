"""Isotropic Gaussian mixtures with exact VE-perturbed densities, scores and noise-level posteriors.

Convolving N(mu_m, s_m^2 I) with N(0, sigma^2 I) gives N(mu_m, (s_m^2 + sigma^2) I), so every quantity a
score-based sampler needs is available in closed form: this removes score-approximation error from
sampler comparisons. With `stds=0` the component variance is sigma^2 alone (the NCSN toy convention).
"""

from __future__ import annotations

import math

import torch

SigmaLike = float | torch.Tensor


# exp of an argument below this gives a float32 subnormal, which takes a slow path (~10x); e^-87 < 1e-37 is far
# below the rounding of a sum that holds a 1 (the max term), so clamping there leaves logsumexp bit-identical
_EXP_FLOOR = -87.0


def _logsumexp_first(comp: torch.Tensor) -> torch.Tensor:
    """logsumexp over dim 0, as torch.logsumexp (same max shift and summation order) but with negligible terms
    clamped to `_EXP_FLOOR` so that no subnormal is formed; for finite inputs."""
    peak = comp.amax(0)
    return (comp - peak).clamp_min_(_EXP_FLOOR).exp_().sum(0).log_().add_(peak)


class GaussianMixture:
    """sum_m w_m N(mu_m, s_m^2 I) in d dimensions; computations run in `dtype` (float64 by default)."""

    def __init__(self, weights, means, stds: float | torch.Tensor = 0.0, dtype: torch.dtype = torch.float64) -> None:
        self.weights = torch.as_tensor(weights, dtype=dtype)
        self.means = torch.as_tensor(means, dtype=dtype)
        if self.means.ndim != 2:
            raise ValueError(f"means must be [M, d], got shape {tuple(self.means.shape)}")
        m = self.means.shape[0]
        if self.weights.shape != (m,):
            raise ValueError(f"weights must be [M]={m}, got shape {tuple(self.weights.shape)}")
        if (self.weights < 0).any() or not math.isclose(float(self.weights.sum()), 1.0, rel_tol=1e-9):
            raise ValueError(f"weights must be non-negative and sum to 1, got {self.weights.tolist()}")
        self.stds = torch.as_tensor(stds, dtype=dtype).expand(m).clone()
        if (self.stds < 0).any():
            raise ValueError(f"stds must be non-negative, got {self.stds.tolist()}")
        self.dtype = dtype

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    def _sigma(self, sigma: SigmaLike, batch: int) -> torch.Tensor:
        """Sigma as a [B] tensor in the mixture's dtype (a scalar is broadcast)."""
        s = torch.as_tensor(sigma, dtype=self.dtype)
        if s.ndim == 0:
            return s.expand(batch)
        if s.shape != (batch,):
            raise ValueError(f"sigma must be a scalar or [B]={batch}, got shape {tuple(s.shape)}")
        return s

    def _sq_dist(self, x: torch.Tensor) -> torch.Tensor:
        """||x_b - mu_m||^2 as [B, M]."""
        return torch.cdist(x, self.means, compute_mode="donot_use_mm_for_euclid_dist").square()

    def _log_normal(self, sq: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        if (var <= 0).any():
            raise ValueError("a component has zero variance (stds=0 and sigma=0): the density is not defined")
        return -0.5 * sq / var - 0.5 * self.dim * torch.log(2 * math.pi * var)

    def _component_log_probs(self, x: torch.Tensor, sigma: SigmaLike) -> torch.Tensor:
        """log w_m + log N(x; mu_m, (s_m^2 + sigma^2) I) as [B, M]."""
        xd = x.to(self.dtype)
        var = self.stds.square()[None, :] + self._sigma(sigma, xd.shape[0]).square()[:, None]
        return torch.log(self.weights)[None, :] + self._log_normal(self._sq_dist(xd), var)

    def log_prob(self, x: torch.Tensor, sigma: SigmaLike = 0.0) -> torch.Tensor:
        """log p_sigma(x) for x [B, d], in the mixture's dtype, shape [B]."""
        return torch.logsumexp(self._component_log_probs(x, sigma), dim=-1)

    def log_prob_levels(self, x: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
        """log p_{sigma_k}(x) for every level of a grid sigmas [K]: shape [B, K] (one distance computation)."""
        xd = x.to(self.dtype)
        sig = torch.as_tensor(sigmas, dtype=self.dtype)
        var = self.stds.square()[:, None] + sig.square()[None, :]  # [M, K]
        if (var <= 0).any():
            raise ValueError("a component has zero variance (stds=0 and sigma=0): the density is not defined")
        const = torch.log(self.weights)[:, None] - 0.5 * self.dim * torch.log(2 * math.pi * var)  # [M, K]
        # components first, so the reduction over M runs across contiguous [B, K] slices
        comp = torch.addcdiv(const[:, None, :], self._sq_dist(xd).T[:, :, None], var[:, None, :], value=-0.5)
        return _logsumexp_first(comp)

    def responsibilities(self, x: torch.Tensor, sigma: SigmaLike = 0.0) -> torch.Tensor:
        """Posterior component probabilities r_m(x) under p_sigma, shape [B, M]."""
        return torch.softmax(self._component_log_probs(x, sigma), dim=-1)

    def score(self, x: torch.Tensor, sigma: SigmaLike = 0.0) -> torch.Tensor:
        """grad_x log p_sigma(x) = sum_m r_m (mu_m - x) / (s_m^2 + sigma^2), returned in x's dtype."""
        xd = x.to(self.dtype)
        var = self.stds.square()[None, :] + self._sigma(sigma, xd.shape[0]).square()[:, None]
        r_over_var = torch.softmax(self._component_log_probs(xd, sigma), dim=-1) / var
        return (r_over_var @ self.means - xd * r_over_var.sum(-1, keepdim=True)).to(x.dtype)

    def transform(self, u: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples from uniforms u [n] (component choice) and normals z [n, d]; returns (x, labels).

        Lets per-sample generators (repro.rng.StackedGenerator) draw u and z so each sample has its own seed.
        """
        cdf = torch.cumsum(self.weights, 0)
        labels = torch.searchsorted(cdf, u.to(self.dtype).reshape(-1), right=True).clamp_max(self.n_components - 1)
        x = self.means[labels] + self.stds[labels, None] * z.to(self.dtype)
        return x, labels

    def sample(self, n: int, generator: torch.Generator | None = None, return_labels: bool = False):
        """n exact samples [n, d] (and their component labels when `return_labels`)."""
        u = torch.rand(n, generator=generator, dtype=self.dtype)
        z = torch.randn(n, self.dim, generator=generator, dtype=self.dtype)
        x, labels = self.transform(u, z)
        return (x, labels) if return_labels else x
