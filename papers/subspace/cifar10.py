"""subspace/cifar10: the paper's CIFAR-10 experiment (paper tier: GPU, downloads; dry-run here).

- train: subspace NCSN++ models at 16×16 and 8×8 (score_sde's continuous VE training on 2·AvgPool-downsampled
  images, values in [0, 2^k], random flips, same σ_min/σ_max, the `training:` section), unless an official subspace
  checkpoint is configured; at the smoke tier also a tiny full-space NCSN++ (the paper tier loads the official
  score_sde checkpoint). `full_model` / `subspace_models.<size>`: the NCSN++ `config` and an optional `checkpoint`.
- sample: σ⊥ on the training set, orthogonal Fisher divergence of the full model on `n_div_samples` training images at
  21 times, cut-off times by the paper's rule (compared with the notebook's values in claims.yaml), then 50,000 samples
  from the full PC sampler and from the subspace sampler at each cut-off, same N = 1000 on one grid, measured
  wall time and evaluated dimensions.
- evaluate: IS / FID (torch-fidelity, TF Inception, CIFAR-10 train reference) of each arm, runtime saving, and the
  RMSD table on CIFAR-10 (downsampling vs PCA, `rmsd_pca`) against Table 1. With the synthetic smoke stand-in
  (`dataset: synthetic`, `n_synthetic` images): raw-pixel sliced W2 instead of IS/FID (plumbing only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from papers.subspace import images
from papers.subspace.operators import down
from repro.config import read_from
from repro.data.augment import image_transform
from repro.data.batches import TensorBatches
from repro.diffusion.losses import ve_dsm_loss
from repro.diffusion.sde import VESDE
from repro.run import Run

SIZE = 32


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """An NCSN++ model: its architecture `config` (image_size set per level) and an official checkpoint, if any."""

    config: dict[str, Any]
    checkpoint: str | None = None
    release: str | None = read_from("sample", None)  # named only when loading the checkpoint, to sample


@dataclass(frozen=True, kw_only=True)
class Config(images.ImageConfig):
    full_model: ModelSpec
    subspace_models: dict[str, ModelSpec]
    protocol_n: int = read_from("evaluate")
    rmsd_pca: bool = read_from("evaluate")
    n_synthetic: int | None = None


def _images(run: Run, split: str = "train") -> torch.Tensor:
    cfg: Config = run.cfg
    if cfg.dataset == "synthetic":
        from repro.data.synthetic import synthetic_like

        return synthetic_like("cifar10", cfg.n_synthetic, run.seed + (split != "train")).images
    from repro.data.load import load_dataset

    return load_dataset("cifar10", run.data_root, split).images


def _model_spec(cfg: Config, level: int) -> ModelSpec:
    return cfg.full_model if level == 0 else cfg.subspace_models[images.level_name(SIZE, level)]


def _ncsnpp(spec: ModelSpec, level: int) -> torch.nn.Module:
    from repro.nets.ncsnpp import config_from_dict, ncsnpp

    return ncsnpp(config_from_dict({**spec.config, "image_size": SIZE >> level}))


def train(run: Run) -> None:
    """Train every model whose spec has no official checkpoint, on down^level of the (flipped) training images."""
    from repro.train import TrainConfig
    from repro.train import train as fit

    cfg: Config = run.cfg
    x = _images(run)
    for level in [0, *cfg.levels]:
        spec = _model_spec(cfg, level)
        name = f"score_{images.level_name(SIZE, level)}"
        if spec.checkpoint is not None:
            run.log(f"{name}: official checkpoint {spec.checkpoint} is used, nothing to train")
            continue
        training = TrainConfig.from_config(cfg.training, name)
        torch.manual_seed(run.seed + level)
        batches = TensorBatches(
            down(x, level),
            training.batch_size,
            seed=run.seed + level,
            transform=image_transform(dequant=False, flip=True),
        )
        fit(run, _ncsnpp(spec, level), ve_dsm_loss(VESDE(cfg.sigma_min, cfg.sigma_max), cfg.eps), batches, training)
        run.log(f"trained {name}")


def _load(run: Run, level: int) -> torch.nn.Module:
    from repro.nets.score_sde_checkpoint import load_score_sde_checkpoint
    from repro.train import load_trained

    spec = _model_spec(run.cfg, level)
    model = _ncsnpp(spec, level)
    if spec.checkpoint is None:
        return load_trained(run, model, f"score_{images.level_name(SIZE, level)}")
    path = Path(run.data_root) / spec.checkpoint
    if not path.is_file() and run.rehearsal:  # the rehearsal's data root: random weights in the release's layout
        from repro.check import write_score_sde_stand_in

        write_score_sde_stand_in(model, path)
        run.log(f"rehearsal: {spec.checkpoint} is absent; random weights written in its layout at {path}")
    if not path.is_file():
        raise FileNotFoundError(
            f"{run.paper}/{run.experiment}: checkpoint {spec.checkpoint!r} -> {path} does "
            f"not exist; download it ({spec.release or 'see papers/subspace2022.md §5'})"
        )
    load_score_sde_checkpoint(model, path, "ema")
    return model.to(run.device).eval()


def sample(run: Run) -> None:
    x = _images(run).to(run.device)
    scores = {}
    for level in [0, *run.cfg.levels]:
        net = _load(run, level)
        scores[level] = lambda v, sigma, net=net: net(v, sigma)
    images.sample_stage(run, scores, x, to_images=lambda v: v.clamp(0, 1))


def _pixel_sw2(run: Run, x: torch.Tensor) -> images.Quality:
    """Raw-pixel sliced W2 against `x`: the plumbing-only quality of the synthetic stand-in."""
    from repro.metrics.distances import sliced_wasserstein2

    ref = x.flatten(1).numpy()

    def quality(samples: np.ndarray) -> dict[str, tuple[float, float | None]]:
        flat = torch.from_numpy(samples).permute(0, 3, 1, 2).float().div(255).flatten(1).numpy()
        return {"pixel_sw2": (sliced_wasserstein2(flat, ref, 64, seed=run.seed), None)}

    return quality


def _fidelity(run: Run, stand_in: torch.Tensor | None = None) -> images.Quality:
    """IS and FID (torch-fidelity, TF Inception) against the CIFAR-10 train split (or, in a rehearsal without
    CIFAR-10, against the synthetic stand-in `stand_in`, under its own cache name)."""
    from repro.metrics.fidelity import Reference, dataset_reference, fidelity_metrics
    from repro.sampling import to_uint8

    cfg: Config = run.cfg
    if stand_in is not None:
        ref = to_uint8(stand_in).numpy()
        reference = Reference("synthetic-cifar10", "train", len(ref), lambda: ref)
    else:
        reference = dataset_reference("cifar10", "train", run.data_root)

    def quality(samples: np.ndarray) -> dict[str, tuple[float, float | None]]:
        out = fidelity_metrics(
            samples,
            reference,
            protocol_n=cfg.protocol_n,
            cache_root=run.data_root / "fidelity_cache",
            data_root=run.data_root,
            metrics=("isc", "fid"),
        )
        return {r["metric"]: (r["value"], r["stderr"]) for r in out}

    return quality


def evaluate(run: Run) -> None:
    from repro.metrics.fidelity import metric_name

    cfg: Config = run.cfg
    x = _images(run)
    synthetic = cfg.dataset == "synthetic"
    if synthetic and run.rehearsal:  # the rehearsal takes the real metric path on the stand-in
        quality = _fidelity(run, stand_in=x)
        metric, title = metric_name("fid", cfg.n_samples, cfg.protocol_n), "synthetic CIFAR-10 stand-in"
    elif synthetic:
        quality, metric, title = _pixel_sw2(run, x), "pixel_sw2", "synthetic CIFAR-10 stand-in"
    else:
        quality, metric, title = _fidelity(run), metric_name("fid", cfg.n_samples, cfg.protocol_n), "CIFAR-10"
    images.evaluate_stage(run, x, quality, metric, title, pca=cfg.rmsd_pca, synthetic_data=synthetic)
