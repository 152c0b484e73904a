"""Sanity rows: a quality metric is evidence only if, at the size we run it, it ranks real data above a bad generator.

Every image experiment scores two extra "generators" with each of its quality metrics: held-out real images
(`sanity=real`) and Gaussian noise with the reference's per-pixel mean and standard deviation (`sanity=noise`).
`ranking_violations` then checks that every model row lies strictly between the two; which end is better is read
from the sanity rows themselves (real is the good end), so no direction table can drift from the metric.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from repro.metrics.distances import mean_stderr
from repro.run import MetricRow

SANITY = ("real", "noise")


def matched_noise(reference: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """`n` draws of Gaussian noise with `reference`'s per-pixel mean and std, clipped to its value range.

    Clipping keeps the noise a valid input for metrics that assume the data range (e.g. a classifier's [0, 1]).
    """
    ref = reference.double()
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((n, *ref.shape[1:]), generator=g, dtype=torch.float64)
    x = ref.mean(0) + ref.std(0) * z
    return x.clamp(float(ref.min()), float(ref.max())).to(reference.dtype)


def sanity_rows(
    metrics: Mapping[str, tuple[str, Callable[[torch.Tensor], float | tuple[float, float | None]]]],
    real: torch.Tensor,
    noise: torch.Tensor,
    *,
    dataset: str,
    seed: int | str,
    setting: Mapping[str, Any] | None = None,
) -> list[MetricRow]:
    """One `sanity=real` and one `sanity=noise` row per metric; `metrics` maps name -> (unit, score(samples)).

    A score may return a value or (value, stderr). `real` must be held out from whatever the metric compares
    against (the reference set, the training set of a Parzen window).
    """
    rows = []
    for label, x in zip(SANITY, (real, noise), strict=True):
        for metric, (unit, score) in metrics.items():
            value, stderr = _value_stderr(score(x))
            rows.append(
                MetricRow(
                    dataset=dataset,
                    setting={"sanity": label, **(setting or {})},
                    metric=metric,
                    value=value,
                    stderr=stderr,
                    unit=unit,
                    n_samples=len(x),
                    seed=seed,
                )
            )
    return rows


def _value_stderr(score: float | tuple[float, float | None]) -> tuple[float, float | None]:
    return (float(score[0]), score[1]) if isinstance(score, tuple) else (float(score), None)


def seed_label(seeds: Sequence[int]) -> str:
    """The `seed` cell of a row summarising several seeds, e.g. "0+1+2"."""
    return "+".join(str(s) for s in seeds)


def paired_difference(a: Sequence[float], b: Sequence[float]) -> tuple[float, float | None]:
    """Mean and standard error of a - b over seeds, paired seed by seed (same seed, same data and noise)."""
    if len(a) != len(b):
        raise ValueError(f"paired difference needs one value per seed in both arms, got {len(a)} and {len(b)}")
    return mean_stderr(np.subtract(a, b))


def difference_rows(
    name: str, a: Sequence[float], b: Sequence[float], unit: str = "", **common: Any
) -> list[MetricRow]:
    """`name`: a - b paired by seed (mean, stderr), and `name_z`, that difference in stderr units, on which a claim
    can put a plain rule (no `_z` row when the stderr is zero or unknown)."""
    diff, se = paired_difference(a, b)
    rows = [MetricRow(metric=name, value=diff, stderr=se, unit=unit, **common)]
    if se:
        rows.append(MetricRow(metric=f"{name}_z", value=diff / se, unit="stderr", **common))
    return rows


def ranking_violations(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every metric with sanity rows must put each model row strictly between `sanity=real` and `sanity=noise`.

    `rows` are results rows (dicts with `metric`, `value`, `setting` as `k=v;k=v`); returns readable violations.
    """
    by_metric: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        if r.get("value") in ("", None):
            continue
        setting = dict(kv.split("=", 1) for kv in str(r.get("setting") or "").split(";") if kv)
        group = setting.get("sanity", "model")
        by_metric.setdefault(str(r["metric"]), {}).setdefault(group, []).append(float(r["value"]))
    problems = []
    for metric, groups in by_metric.items():
        if not set(SANITY) & set(groups):
            continue
        if not set(SANITY) <= set(groups) or len(groups["real"]) != 1 or len(groups["noise"]) != 1:
            problems.append(f"{metric}: needs exactly one sanity=real and one sanity=noise row")
            continue
        real, noise = groups["real"][0], groups["noise"][0]
        if not real != noise:
            problems.append(f"{metric}: real {real} and noise {noise} do not differ")
            continue
        lo, hi = sorted((real, noise))
        outside = [v for v in groups.get("model", []) if not lo < v < hi]
        if outside:
            problems.append(f"{metric}: model values {outside} not between real {real} and noise {noise}")
    return problems
