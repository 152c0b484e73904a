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


def _images(run: Run) -> torch.Tensor:
    cfg: Config = run.cfg
    if cfg.data == "synthetic":
        from repro.data.synthetic import synthetic_like

        return synthetic_like("celebahq", cfg.n_synthetic, run.seed).images
    from PIL import Image

    folder = Path(run.data_root) / cfg.data
    files = sorted(folder.glob("*.png"))[: cfg.n_reference]
    if not files:
        raise FileNotFoundError(
            f"{run.paper}/{run.experiment}: data = {cfg.data!r} -> {folder} holds no .png "
            f"images; put the CelebA-HQ 256x256 images there"
        )
    arrays = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    bad = [f.name for f, a in zip(files, arrays, strict=True) if a.shape != (256, 256, 3)]
    if bad:
        raise ValueError(f"{folder}: images must be 256x256 RGB; first offenders: {bad[:3]}")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def train(run: Run) -> None:
    official.train_models(run, lambda: _images(run))


def sample(run: Run) -> None:
    sample_points(
        run, official.load_score(run, SHAPE[0]), official.load_classifier(run, SHAPE), run.cfg.levels(), SHAPE
    )


def evaluate(run: Run) -> None:
    evaluate_images(run, "celebahq256", lambda: _images(run), "celebahq256")


def work(cfg: Config) -> list[Work]:
    """Train (nothing with the releases), sample and evaluate as `official.work` declares them, the FID reference
    being the first `n_reference` images; RK45's adaptive NFE is priced from the paper's figure (`RK45_NFE`)."""
    return official.work(cfg, SHAPE, min(cfg.n_reference or IMAGES, IMAGES), RK45_NFE)
