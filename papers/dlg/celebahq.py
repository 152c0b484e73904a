"""dlg/celebahq (paper tier): official VE NCSN++ CelebA-HQ-256 checkpoint (sigma_max 348), SimpleCNN256 level
classifier (the DMCMC release, or trained here), FID on 10k samples (protocol settings as dlg/cifar10).
Images: a folder of 256x256 PNG files under the data root (`data` key). At the smoke tier a synthetic stand-in of
the same shape is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from papers.dlg import official
from papers.dlg.cifar10 import evaluate_images
from papers.dlg.images import sample_points
from repro.run import Run
from repro.work import Work

Config = official.Config

SHAPE = (3, 256, 256)
IMAGES = 30_000  # CelebA-HQ's images: the FID reference is the first `n_reference` of them (all when unset)
RK45_NFE = {False: 378, True: 127}  # per-sample NFE of the RK45 points at tol 1e-5 (arXiv v1 Fig. 4), for pricing


def _synthetic(run: Run) -> torch.Tensor:
    from repro.data.synthetic import synthetic_like

    return synthetic_like("celebahq", run.cfg.n_synthetic, run.seed).images


def _pixels(run: Run) -> np.ndarray:
    """The first `n_reference` images as uint8 [N, 256, 256, 3], as their files hold them: the FID reference.
    All 30 000 take 5.9 GB this way (as floats, 23.6 GB), filled file by file, never stacked from a list."""
    cfg: Config = run.cfg
    if cfg.data == "synthetic":
        from repro.sampling import to_uint8

        return to_uint8(_synthetic(run)).numpy()
    from PIL import Image

    folder = Path(run.data_root) / cfg.data
    files = sorted(folder.glob("*.png"))[: cfg.n_reference]
    if not files:
        raise FileNotFoundError(
            f"{run.paper}/{run.experiment}: data = {cfg.data!r} -> {folder} holds no .png "
            f"images; put the CelebA-HQ 256x256 images there"
        )
    out = np.empty((len(files), *SHAPE[1:], SHAPE[0]), dtype=np.uint8)
    for i, f in enumerate(files):
        a = np.asarray(Image.open(f).convert("RGB"))
        if a.shape != out.shape[1:]:
            raise ValueError(f"{f}: images must be 256x256 RGB, this one is {a.shape[1]}x{a.shape[0]}")
        out[i] = a
    return out


def _images(run: Run) -> torch.Tensor:
    """The training images as floats in [0, 1], [N, 3, 256, 256]."""
    if run.cfg.data == "synthetic":
        return _synthetic(run)
    return torch.from_numpy(_pixels(run)).permute(0, 3, 1, 2).float() / 255


def train(run: Run) -> None:
    official.train_models(run, lambda: _images(run))


def sample(run: Run) -> None:
    sample_points(
        run, official.load_score(run, SHAPE[0]), official.load_classifier(run, SHAPE), run.cfg.levels(), SHAPE
    )


def evaluate(run: Run) -> None:
    evaluate_images(run, "celebahq256", lambda: _pixels(run), "celebahq256")


def work(cfg: Config) -> list[Work]:
    """Train (nothing with the releases), sample and evaluate as `official.work` declares them, the FID reference
    being the first `n_reference` images; RK45's adaptive NFE is priced from the paper's figure (`RK45_NFE`)."""
    return official.work(cfg, SHAPE, min(cfg.n_reference or IMAGES, IMAGES), RK45_NFE)
