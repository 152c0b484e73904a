"""Gaussian Parzen-window log-likelihood, with the protocol of Goodfellow et al. (2014) used by Sohl-Dickstein:

fit an isotropic Gaussian kernel density to model samples, choose the bandwidth sigma from a grid by the mean
log-likelihood of a validation set, report the mean log-likelihood of the test set +- its standard error
(std / sqrt(n)). The GAN code's default grid is 10 values log-spaced in [0.1, 1] for data in [0, 1].
Values are per image (all dimensions summed), in nats and in bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_SIGMAS = tuple(float(s) for s in np.logspace(-1, 0, 10))


def _flat(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.detach().reshape(t.shape[0], -1).to("cpu", torch.float64)


def parzen_log_likelihood(
    centers: np.ndarray | torch.Tensor, x: np.ndarray | torch.Tensor, sigma: float, batch_size: int = 256
) -> np.ndarray:
    """log p(x_j) in nats under (1/N) sum_i N(x_j; c_i, sigma^2 I), for every row of `x` (log-sum-exp, batched)."""
    c, q = _flat(centers), _flat(x)
    if c.shape[1] != q.shape[1]:
        raise ValueError(f"dimension mismatch: centers {c.shape[1]} vs points {q.shape[1]}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    n, d = c.shape
    const = -math.log(n) - 0.5 * d * math.log(2 * math.pi * sigma**2)
    c_sq = (c * c).sum(1)
    out = []
    for start in range(0, q.shape[0], batch_size):
        b = q[start : start + batch_size]
        d2 = ((b * b).sum(1, keepdim=True) + c_sq[None, :] - 2.0 * b @ c.T).clamp_min_(0.0)
        out.append(torch.logsumexp(-d2 / (2 * sigma**2), dim=1) + const)
    return torch.cat(out).numpy()


@dataclass(frozen=True)
class ParzenResult:
    sigma: float
    mean_nats: float
    stderr_nats: float
    n_centers: int
    n_test: int
    valid_curve: dict[float, float]  # sigma -> mean validation log-likelihood (nats)

    @property
    def mean_bits(self) -> float:
        return self.mean_nats / math.log(2)

    @property
    def stderr_bits(self) -> float:
        return self.stderr_nats / math.log(2)


def select_bandwidth(
    centers: np.ndarray | torch.Tensor, valid: np.ndarray | torch.Tensor, sigmas: tuple[float, ...] = DEFAULT_SIGMAS
) -> tuple[float, dict[float, float]]:
    """The sigma of the grid with the highest mean validation log-likelihood, and the whole curve."""
    curve = {float(s): float(parzen_log_likelihood(centers, valid, s).mean()) for s in sigmas}
    return max(curve, key=curve.get), curve


def parzen_evaluate(
    centers: np.ndarray | torch.Tensor,
    valid: np.ndarray | torch.Tensor,
    test: np.ndarray | torch.Tensor,
    sigmas: tuple[float, ...] = DEFAULT_SIGMAS,
) -> ParzenResult:
    """Bandwidth by validation, then mean +- standard error of the test log-likelihood."""
    sigma, curve = select_bandwidth(centers, valid, sigmas)
    ll = parzen_log_likelihood(centers, test, sigma)
    se = float(ll.std(ddof=1) / math.sqrt(ll.size)) if ll.size > 1 else float("nan")
    return ParzenResult(sigma, float(ll.mean()), se, int(_flat(centers).shape[0]), int(ll.size), curve)
