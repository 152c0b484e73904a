"""dlg/cifar10 (paper tier): official VE NCSN++ CIFAR-10 checkpoint, SimpleCNN level classifier trained on
CIFAR-10 (or the DMCMC release), FID on 50k samples per integrator x NFE, with and without DLG.

At the smoke tier a synthetic stand-in of CIFAR-10's shape replaces the data and a small score net the
checkpoint; its numbers are plumbing checks ('smoke' verdicts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from papers.dlg import official
from papers.dlg.images import metric_rows, plot_fid_vs_nfe, sample_points
from repro.run import Run

Config = official.Config  # shared with celebahq: data, VE range, NFE axis, DLG, score model, level classifier
SHAPE = (3, 32, 32)


def _images(run: Run, split: str = "train") -> torch.Tensor:
    cfg: Config = run.cfg
    if cfg.data == "synthetic":
        from repro.data.synthetic import synthetic_like

        return synthetic_like("cifar10", cfg.n_synthetic, run.seed + (split != "train")).images
    from repro.data.load import load_dataset

    return torch.as_tensor(load_dataset("cifar10", run.data_root, split=split).images)


def train(run: Run) -> None:
    official.train_models(run, _images(run))


def sample(run: Run) -> None:
    sample_points(
        run, official.load_score(run, SHAPE[0]), official.load_classifier(run, SHAPE), run.cfg.levels(), SHAPE
    )


PROTOCOL_N = {"cifar10": 50_000, "celebahq256": 10_000}  # the paper's FID sample counts (Figs. 3 and 4)


def evaluate(run: Run) -> None:
    evaluate_images(run, "cifar10", _images(run), "cifar10-train")


def evaluate_images(run: Run, dataset: str, reference: torch.Tensor, ref_name: str) -> None:
    """FID (Inception, real data) or raw-pixel sliced W2 (synthetic stand-in) per point, and the figure."""
    from repro.sampling import to_uint8

    ref = to_uint8(reference).numpy()
    synthetic = run.cfg.data == "synthetic"
    if synthetic and not run.rehearsal:  # a rehearsal takes the real metric path on the stand-in too
        from repro.metrics.distances import sliced_wasserstein2

        metric, unit = "sw2_pixels", "distance (raw pixels)"

        def score(x: np.ndarray) -> float:
            return sliced_wasserstein2(x.astype(np.float64) / 255, ref.astype(np.float64) / 255, 64, seed=run.seed)
    else:
        from repro.metrics.fidelity import Reference, fidelity_metrics, metric_name

        dataset_name, _, split = ref_name.partition("-")
        if synthetic:  # its own cache name: a stand-in's statistics never serve the real data set
            dataset_name = f"synthetic_{dataset_name}"
        reference_set = Reference(dataset_name, split or "all", len(ref), lambda: ref)
        n_protocol = PROTOCOL_N[dataset]
        # "fid" only when the sample count is the protocol's; otherwise e.g. "fid_1k"
        metric, unit = metric_name("fid", run.cfg.n_samples, n_protocol), "FID"

        def score(x: np.ndarray) -> float:
            rows = fidelity_metrics(
                x,
                reference_set,
                protocol_n=n_protocol,
                metrics=("fid",),
                device=run.device,
                cache_root=Path(run.data_root) / "fidelity_cache",
                data_root=run.data_root,
            )
            return rows[0]["value"]

    rows = metric_rows(run, dataset, score, metric=metric, unit=unit)
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
