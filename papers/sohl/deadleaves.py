"""Dead leaves (Sec. 3.2, Tables 1-2): our own generator (occluding disks, radius density ~ r^-3, uniform grey
levels, 8-bit quantised then dequantised), T = 1000, multi-scale conv reverse model, K in bits/pixel.
The stages are papers/sohl/images.py's.

K bounds the model's own likelihood and scores no generator's samples, so it has no sanity rows. Sample quality is
the Parzen log-likelihood of test images under the samples (bits per image; bandwidth by a validation split drawn
beside the test split), ranked between training images and matched noise (images.parzen_rows).

Not comparable with the paper: it used the train/test images of Theis et al. (2012), which are not public here,
and their image size and generator are not printed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from papers.sohl import data
from repro import typed
from repro.run import Run


@dataclass(frozen=True, kw_only=True)
class Source:
    """The config's `source:` section: image size and the disk radius range, in pixels."""

    size: int
    r_min: float
    r_max: float


def load(run: Run) -> data.ImageData:
    src = typed.build(Source, run.cfg.source, "deadleaves.source")

    def make(n: int, offset: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(run.seed * 1000 + offset)
        return torch.round(data.dead_leaves(n, src.size, gen, src.r_min, src.r_max) * 255) / 255

    n_test = run.cfg.n_test
    return data.ImageData("deadleaves", make(run.cfg.n_train, 10), make(n_test, 11), valid=make(n_test, 12))
