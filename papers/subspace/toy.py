"""Data that live near a known downsampling subspace, with exact VE-perturbed scores (the CPU analogue A).

Component m: x = up^k(y) + b_m + s·(I − P)z with y ~ N(μ_m, τ² I_d) in subspace coordinates and b_m orthogonal to
the subspace. With every b_m = 0 the orthogonal part is exactly N(0, s²(I − P)), the paper's Gaussian assumption
(Eq. 9) holds, and the implicit score equals the exact score; nonzero b_m ("violated") break it at low noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from papers.subspace.operators import down, orthogonal, up
from repro.diffusion.toy.gmm import GaussianMixture


def _sq_dist(x: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """||x_b - mu_m||^2 as [B, M] for flat x [B, D] and means [M, ...] (no [B, M, D] intermediate)."""
    return torch.cdist(x, means.flatten(1), compute_mode="donot_use_mm_for_euclid_dist").square()


@dataclass
class SubspaceMixture:
    weights: torch.Tensor  # [M]
    sub_means: torch.Tensor  # [M, C, h, w]: component means in subspace coordinates (level `levels`)
    sub_std: float  # τ
    orth_means: torch.Tensor  # [M, C, H, W] with P b_m = 0
    orth_std: float  # s
    levels: int

    def __post_init__(self) -> None:
        self.weights = torch.as_tensor(self.weights, dtype=torch.float64)
        self.sub_means = torch.as_tensor(self.sub_means, dtype=torch.float64)
        self.orth_means = torch.as_tensor(self.orth_means, dtype=torch.float64)
        if self.sub_std <= 0 or self.orth_std <= 0:
            raise ValueError(f"sub_std and orth_std must be positive, got {self.sub_std}, {self.orth_std}")
        if up(self.sub_means, self.levels).shape != self.orth_means.shape:
            raise ValueError(
                f"sub_means {tuple(self.sub_means.shape)} at level {self.levels} do not match "
                f"orth_means {tuple(self.orth_means.shape)}"
            )
        if float((self.orth_means - orthogonal(self.orth_means, self.levels)).abs().max()) > 1e-9:
            raise ValueError("orth_means must be orthogonal to the subspace (P b = 0)")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.orth_means.shape[1:])

    def transform(self, u: torch.Tensor, z_sub: torch.Tensor, z_full: torch.Tensor) -> torch.Tensor:
        """Samples from uniforms u [n], subspace normals z_sub [n, C, h, w] and full normals z_full [n, C, H, W]."""
        labels = torch.searchsorted(torch.cumsum(self.weights, 0), u.double(), right=True)
        labels = labels.clamp_max(len(self.weights) - 1)
        y = self.sub_means[labels] + self.sub_std * z_sub.double()
        return up(y, self.levels) + self.orth_means[labels] + self.orth_std * orthogonal(z_full.double(), self.levels)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        z_sub = torch.randn(n, *self.sub_means.shape[1:], generator=generator, dtype=torch.float64)
        z_full = torch.randn(n, *self.shape, generator=generator, dtype=torch.float64)
        return self.transform(u, z_sub, z_full)

    def score(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Exact ∇ log p_σ(x) of the VE-perturbed full-space density, σ per sample [B]."""
        xd = x.double()
        s2 = sigma.double().reshape(-1, 1) ** 2
        va, vb = self.sub_std**2 + s2, self.orth_std**2 + s2  # [B, 1]
        y = down(xd, self.levels)
        ys, xo = y.flatten(1), (xd - up(y, self.levels)).flatten(1)  # (I - P) x without a second `down`
        resp = torch.softmax(
            torch.log(self.weights)
            - 0.5 * _sq_dist(ys, self.sub_means) / va
            - 0.5 * _sq_dist(xo, self.orth_means) / vb,
            dim=-1,
        )
        sub = up(((resp @ self.sub_means.flatten(1) - ys) / va).reshape(-1, *self.sub_means.shape[1:]), self.levels)
        orth = ((resp @ self.orth_means.flatten(1) - xo) / vb).reshape(x.shape)
        return (sub + orth).to(x.dtype)

    def log_prob(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Exact log p_σ(x) of the VE-perturbed full-space density, σ per sample [B]."""
        xd = x.double()
        s2 = sigma.double().reshape(-1, 1) ** 2
        va, vb = self.sub_std**2 + s2, self.orth_std**2 + s2
        d_sub = self.sub_means[0].numel()
        d_perp = xd[0].numel() - d_sub
        ys = down(xd, self.levels).flatten(1)
        xo = orthogonal(xd, self.levels).flatten(1)
        da = (ys[:, None] - self.sub_means.flatten(1)[None]).square().sum(-1)
        db = (xo[:, None] - self.orth_means.flatten(1)[None]).square().sum(-1)
        norm = 0.5 * d_sub * torch.log(2 * math.pi * va) + 0.5 * d_perp * torch.log(2 * math.pi * vb)
        return torch.logsumexp(torch.log(self.weights) - 0.5 * da / va - 0.5 * db / vb - norm, dim=-1)

    def subspace_mixture(self, levels: int) -> GaussianMixture:
        """The exact law of down^levels(x) (levels >= self.levels), flattened: an isotropic Gaussian mixture."""
        if levels < self.levels:
            raise ValueError(f"subspace level {levels} is finer than the data's level {self.levels}")
        means = down(self.sub_means, levels - self.levels).flatten(1)
        return GaussianMixture(self.weights, means, stds=self.sub_std)

    def orth_std_to(self, levels: int) -> float:
        """Exact σ⊥ of this law to the level-`levels` subspace (per orthogonal dimension)."""
        c, h, w = self.shape
        d_full, d_sub, d_lvl = c * h * w, self.sub_means[0].numel(), c * (h >> levels) * (w >> levels)
        own = (d_full - d_sub) * self.orth_std**2 + float(
            (self.weights * self.orth_means.flatten(1).square().sum(1)).sum()
        )
        between = 0.0
        if levels > self.levels:
            mu = self.sub_means.flatten(1)
            mu_proj = up(down(self.sub_means, levels - self.levels), levels - self.levels).flatten(1)
            between = (d_sub - d_lvl) * self.sub_std**2 + float((self.weights * (mu - mu_proj).square().sum(1)).sum())
        return math.sqrt((own + between) / (d_full - d_lvl))


def subspace_score(mixture: GaussianMixture, shape: tuple[int, ...]):
    """Wrap a flattened GaussianMixture's exact score as an image score `score(y, sigma)` for shape (C, h, w)."""

    def score(y: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return mixture.score(y.reshape(y.shape[0], -1), sigma).reshape(y.shape[0], *shape).to(y.dtype)

    return score
