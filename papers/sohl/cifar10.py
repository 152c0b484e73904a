"""CIFAR-10 (Sec. 3.2, Table 1): dequantised images, T = 1000, multi-scale conv + dense reverse model, K in bits
per RGB pixel (three channels summed); denoising at SNR 1 by posterior sampling. Paper tier only (plus smoke)."""

from __future__ import annotations

from papers.sohl import images
from repro.data.load import load_dataset
from repro.data.synthetic import synthetic_like
from repro.run import Run


def load(run: Run) -> images.ImageData:
    cfg = run.cfg
    if run.smoke:
        x = synthetic_like("cifar10", cfg["n_train"] + cfg["n_test"], run.seed).images
        return images.ImageData("cifar10", x[: cfg["n_train"]], x[cfg["n_train"] :], synthetic=True)
    train = load_dataset("cifar10", run.data_root, "train").images
    train = train[: cfg["n_train"]] if cfg["n_train"] else train
    return images.ImageData("cifar10", train, load_dataset("cifar10", run.data_root, "test").images)


def train(run: Run) -> None:
    images.train(run, load(run))


def sample(run: Run) -> None:
    images.sample(run, load(run))


def evaluate(run: Run) -> None:
    images.evaluate(run, load(run))
