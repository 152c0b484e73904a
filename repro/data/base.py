"""Types shared by the data loaders: the returned pair, the missing-data error, the shape of each dataset."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

SHAPES: dict[str, tuple[int, int, int]] = {
    "cifar10": (3, 32, 32),
    "mnist": (1, 28, 28),
    "celeba": (3, 32, 32),
    "celebahq": (3, 256, 256),
    "mnist5000": (1, 28, 28),
    "digits": (1, 8, 8),
}


class LabelledImages(NamedTuple):
    """images: float32 (N, C, H, W) in [0, 1]; labels: int64 (N,) or None where the dataset has no classes."""

    images: torch.Tensor
    labels: torch.Tensor | None


class DataMissingError(FileNotFoundError):
    """A dataset (or other download) is not where it is expected; the message says where and how to get it."""

    def __init__(self, name: str, path: str | Path, fix: str, detail: str = "") -> None:
        self.name, self.path, self.fix = name, Path(path), fix
        why = f": {detail}" if detail else ""
        super().__init__(f"{name} is not available at {self.path}{why}. To get it: {fix}")
