"""Bark textures (Sec. 3.2, Table 1): T = 500, grey-level crops of UIUC textures T01-T04 (Lazebnik et al. 2005)
read from `data_root/<source.bark_dir>`; inpainting of a central square by posterior sampling.

The loader raises a clear error when the folder is absent. The smoke tier (`source.synthetic: true`) uses
dead-leaves images as a texture stand-in. The stages are papers/sohl/images.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from papers.sohl import data
from repro import typed
from repro.run import Run


@dataclass(frozen=True, kw_only=True)
class Source:
    """The config's `source:` section: texture folder (under the data root) and crop size in pixels."""

    bark_dir: str
    crop: int
    synthetic: bool = False


def load(run: Run) -> data.ImageData:
    src = typed.build(Source, run.cfg.source, "bark.source")
    n, m, s = run.cfg.n_train, run.cfg.n_test, src.crop
    if src.synthetic:
        # radii from s/16 (1 pixel at the smoke tier's 8): at the paper's 128 the stand-in still covers every pixel
        x = data.dead_leaves(n + m, s, torch.Generator().manual_seed(run.seed), max(1.0, s / 16), s / 2)
        x = torch.round(x * 255) / 255
        return data.ImageData("bark", x[:n], x[n:], synthetic=True)
    textures = data.load_texture_folder(run.data_root / src.bark_dir)
    # one crop set, split so train and test crops come from disjoint halves of every image (left / right)
    halves = [(t[:, : t.shape[1] // 2], t[:, t.shape[1] // 2 :]) for t in textures]
    train = data.random_crops([a for a, _ in halves], n, s, torch.Generator().manual_seed(run.seed * 1000 + 20))
    test = data.random_crops([b for _, b in halves], m, s, torch.Generator().manual_seed(run.seed * 1000 + 21))
    return data.ImageData("bark", torch.round(train * 255) / 255, torch.round(test * 255) / 255)
