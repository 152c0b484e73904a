"""One entry point for every dataset name a paper config may use."""

from __future__ import annotations

from pathlib import Path

from repro.data.base import LabelledImages
from repro.data.images import load_celeba, load_cifar10, load_mnist
from repro.data.packaged import load_packaged

DOWNLOADABLE = ("cifar10", "mnist", "celeba")
PACKAGED = ("mnist5000", "digits")


def load_dataset(
    name: str, data_root: str | Path = "data", split: str = "train", download: bool = False
) -> LabelledImages:
    """Images float32 (N,C,H,W) in [0,1] and labels (or None) of `name`'s `split`."""
    if name in PACKAGED:
        return load_packaged(name, split)
    loaders = {"cifar10": load_cifar10, "mnist": load_mnist, "celeba": load_celeba}
    if name not in loaders:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DOWNLOADABLE + PACKAGED)}")
    return loaders[name](data_root, split=split, download=download)
