"""Bark textures (Sec. 3.2, Table 1): T = 500, grey-level crops of UIUC textures T01-T04 (Lazebnik et al. 2005)
read from `data_root/bark_dir`; inpainting of a central square by posterior sampling.

The loader raises a clear error when the folder is absent. The smoke tier (`synthetic: true`) uses dead-leaves
images as a texture stand-in.
"""

from __future__ import annotations

import torch

from papers.sohl import data, images
from repro.run import Run


def load(run: Run) -> images.ImageData:
    cfg = run.cfg
    n, m, s = cfg["n_train"], cfg["n_test"], cfg["crop"]
    if cfg.get("synthetic", False):
        x = data.dead_leaves(n + m, s, torch.Generator().manual_seed(run.seed), 1.0, s / 2)
        x = torch.round(x * 255) / 255
        return images.ImageData("bark", x[:n], x[n:], synthetic=True)
    textures = data.load_texture_folder(run.data_root / cfg["bark_dir"])
    # one crop set, split so train and test crops come from disjoint halves of every image (left / right)
    halves = [(t[:, : t.shape[1] // 2], t[:, t.shape[1] // 2 :]) for t in textures]
    train = data.random_crops([a for a, _ in halves], n, s, torch.Generator().manual_seed(run.seed * 1000 + 20))
    test = data.random_crops([b for _, b in halves], m, s, torch.Generator().manual_seed(run.seed * 1000 + 21))
    return images.ImageData("bark", torch.round(train * 255) / 255, torch.round(test * 255) / 255)


def train(run: Run) -> None:
    images.train(run, load(run))


def sample(run: Run) -> None:
    images.sample(run, load(run))


def evaluate(run: Run) -> None:
    images.evaluate(run, load(run))
