"""Deterministic stand-ins with a real dataset's exact shape, for the smoke tier (never evidence for a claim).

Each class has a fixed smooth pattern (seeded by the dataset name only), each image adds its own smooth noise
(seeded by `seed`), and values are quantised like 8-bit data, so classifiers and dequantisation behave as on
real images while every number stays reproducible.
"""

from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F

from repro.data.base import SHAPES, LabelledImages

N_CLASSES = 10
_LEVELS = {"digits": 16}  # grey levels - 1 (scikit-learn's digits hold 0..16); every other dataset is 8-bit


def _smooth(n: int, shape: tuple[int, int, int], generator: torch.Generator, grid: int = 4) -> torch.Tensor:
    c, h, w = shape
    coarse = torch.randn((n, c, min(grid, h), min(grid, w)), generator=generator)
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)


def synthetic_like(name: str, n: int, seed: int) -> LabelledImages:
    """`n` images of dataset `name`'s shape with labels `i % 10`, a pure function of (name, n, seed)."""
    if name not in SHAPES:
        raise KeyError(f"no shape known for dataset {name!r}; known: {', '.join(SHAPES)}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    shape = SHAPES[name]
    protos = _smooth(N_CLASSES, shape, torch.Generator().manual_seed(zlib.crc32(name.encode())))
    labels = torch.arange(n) % N_CLASSES
    noise = _smooth(n, shape, torch.Generator().manual_seed(int(seed)))
    levels = _LEVELS.get(name, 255)
    x = torch.sigmoid(2.0 * protos[labels] + 0.7 * noise)
    return LabelledImages(torch.round(x * levels) / levels, labels)
