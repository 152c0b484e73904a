"""Sample-quality metrics for vector data with exact reference samples (repro/metrics had none when written)."""

from __future__ import annotations

import torch

from repro.toy.gmm import GaussianMixture


def sliced_wasserstein2(a: torch.Tensor, b: torch.Tensor, n_projections: int = 256,
                        generator: torch.Generator | None = None) -> float:
    """Sliced 2-Wasserstein distance between two equally sized sample sets [n, d] (random unit directions).

    For each direction the 1-D W2 between empirical measures of equal size is the RMS of sorted differences.
    """
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"sliced_wasserstein2 needs two [n, d] sets of equal shape, got {tuple(a.shape)}, "
                         f"{tuple(b.shape)}")
    dirs = torch.randn(a.shape[1], n_projections, generator=generator, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    pa = torch.sort(a.double() @ dirs, dim=0).values
    pb = torch.sort(b.double() @ dirs, dim=0).values
    return float((pa - pb).square().mean().sqrt())


def mode_weights(mixture: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    """Fraction of samples assigned to each component (argmax responsibility under the clean mixture)."""
    sigma = 0.0 if bool((mixture.stds > 0).all()) else 1e-3
    labels = mixture.responsibilities(x, sigma).argmax(-1)
    return torch.bincount(labels, minlength=mixture.n_components).double() / x.shape[0]


def mode_weight_error(mixture: GaussianMixture, x: torch.Tensor) -> float:
    """Total-variation distance between the samples' mode weights and the true weights: 0.5 sum |w_hat - w|."""
    return float(0.5 * (mode_weights(mixture, x) - mixture.weights).abs().sum())
