"""dlg/cifar10 (paper tier): official VE NCSN++ CIFAR-10 checkpoint, the DMCMC release of the SimpleCNN level
classifier (or one trained here on CIFAR-10), FID on 50k samples per integrator x NFE, with and without DLG, under
the paper's protocol (pytorch-fid; its .jpg step is `jpeg_quality`, off: samples stay lossless uint8) or the
house's (torch-fidelity).

At the smoke tier a synthetic stand-in of CIFAR-10's shape replaces the data and a small score net the
checkpoint; its numbers are plumbing checks ('smoke' verdicts).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from papers.dlg import official
from papers.dlg.images import metric_rows, plot_fid_vs_nfe, sample_points
from repro.run import Run
from repro.work import Work

Config = official.Config  # shared with celebahq: data, VE range, NFE axis, DLG, score model, level classifier
SHAPE = (3, 32, 32)
TRAIN_IMAGES = 50_000  # CIFAR-10's train split: the FID reference `evaluate` reads
RK45_NFE = {False: 180, True: 60}  # per-sample NFE of the RK45 points at tol 1e-5 (arXiv v1 Fig. 3), for pricing


def _images(run: Run, split: str = "train") -> torch.Tensor:
    cfg: Config = run.cfg
    if cfg.data == "synthetic":
        from repro.data.synthetic import synthetic_like

        return synthetic_like("cifar10", cfg.n_synthetic, run.seed + (split != "train")).images
    from repro.data.load import load_dataset

    return torch.as_tensor(load_dataset("cifar10", run.data_root, split=split).images)


def train(run: Run) -> None:
    official.train_models(run, lambda: _images(run))


def sample(run: Run) -> None:
    sample_points(
        run, official.load_score(run, SHAPE[0]), official.load_classifier(run, SHAPE), run.cfg.levels(), SHAPE
    )


def evaluate(run: Run) -> None:
    from repro.sampling import to_uint8

    evaluate_images(run, "cifar10", lambda: to_uint8(_images(run)).numpy(), "cifar10-train")


def work(cfg: Config) -> list[Work]:
    """Train (nothing with the releases), sample and evaluate as `official.work` declares them, the FID reference
    being the CIFAR-10 train split; RK45's adaptive NFE is priced from the paper's figure (`RK45_NFE`)."""
    return official.work(cfg, SHAPE, TRAIN_IMAGES, RK45_NFE)


def evaluate_images(run: Run, dataset: str, reference: Callable[[], np.ndarray], ref_name: str) -> None:
    """FID under the configured protocol (real data; `papers.dlg.fid`) or raw-pixel sliced W2 (synthetic stand-in)
    per point, and the figure. `reference()` loads the reference images (uint8 [N, H, W, C]) when needed."""
    synthetic = run.cfg.data == "synthetic"
    if synthetic and not run.rehearsal:  # a rehearsal takes the real metric path on the stand-in too
        from repro.metrics.distances import sliced_wasserstein2

        ref = reference().astype(np.float64) / 255
        metric, unit, protocol = "sw2_pixels", "distance (raw pixels)", {}

        def score(x: np.ndarray) -> float:
            return sliced_wasserstein2(x.astype(np.float64) / 255, ref, 64, seed=run.seed)
    else:
        from papers.dlg.fid import fid_scorer

        score, metric, protocol = fid_scorer(run, dataset, reference, ref_name)
        unit = "FID"

    rows = metric_rows(run, dataset, score, metric=metric, unit=unit, protocol=protocol)
    run.save_metrics(rows, synthetic_data=synthetic)
    plot_fid_vs_nfe(
        run,
        rows,
        metric,
        "fid_vs_nfe",
        f"DLG on {dataset}: {metric} vs NFE",
        "Six integrators without and with DLG at matched per-sample NFE (n_skip + integrator + Tweedie); "
        "the paper's Fig. 3 layout.",
    )
