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
from papers.dlg.fid import inception_batch
from papers.dlg.images import ImageConfig, sample_work
from papers.dlg.nets import TinyScoreNet
from repro.config import read_from
from repro.data.batches import TensorBatches
from repro.diffusion.losses import ve_dsm_loss
from repro.diffusion.sde import VESDE
from repro.run import Run
from repro.work import Net, Work, image_inputs, sigmas

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


def score_net(cfg: Config, channels: int) -> torch.nn.Module:
    """The score network before any weights: a TinyScoreNet (`kind: tiny`) or the NCSN++ of `score_model.config`."""
    s = cfg.score_model
    if s.kind == "tiny":
        return TinyScoreNet(channels, s.width)
    from repro.nets.ncsnpp import config_from_dict, ncsnpp

    return ncsnpp(config_from_dict(s.config))


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
        fit(run, score_net(cfg, x.shape[1]), loss, TensorBatches(x, t.batch_size, seed=run.seed + 1), t)


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
        return load_trained(run, score_net(run.cfg, channels), "score")
    from repro.nets.score_sde_checkpoint import load_score_sde_checkpoint

    path = Path(run.data_root) / s.checkpoint
    model = score_net(run.cfg, channels)
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


# Declared GPU work (`repro.work`) of cifar10 and celebahq.


def _shape_name(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def score_spec(cfg: Config, shape: tuple[int, ...]) -> Net:
    """The score network as `score_net` builds it, called as net(x, sigma [B]) by the samplers and the DSM loss."""
    s = cfg.score_model
    if s.kind == "tiny":
        name = f"DLG TinyScoreNet width {s.width}"
    else:
        c = s.config
        name = f"NCSN++ VE nf {c['nf']} ch_mult {tuple(c['ch_mult'])} x{c['num_res_blocks']} blocks"
        name += "".join(f" {k} {c[k]}" for k in ("progressive", "progressive_input") if k in c)
    return Net(
        f"{name} {_shape_name(shape)}",
        lambda: score_net(cfg, shape[0]),
        image_inputs(shape, sigmas(cfg.sigma_min, cfg.sigma_max)),
    )


def classifier_spec(cfg: Config, shape: tuple[int, ...]) -> Net:
    """The level classifier, net(x) -> logits [B, n_levels]; the DMCMC release is the same network (its loader
    requires n_levels = 1000 and builds the class `arch` names)."""
    name = {"simplecnn256": "SimpleCNN256"}.get(cfg.classifier.arch, "SimpleCNN")
    return Net(
        f"DLG {name} K={cfg.n_levels} {_shape_name(shape)}", lambda: _classifier_net(cfg, shape), image_inputs(shape)
    )


def train_work(cfg: Config, shape: tuple[int, ...]) -> list[Work]:
    """`train_models`: the classifier when `source: train`, the score net when `kind: tiny`; none otherwise."""
    out = []
    if cfg.classifier.source == "train":
        t = train_config(cfg.classifier.training, "level_classifier")
        what = f"level classifier cross-entropy, {t.steps} steps"
        out.append(Work("train", what, "train", t.steps, t.batch_size, classifier_spec(cfg, shape)))
    if cfg.score_model.kind == "tiny":
        t = train_config(cfg.score_model.training, "score")
        out.append(Work("train", f"VE DSM, {t.steps} steps", "train", t.steps, t.batch_size, score_spec(cfg, shape)))
    return out


def inception_work(cfg: Config, n_reference: int) -> list[Work]:
    """`evaluate_images` on a first run: each point's `n_samples` samples at the run's one seed, and, without a
    `fid_stats` file, the `n_reference` reference images (pytorch-fid recomputes them on every run, torch-fidelity
    caches them after the first). None on a synthetic stand-in: it is scored by raw-pixel sliced W2 (only a
    rehearsal, which is not priced, takes the FID path on it)."""
    if cfg.data == "synthetic":
        return []
    batch, n = inception_batch(cfg.fid_protocol), len(cfg.points)
    what = f"FID ({cfg.fid_protocol}) of {n} points x {cfg.n_samples} samples"
    out = [Work("evaluate", what, "inception", n * cfg.n_samples, batch)]
    if cfg.fid_stats is None:
        what = f"FID reference statistics ({cfg.fid_protocol}), {n_reference} images"
        out.append(Work("evaluate", what, "inception", n_reference, batch))
    return out


def work(cfg: Config, shape: tuple[int, ...], n_reference: int, rk45: dict[bool, int]) -> list[Work]:
    """Training (`train_work`), the sample stage (`images.sample_work`; RK45 priced at the paper's per-sample NFE
    `rk45` at tol 1e-5, {dlg: NFE}) and the FID's Inception images (`inception_work`, `n_reference` reference
    images). Left out: data loading, the losses' and samplers' own arithmetic (Gibbs steps, minimum-sigma
    selection, the RK45 solver), the Frechet distances and the JPEG round trip (CPU), checkpoint reads and writes."""
    score, classifier = score_spec(cfg, shape), classifier_spec(cfg, shape)
    return [
        *train_work(cfg, shape),
        *sample_work(cfg, score, classifier, rk45),
        *inception_work(cfg, n_reference),
    ]
