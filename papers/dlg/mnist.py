"""dlg/mnist: DLG vs the integrators on digits, with a small VE score net and level classifier trained here.

Data: the packaged 5000 MNIST digits (repro.data, 4000 train / 500 valid / 500 test), [0, 1]. Score model:
`TinyScoreNet` (score_sde's continuous VE loss; `score_net.width`, `score_net.training`); level classifier:
SimpleCNN on 28x28x1 with the DMCMC objective (`classifier.training`). Both are trained once; every point is
sampled under `seeds` sampling seeds. Quality: Frechet distance in a digit classifier's features
(`repro.metrics.classifier.fid_lenet`, trained `feature_classifier_steps` on the train split) against the test
split. Its sanity rows: `n_samples` valid digits drawn at random (real, held out from the reference and from every
training) and noise matched to the test split's pixel mean and std. The split's indices are sorted and the package
lists digits by class, so the first n of a split are one or two classes: never take a prefix as "real".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from papers.dlg.classifier import SimpleCNN, level_loss
from papers.dlg.images import ImageConfig, metric_rows, plot_fid_vs_nfe, sample_points
from papers.dlg.nets import TinyScoreNet
from repro.config import read_from
from repro.data.batches import TensorBatches
from repro.diffusion.losses import ve_dsm_loss
from repro.diffusion.sde import VESDE
from repro.run import Run

if TYPE_CHECKING:
    from repro.train import TrainConfig


@dataclass(frozen=True, kw_only=True)
class Trained:
    """A network trained here: its `training:` section (fields of repro.train.TrainConfig)."""

    training: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ScoreNet(Trained):
    width: int


@dataclass(frozen=True, kw_only=True)
class Config(ImageConfig):
    dataset: str
    score_net: ScoreNet
    classifier: Trained
    feature_classifier_steps: int
    seeds: int = read_from("sample")  # sampling seeds run.seed, run.seed + 1, ...

    def sampling_seeds(self, base: int) -> list[int]:
        return list(range(base, base + self.seeds))


def _data(run: Run, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from repro.data.load import load_dataset

    d = load_dataset(run.cfg.dataset, run.data_root, split=split)
    return torch.as_tensor(d.images), torch.as_tensor(d.labels)


def _models(run: Run) -> tuple[TinyScoreNet, SimpleCNN]:
    cfg: Config = run.cfg
    torch.manual_seed(run.seed)
    return (TinyScoreNet(1, cfg.score_net.width), SimpleCNN(cfg.n_levels, channels=1, image_size=28))


def train_config(section: dict[str, Any], name: str) -> TrainConfig:
    """Clipped gradients and four checkpoints per training, unless the section says otherwise."""
    from repro.train import TrainConfig

    return TrainConfig.from_config(section, name, grad_clip=1.0, ckpt_every=max(1, section["steps"] // 4))


def train(run: Run) -> None:
    """Score net (DSM, EMA), level classifier (cross-entropy over levels), and the feature classifier for FID."""
    from repro.metrics.classifier import save_classifier, train_digit_classifier
    from repro.train import train as fit

    cfg: Config = run.cfg
    x, y = _data(run, "train")
    score_net, clf = _models(run)
    s, c = train_config(cfg.score_net.training, "score"), train_config(cfg.classifier.training, "level_classifier")
    loss = ve_dsm_loss(VESDE(cfg.sigma_min, cfg.sigma_max))
    fit(run, score_net, loss, TensorBatches(x, s.batch_size, seed=run.seed), s)
    fit(run, clf, level_loss(cfg.levels()), TensorBatches(x, c.batch_size, seed=run.seed + 1), c)
    save_classifier(
        train_digit_classifier(x, y, steps=cfg.feature_classifier_steps, seed=run.seed),
        run.path("feature_classifier.pt"),
    )


def _load(run: Run):
    from repro.train import load_trained

    score_net, clf = _models(run)
    score_net = load_trained(run, score_net, "score")
    clf = load_trained(run, clf, "level_classifier")
    return score_net, clf


def sample(run: Run) -> None:
    score_net, clf = _load(run)
    sample_points(run, score_net, clf, run.cfg.levels(), (1, 28, 28), run.cfg.sampling_seeds(run.seed))


def random_subset(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """`n` rows of `x` drawn without replacement (a split is sorted by class, so a prefix is one or two digits)."""
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]]


def evaluate(run: Run) -> None:
    from repro.metrics.classifier import fid_lenet_against, load_classifier
    from repro.metrics.sanity import matched_noise, sanity_rows

    cfg: Config = run.cfg
    ref, _ = _data(run, "test")
    fid = fid_lenet_against(load_classifier(run.root / "feature_classifier.pt"), ref)
    unit = "Frechet distance (digit-classifier features)"
    rows = metric_rows(run, cfg.dataset, fid, metric="fid_lenet", unit=unit, seeds=cfg.sampling_seeds(run.seed))
    n = cfg.n_samples
    noise = matched_noise(ref, n, run.seed)
    real = random_subset(_data(run, "valid")[0], n, run.seed)
    rows += sanity_rows({"fid_lenet": (unit, fid)}, real, noise, dataset=cfg.dataset, seed=run.seed)
    run.save_metrics(rows)
    plot_fid_vs_nfe(
        run,
        rows,
        "fid_lenet",
        "fid_vs_nfe",
        "DLG on digits: classifier-feature FID vs NFE",
        "Small VE score net and level classifier trained on the packaged MNIST digits; integrators without and "
        f"with DLG at matched per-sample NFE (n_skip + integrator + Tweedie); mean +- s.e. over {cfg.seeds} "
        "sampling seeds.",
    )
