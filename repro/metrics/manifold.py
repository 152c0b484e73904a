"""Improved precision and recall (Kynkäänniemi et al. 2019) between two feature sets.

Each set's manifold is the union of balls around its points, each ball's radius being the distance to the
point's k-th nearest neighbour within the set. Precision: the fraction of generated points inside the real
manifold; recall: the fraction of real points inside the generated manifold.
"""

from __future__ import annotations

import numpy as np
import torch


def _t(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.detach().reshape(t.shape[0], -1).to("cpu", torch.float64)


def _radii(x: torch.Tensor, k: int) -> torch.Tensor:
    if x.shape[0] <= k:
        raise ValueError(f"need more than k={k} points for k-NN radii, got {x.shape[0]}")
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # the 0-th neighbour is the point itself


def _coverage(manifold: torch.Tensor, radii: torch.Tensor, query: torch.Tensor, batch: int = 1024) -> float:
    inside = [
        (torch.cdist(query[s : s + batch], manifold) <= radii[None, :]).any(1) for s in range(0, len(query), batch)
    ]
    return float(torch.cat(inside).double().mean())


def precision_recall(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 3
) -> tuple[float, float]:
    """(precision, recall) of `fake` against `real`, both (N, D) feature arrays."""
    r, f = _t(real), _t(fake)
    return _coverage(r, _radii(r, k), f), _coverage(f, _radii(f, k), r)
