"""The image experiments' models: the official score_sde NCSN++ VE checkpoint (paper tier) or a small stand-in
(smoke tier), and the level classifier (trained here, or the DMCMC release converted); and `Config`, the config
of cifar10 and celebahq (`score_model`, `classifier`, each network trained here read from its `training:` section)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from papers.dlg.classifier import SimpleCNN, SimpleCNN256, level_loss
from papers.dlg.convert import N_LEVELS, load_dmcmc_classifier, write_dmcmc_stand_in
from papers.dlg.images import ImageConfig
from papers.dlg.nets import TinyScoreNet
from repro.config import read_from
from repro.data.batches import TensorBatches
from repro.diffusion.losses import ve_dsm_loss
from repro.diffusion.sde import VESDE
from repro.run import Run

if TYPE_CHECKING:
    from repro.train import TrainConfig


@dataclass(frozen=True, kw_only=True)
class ScoreModel:
    """`kind: tiny`: a TinyScoreNet `width` wide trained here (`training`); `kind: ncsnpp_official`: the score_sde
    `checkpoint` (under the data root) of `release`, an NCSN++ built from `config`."""

    kind: str
    width: int | None = None
    training: dict[str, Any] | None = None
    checkpoint: str | None = read_from("sample", None)  # the official model is only loaded to sample
    release: str | None = read_from("sample", None)
    config: dict[str, Any] | None = read_from("sample", None)


@dataclass(frozen=True, kw_only=True)
class LevelClassifier:
    """The level classifier `arch` (simplecnn, simplecnn256): `source: train` trains it here (`training`);
    `source: release` loads the DMCMC release at `checkpoint` (under the data root) and trains nothing."""

    arch: str
    source: str
    training: dict[str, Any]
    checkpoint: str | None = read_from("sample", None)  # the release is only loaded to sample


@dataclass(frozen=True, kw_only=True)
class Config(ImageConfig):
    """cifar10 / celebahq: `data` ('synthetic' with `n_synthetic` images, or real data; celebahq reads at most
    `n_reference` images), the score model, the level classifier and the FID protocol: `fid_protocol`
    (torch-fidelity or pytorch-fid, the paper's), `jpeg_quality` (None: samples as stored; else the paper's PIL JPEG
    round trip at that quality) and `fid_stats` (a statistics file under the data root; None: the reference images)."""

    data: str
    n_synthetic: int
    n_reference: int | None = None
    score_model: ScoreModel
    classifier: LevelClassifier
    fid_protocol: str = read_from("evaluate", "torch-fidelity")
    jpeg_quality: int | None = read_from("evaluate", None)
    fid_stats: str | None = read_from("evaluate", None)


ARCHS = {"simplecnn": "cifar10", "simplecnn256": "celebahq"}  # our classifier arch -> the DMCMC release's
RELEASE_FILES = {"simplecnn": "logs/CIFAR10/200.pt", "simplecnn256": "logs/CELEBAHQ/100.pt"}


def train_config(section: dict[str, Any], name: str) -> TrainConfig:
    """Ten checkpoints per training, unless the section says otherwise."""
    from repro.train import TrainConfig

    return TrainConfig.from_config(section, name, ckpt_every=max(1, section["steps"] // 10))


def _classifier_net(cfg: Config, shape: tuple[int, ...]) -> torch.nn.Module:
    if cfg.classifier.arch == "simplecnn256":
        return SimpleCNN256(cfg.n_levels, channels=shape[0])
    return SimpleCNN(cfg.n_levels, channels=shape[0], image_size=shape[-1])


def train_models(run: Run, images: Callable[[], torch.Tensor]) -> None:
    """Train the level classifier (unless the DMCMC release is its source) and, for a stand-in, the score net, on
    `images()` (read only when something is trained)."""
    from repro.train import train as fit

    cfg: Config = run.cfg
    c = cfg.classifier
    s = cfg.score_model
    if c.source == "release" and s.kind != "tiny":
        return
    x = images()
    if c.source == "train":
        torch.manual_seed(run.seed)
        t = train_config(c.training, "level_classifier")
        net = _classifier_net(cfg, tuple(x.shape[1:]))
        fit(run, net, level_loss(cfg.levels()), TensorBatches(x, t.batch_size, seed=run.seed), t)
    if s.kind == "tiny":
        torch.manual_seed(run.seed)
        t = train_config(s.training, "score")
        loss = ve_dsm_loss(VESDE(cfg.sigma_min, cfg.sigma_max))
        fit(run, TinyScoreNet(x.shape[1], s.width), loss, TensorBatches(x, t.batch_size, seed=run.seed + 1), t)


def load_classifier(run: Run, shape: tuple[int, ...]) -> torch.nn.Module:
    from repro.train import load_trained

    cfg: Config = run.cfg
    c = cfg.classifier
    if c.source == "release":
        return _release_classifier(run, c).to(run.device)
    torch.manual_seed(run.seed)
    return load_trained(run, _classifier_net(cfg, shape), "level_classifier")


def _release_classifier(run: Run, c: LevelClassifier) -> torch.nn.Module:
    """The DMCMC release at `classifier.checkpoint`; in a rehearsal an absent file gets random weights in its layout."""
    cfg: Config = run.cfg
    if cfg.n_levels != N_LEVELS:
        raise ValueError(
            f"{run.paper}/{run.experiment}: the DMCMC release has {N_LEVELS} levels, but n_levels = {cfg.n_levels}"
        )
    path = Path(run.data_root) / c.checkpoint
    if not path.is_file() and run.rehearsal:
        write_dmcmc_stand_in(ARCHS[c.arch], path, run.seed)
        run.log(f"rehearsal: {c.checkpoint} is absent; random weights written in its layout at {path}")
    if not path.is_file():
        raise FileNotFoundError(
            f"{run.paper}/{run.experiment}: classifier.checkpoint = {c.checkpoint!r} -> {path} does not exist; "
            f"get {RELEASE_FILES[c.arch]} from the 1202kbs/DMCMC repository and place it there"
        )
    run.log(f"level classifier: the DMCMC release {path}")
    return load_dmcmc_classifier(path, ARCHS[c.arch])


def load_score(run: Run, channels: int) -> torch.nn.Module:
    """The score network s(x, sigma) in [0, 1] data space (NCSN++ VE continuous returns the score itself)."""
    from repro.train import load_trained

    s: ScoreModel = run.cfg.score_model
    if s.kind == "tiny":
        torch.manual_seed(run.seed)
        return load_trained(run, TinyScoreNet(channels, s.width), "score")
    from repro.nets.ncsnpp import config_from_dict, ncsnpp
    from repro.nets.score_sde_checkpoint import load_score_sde_checkpoint

    path = Path(run.data_root) / s.checkpoint
    model = ncsnpp(config_from_dict(s.config))
    if not path.is_file() and run.rehearsal:  # the rehearsal's data root: random weights in the release's layout
        from repro.check import write_score_sde_stand_in

        write_score_sde_stand_in(model, path)
        run.log(f"rehearsal: {s.checkpoint} is absent; random weights written in its layout at {path}")
    if not path.is_file():
        raise FileNotFoundError(
            f"{run.paper}/{run.experiment}: score_model.checkpoint = {s.checkpoint!r} -> {path} "
            f"does not exist; download the score_sde release ({s.release}) to that path"
        )
    load_score_sde_checkpoint(model, path, "ema")
    return model.to(run.device).eval()
