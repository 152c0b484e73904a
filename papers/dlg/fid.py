"""The FID of the image experiments under the configured protocol (`fid_protocol`, `jpeg_quality`, `fid_stats`).

torch-fidelity (the house's TF-compatible Inception) or pytorch-fid (the paper's code, `repro.metrics.pytorch_fid`);
the paper's JPEG step as a named setting; the reference is the data set's images or a statistics file. Every row
names all three in its setting (`fid_protocol`, `jpeg`, `reference`) and the metric names the protocol (`fid` or
`fid_pytorch_fid`, with a count suffix off the protocol's sample count), so rows of two protocols are never mixed
and a claim written for one never matches the other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from repro.metrics.fid_stats import FidStats
from repro.metrics.fidelity import Reference, metric_name
from repro.run import Run

PROTOCOL_N = {"cifar10": 50_000, "celebahq256": 10_000}  # the paper's FID sample counts (Figs. 3 and 4)


def fid_scorer(
    run: Run, dataset: str, reference: Callable[[], np.ndarray], ref_name: str
) -> tuple[Callable[[np.ndarray], float], str, dict[str, Any]]:
    """(score(uint8 samples) -> FID, metric name, the protocol's setting keys) for `run`'s configuration.

    `reference()` gives the reference set's uint8 (N, H, W, C) images, read only when no `fid_stats` file is
    configured; `ref_name` names them as `<dataset>-<split>` (e.g. `cifar10-train`).
    """
    cfg = run.cfg
    if cfg.fid_stats is not None:
        from repro.metrics.fid_stats import load_fid_stats

        ref: Reference | FidStats = load_fid_stats(Path(run.data_root) / cfg.fid_stats, dim=2048)
        label = ref.name
    else:
        images = reference()
        name, _, split = ref_name.partition("-")
        if cfg.data == "synthetic":  # a stand-in's statistics never pass for the real data set's
            name = f"synthetic_{name}"
        ref = Reference(name, split or "all", len(images), lambda: images)
        label = ref.cache_name
    setting = {
        "fid_protocol": cfg.fid_protocol,
        "jpeg": "off" if cfg.jpeg_quality is None else cfg.jpeg_quality,
        "reference": label,
    }
    n_protocol = PROTOCOL_N[dataset]
    if cfg.fid_protocol == "pytorch-fid":
        from repro.metrics.pytorch_fid import PROTOCOL, PytorchFid

        source = ref if isinstance(ref, FidStats) else images
        scorer = PytorchFid.build(source, run.data_root, jpeg_quality=cfg.jpeg_quality, device=run.device)
        return scorer, metric_name("fid", cfg.n_samples, n_protocol, extractor=PROTOCOL), setting
    return _torch_fidelity(run, ref, n_protocol), metric_name("fid", cfg.n_samples, n_protocol), setting


def _torch_fidelity(run: Run, ref: Reference | FidStats, n_protocol: int) -> Callable[[np.ndarray], float]:
    from repro.metrics.fidelity import fidelity_metrics
    from repro.metrics.pytorch_fid import jpeg_round_trip

    quality = run.cfg.jpeg_quality

    def score(x: np.ndarray) -> float:
        rows = fidelity_metrics(
            x if quality is None else jpeg_round_trip(x, quality),
            ref,
            protocol_n=n_protocol,
            metrics=("fid",),
            device=run.device,
            cache_root=Path(run.data_root) / "fidelity_cache",
            data_root=run.data_root,
        )
        return rows[0]["value"]

    return score


def inception_batch(protocol: str) -> int:
    """The feature batch each protocol runs at as `fid_scorer` calls it (both left at their defaults)."""
    if protocol == "pytorch-fid":
        from repro.metrics.pytorch_fid import PytorchFid

        return PytorchFid.batch_size
    from repro.metrics.fidelity import FEATURE_BATCH

    return FEATURE_BATCH
