"""subspace/cifar10: the paper's CIFAR-10 experiment (paper tier: GPU, downloads; dry-run here).

- train: subspace NCSN++ models at 16×16 and 8×8 (score_sde's continuous VE training on 2·AvgPool-downsampled
  images, values in [0, 2^k], random flips, same σ_min/σ_max), unless an official subspace checkpoint is configured;
  at the smoke tier also a tiny full-space NCSN++ (the paper tier loads the official score_sde checkpoint).
- sample: σ⊥ on the training set, orthogonal Fisher divergence of the full model on `n_div_samples` training images at
  21 times, cut-off times by the paper's rule (compared with the notebook's values in claims.yaml), then 50,000 samples
  from the full PC sampler and from the subspace sampler at each cut-off, same N = 1000 on one grid, measured
  wall time and evaluated dimensions.
- evaluate: IS / FID (torch-fidelity, TF Inception, CIFAR-10 train reference) of each arm, runtime saving, and the
  RMSD table on CIFAR-10 (downsampling vs PCA) against Table 1. With the synthetic smoke stand-in: raw-pixel
  sliced W2 instead of IS/FID (plumbing only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from papers.subspace.images import (
    arm_results,
    divergence_and_cuts,
    divergence_rows,
    figures,
    level_name,
    rmsd_rows,
    sample_arms,
)
from papers.subspace.operators import down
from repro.data.augment import image_transform
from repro.data.batches import TensorBatches
from repro.diffusion.losses import ve_dsm_loss
from repro.diffusion.sde import VESDE
from repro.run import Run

SIZE = 32


def _images(run: Run, split: str = "train") -> torch.Tensor:
    cfg = run.cfg
    if cfg["dataset"] == "synthetic":
        from repro.data.synthetic import synthetic_like

        return synthetic_like("cifar10", cfg["n_synthetic"], run.seed + (split != "train")).images
    from repro.data.load import load_dataset

    return load_dataset("cifar10", run.data_root, split).images


def _model_spec(cfg: dict[str, Any], level: int) -> dict[str, Any]:
    spec = cfg["full_model"] if level == 0 else cfg["subspace_models"][level_name(SIZE, level)]
    return spec


def _ncsnpp(spec: dict[str, Any], level: int) -> torch.nn.Module:
    from repro.nets.ncsnpp import config_from_dict, ncsnpp

    values = {**spec["config"], "image_size": SIZE >> level}
    return ncsnpp(config_from_dict(values))


def train(run: Run) -> None:
    """Train every model whose spec has no official checkpoint, on down^level of the (flipped) training images."""
    from repro.train import TrainConfig
    from repro.train import train as fit

    cfg = run.cfg
    x = _images(run)
    for level in [0, *cfg["levels"]]:
        spec = _model_spec(cfg, level)
        name = f"score_{level_name(SIZE, level)}"
        if "checkpoint" in spec:
            run.log(f"{name}: official checkpoint {spec['checkpoint']} is used, nothing to train")
            continue
        torch.manual_seed(run.seed + level)
        batches = TensorBatches(
            down(x, level),
            cfg["training"]["batch_size"],
            seed=run.seed + level,
            transform=image_transform(dequant=False, flip=True),
        )
        fit(
            run,
            _ncsnpp(spec, level),
            ve_dsm_loss(VESDE(cfg["sigma_min"], cfg["sigma_max"]), cfg["eps"]),
            batches,
            TrainConfig.from_config(cfg["training"], name),
        )
        run.log(f"trained {name}")


def _load(run: Run, level: int) -> torch.nn.Module:
    from repro.nets.score_sde_checkpoint import load_score_sde_checkpoint
    from repro.train import load_trained

    spec = _model_spec(run.cfg, level)
    model = _ncsnpp(spec, level)
    if "checkpoint" not in spec:
        return load_trained(run, model, f"score_{level_name(SIZE, level)}")
    path = Path(run.data_root) / spec["checkpoint"]
    if not path.is_file():
        raise FileNotFoundError(
            f"{run.paper}/{run.experiment}: checkpoint {spec['checkpoint']!r} -> {path} does "
            f"not exist; download it ({spec.get('release', 'see papers/subspace2022.md §5')})"
        )
    load_score_sde_checkpoint(model, path, "ema")
    return model.to(run.device).eval()


def sample(run: Run) -> None:
    x = _images(run).to(run.device)
    scores = {}
    for level in [0, *run.cfg["levels"]]:
        net = _load(run, level)
        scores[level] = lambda v, sigma, net=net: net(v, sigma)
    div = divergence_and_cuts(run, scores[0], x)
    arms = sample_arms(run, scores, (3, SIZE, SIZE), div, to_images=lambda v: v.clamp(0, 1))
    run.save_json("divergence.json", {**div, "arms": [a["name"] for a in arms]})


def evaluate(run: Run) -> None:
    cfg = run.cfg
    x = _images(run)
    synthetic = cfg["dataset"] == "synthetic"
    div = run.load_json("divergence.json")
    rows = rmsd_rows(x, cfg["dataset"], cfg["levels"], run.seed, pca=cfg["rmsd_pca"])
    rows += divergence_rows(run, div)
    if synthetic:
        from repro.metrics.distances import sliced_wasserstein2

        ref = x.flatten(1).numpy()

        def quality(samples: np.ndarray) -> dict[str, tuple[float, float | None]]:
            flat = torch.from_numpy(samples).permute(0, 3, 1, 2).float().div(255).flatten(1).numpy()
            return {"pixel_sw2": (sliced_wasserstein2(flat, ref, 64, seed=run.seed), None)}

        metric = "pixel_sw2"
    else:
        from repro.metrics.fidelity import dataset_reference, fidelity_metrics, metric_name

        reference = dataset_reference("cifar10", "train", run.data_root)

        def quality(samples: np.ndarray) -> dict[str, tuple[float, float | None]]:
            out = fidelity_metrics(
                samples,
                reference,
                protocol_n=cfg["protocol_n"],
                cache_root=run.data_root / "fidelity_cache",
                data_root=run.data_root,
                metrics=("isc", "fid"),
            )
            return {r["metric"]: (r["value"], r["stderr"]) for r in out}

        metric = metric_name("fid", cfg["n_samples"], cfg["protocol_n"])
    arm_rows, results = arm_results(run, div["arms"], quality, SIZE)
    run.save_metrics(rows + arm_rows, synthetic_data=synthetic)
    figures(run, div, results, metric, "CIFAR-10" if not synthetic else "synthetic CIFAR-10 stand-in")
