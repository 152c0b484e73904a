"""CIFAR-10 (Sec. 3.2, Table 1): dequantised images, T = 1000, multi-scale conv + dense reverse model, K in bits
per RGB pixel (three channels summed); denoising at SNR 1 by posterior sampling. Paper tier only (plus smoke).
The stages are papers/sohl/images.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

from papers.sohl.data import ImageData
from repro import check, typed
from repro.data.load import load_dataset
from repro.data.synthetic import synthetic_like
from repro.run import Run


@dataclass(frozen=True, kw_only=True)
class Source:
    """The config's `source:` section: the packaged data set read."""

    dataset: str


def load(run: Run) -> ImageData:
    """`n_train` training images (0: all), the whole test split; a synthetic stand-in at the smoke tier."""
    src, n = typed.build(Source, run.cfg.source, "cifar10.source"), run.cfg.n_train
    if run.smoke or (run.rehearsal and not check.present(src.dataset, run.data_root)):  # rehearsal: data absent
        x = synthetic_like(src.dataset, n + run.cfg.n_test, run.seed).images
        return ImageData("cifar10", x[:n], x[n:], synthetic=True)
    train = load_dataset(src.dataset, run.data_root, "train").images
    train = train[:n] if n else train
    return ImageData("cifar10", train, load_dataset(src.dataset, run.data_root, "test").images)
