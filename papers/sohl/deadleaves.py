"""Dead leaves (Sec. 3.2, Tables 1-2): our own generator (occluding disks, radius density ~ r^-3, uniform grey
levels, 8-bit quantised then dequantised), T = 1000, multi-scale conv reverse model, K in bits/pixel.

Not comparable with the paper: it used the train/test images of Theis et al. (2012), which are not public here,
and their image size and generator are not printed.
"""

from __future__ import annotations

import torch

from papers.sohl import data, images
from repro.run import Run


def load(run: Run) -> images.ImageData:
    cfg = run.cfg

    def make(n: int, offset: int) -> torch.Tensor:
        x = data.dead_leaves(
            n, cfg["size"], torch.Generator().manual_seed(run.seed * 1000 + offset), cfg["r_min"], cfg["r_max"]
        )
        return torch.round(x * 255) / 255

    return images.ImageData("deadleaves", make(cfg["n_train"], 10), make(cfg["n_test"], 11))


def train(run: Run) -> None:
    images.train(run, load(run))


def sample(run: Run) -> None:
    images.sample(run, load(run))


def evaluate(run: Run) -> None:
    images.evaluate(run, load(run))
