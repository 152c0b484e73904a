"""Data for the Sohl-Dickstein experiments: heartbeat, Swiss roll, dead leaves, bark textures, unit-variance scaling,
and `ImageData`, what every image experiment's loader returns.

Generators take a `torch.Generator` so every split is a pure function of its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".tif", ".tiff", ".bmp")


@dataclass
class ImageData:
    """Splits in [0, 1], (N, C, H, W); `synthetic` marks a smoke-tier stand-in for real data."""

    name: str
    train: torch.Tensor
    test: torch.Tensor
    valid: torch.Tensor | None = None
    synthetic: bool = False

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.shape[1:])


def heartbeat(n: int, gen: torch.Generator, length: int = 20, period: int = 5) -> torch.Tensor:
    """[n, length] binary sequences with a 1 every `period` bins, first pulse uniform in the first `period` bins."""
    if length % period:
        raise ValueError(f"heartbeat length {length} must be a multiple of the period {period}")
    phase = torch.randint(0, period, (n, 1), generator=gen)
    return ((torch.arange(length)[None, :] - phase) % period == 0).float()


def heartbeat_log_likelihood_bits(period: int = 5) -> float:
    """Exact log-likelihood of every heartbeat sequence: the generator has `period` equiprobable sequences."""
    return -math.log2(period)


def swiss_roll(n: int, gen: torch.Generator, noise: float) -> torch.Tensor:
    """2-D Swiss roll in raw units: angle u ~ U[1.5 pi, 4.5 pi], point u (cos u, sin u) + N(0, noise^2 I).

    The same curve as scikit-learn's make_swiss_roll restricted to its (x, z) coordinates.
    """
    if noise < 0:
        raise ValueError(f"swiss roll noise must be >= 0, got {noise}")
    u = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=gen, dtype=torch.float64))
    x = torch.stack([u * torch.cos(u), u * torch.sin(u)], 1)
    return (x + noise * torch.randn(n, 2, generator=gen, dtype=torch.float64)).float()


class UnitScale:
    """x -> (x - mean) / s with one global constant s making the training data unit variance per dimension.

    The shift does not change log-likelihoods; the scale shifts them by -d log2(s) bits, so results are reported
    on the rescaled data as in the paper. `shift_per_dim` keeps per-pixel or per-coordinate means (set False to
    subtract one global mean, as for images).
    """

    def __init__(self, train: torch.Tensor, shift_per_dim: bool = True) -> None:
        self.mean = train.mean(0, keepdim=True) if shift_per_dim else train.mean()
        self.scale = float((train - self.mean).pow(2).mean().sqrt())
        if not self.scale > 0:
            raise ValueError("cannot rescale data with zero variance")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.scale + self.mean

    def state(self) -> dict[str, float]:
        return {"scale": self.scale, "mean": float(torch.as_tensor(self.mean).mean())}


def dead_leaves(
    n: int, size: int, gen: torch.Generator, r_min: float, r_max: float, max_disks: int = 5000
) -> torch.Tensor:
    """[n, 1, size, size] dead-leaves images in [0, 1]: occluding disks, radii with density ~ r^-3 on [r_min, r_max].

    Disks are laid front to back: a pixel takes the grey level (uniform on [0, 1]) of the first disk covering it.
    Centres are uniform on an enlarged square so edges see disks from outside. Stops when every pixel is covered.
    """
    if not 0 < r_min < r_max:
        raise ValueError(f"dead leaves needs 0 < r_min < r_max, got {r_min}, {r_max}")
    yy, xx = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    img = torch.zeros(n, size, size)
    free = torch.ones(n, size, size, dtype=torch.bool)
    active = torch.arange(n)  # images with a free pixel; every image still draws its disk, so the stream is fixed
    for _ in range(max_disks):
        active = active[free[active].flatten(1).any(1)]
        if not len(active):
            break
        c = (torch.rand(n, 2, generator=gen) * (size + 2 * r_max) - r_max)[active]
        v = torch.rand(n, generator=gen)[active]
        # inverse CDF of p(r) ~ r^-3 on [r_min, r_max]
        a, b = r_min**-2, r_max**-2
        r = (a - v * (a - b)) ** -0.5
        grey = torch.rand(n, generator=gen)[active]
        inside = (xx[None] - c[:, 0, None, None]) ** 2 + (yy[None] - c[:, 1, None, None]) ** 2 <= r[:, None, None] ** 2
        hit = inside & free[active]
        img[active] = torch.where(hit, grey[:, None, None], img[active])
        free[active] &= ~inside
    if free.any():
        raise RuntimeError(f"dead leaves: {int(free.sum())} pixels uncovered after {max_disks} disks; raise max_disks")
    return img[:, None]


def load_texture_folder(folder: Path) -> list[np.ndarray]:
    """Grey-level images in [0, 1] from every image file in `folder` (bark textures T01-T04 of Lazebnik et al.)."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"bark texture folder {folder} does not exist: download the UIUC texture classes "
            "T01-T04 (Lazebnik et al. 2005) and put their image files there (config key source.bark_dir)"
        )
    files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"bark texture folder {folder} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return [np.asarray(Image.open(f).convert("L"), dtype=np.float32) / 255.0 for f in files]


def random_crops(images: list[np.ndarray], n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """[n, 1, size, size] crops at uniform positions of uniformly chosen images."""
    small = [i for i, im in enumerate(images) if min(im.shape) < size]
    if small:
        raise ValueError(f"crop size {size} exceeds image {small[0]} of shape {images[small[0]].shape}")
    out = torch.empty(n, 1, size, size)
    which = torch.randint(0, len(images), (n,), generator=gen)
    for k in range(n):
        im = images[int(which[k])]
        i = int(torch.randint(0, im.shape[0] - size + 1, (1,), generator=gen))
        j = int(torch.randint(0, im.shape[1] - size + 1, (1,), generator=gen))
        out[k, 0] = torch.from_numpy(im[i : i + size, j : j + size])
    return out
