"""Distances between sample sets and their error bars, for data where exact reference samples are available."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

Array = np.ndarray | torch.Tensor


def _np(x: Array) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return a.reshape(a.shape[0], -1).astype(np.float64) if a.ndim != 1 else a.astype(np.float64)[:, None]


def gaussian_fit(x: Array) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of the rows of `x` (flattened per sample), in float64."""
    a = _np(x)
    if a.shape[0] < 2:
        raise ValueError(f"need at least 2 samples for a covariance, got {a.shape[0]}")
    return a.mean(0), np.atleast_2d(np.cov(a, rowvar=False))


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_stats(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Squared Fréchet (W2) distance between N(mu1, cov1) and N(mu2, cov2).

    tr((C1 C2)^{1/2}) is computed as tr((C1^{1/2} C2 C1^{1/2})^{1/2}), a symmetric PSD matrix, with
    eigendecompositions only: no complex parts, no failure on singular covariances.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    cov1, cov2 = np.atleast_2d(cov1), np.atleast_2d(cov2)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, cov {cov1.shape} vs {cov2.shape}")
    r1 = _psd_sqrt(cov1)
    m = r1 @ cov2 @ r1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt, 0.0))


def frechet_distance(x: Array, y: Array) -> float:
    """Fréchet distance between Gaussian fits of two sample sets (rows are samples, any dimension)."""
    return frechet_distance_stats(*gaussian_fit(x), *gaussian_fit(y))


def wasserstein2_1d(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W2 between two 1-D empirical distributions (equal weights within each, any sizes)."""
    a, b = np.sort(np.ravel(a)), np.sort(np.ravel(b))
    levels = np.union1d(np.arange(1, a.size + 1) / a.size, np.arange(1, b.size + 1) / b.size)
    widths = np.diff(levels, prepend=0.0)
    qa = a[np.minimum(np.ceil(levels * a.size - 1e-9).astype(int) - 1, a.size - 1)]
    qb = b[np.minimum(np.ceil(levels * b.size - 1e-9).astype(int) - 1, b.size - 1)]
    return float(np.sqrt(np.sum(widths * (qa - qb) ** 2)))


def sliced_wasserstein2(x: Array, y: Array, n_projections: int = 256, seed: int = 0) -> float:
    """Sliced W2: sqrt of the mean over random unit directions (fixed by `seed`) of the squared 1-D W2."""
    a, b = _np(x), _np(y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"dimension mismatch: {a.shape[1]} vs {b.shape[1]}")
    theta = np.random.default_rng(seed).standard_normal((n_projections, a.shape[1]))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    pa, pb = a @ theta.T, b @ theta.T
    return float(np.sqrt(np.mean([wasserstein2_1d(pa[:, k], pb[:, k]) ** 2 for k in range(n_projections)])))


def nearest_mode_weights(x: Array, means: Array) -> np.ndarray:
    """Fraction of samples whose nearest mode centre (Euclidean) is each of `means`."""
    a, m = _np(x), _np(means)
    d2 = ((a[:, None, :] - m[None, :, :]) ** 2).sum(-1)
    return np.bincount(d2.argmin(1), minlength=m.shape[0]) / a.shape[0]


def mode_weight_error(x: Array, means: Array, weights: Array) -> float:
    """Largest absolute error of the nearest-mode weights against the true mixture weights."""
    return float(np.abs(nearest_mode_weights(x, means) - np.asarray(weights, dtype=np.float64)).max())


def mean_stderr(values: Array) -> tuple[float, float | None]:
    """Mean and standard error (sample std / sqrt(n)) of per-seed values; stderr is None for a single value."""
    v = np.ravel(np.asarray(values, dtype=np.float64))
    if v.size == 0:
        raise ValueError("no values")
    return float(v.mean()), (float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else None)


def bootstrap_stderr(stat: Callable[..., float], *arrays: Array, n_boot: int = 200, seed: int = 0) -> float:
    """Bootstrap standard error of `stat(*arrays)`, resampling the rows of every array independently."""
    rng = np.random.default_rng(seed)
    data = [_np(a) for a in arrays]
    values = [stat(*(d[rng.integers(0, len(d), len(d))] for d in data)) for _ in range(n_boot)]
    return float(np.std(values, ddof=1))
