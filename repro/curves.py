"""Training curves: the evidence that a model was trained to a plateau within its budget, not stopped while improving.

A training keeps its weights every `keep_every` steps (`repro.train`); `snapshot_curve` scores each kept snapshot
and the final weights with a quality metric on a fixed small sample, `plateau_step` finds the step after which the
metric stopped improving, and `curve_figure` draws it beside the logged training loss. `plateau_row` records the
step in the results, with the last step, so a reader sees whether the budget ran out before the plateau.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from torch import nn

from repro.run import MetricRow, Run
from repro.train import load_snapshot, load_trained, snapshots


def logged_loss(run: Run, name: str) -> tuple[list[int], list[float]]:
    """(steps, mean loss) from the training log of `name`."""
    steps, losses = [], []
    for line in run.path(f"train_{name}.jsonl").read_text().splitlines():
        entry = json.loads(line)
        steps.append(int(entry["step"]))
        losses.append(float(entry["loss"]))
    return steps, losses


def snapshot_curve(
    run: Run, name: str, build: Callable[[], nn.Module], score: Callable[[nn.Module], float], final_step: int
) -> list[tuple[int, float]]:
    """(step, score) for every kept snapshot of `name` and its final (EMA) weights, by step."""
    curve = [
        (step, score(load_snapshot(run, build(), path))) for step, path in snapshots(run, name) if step < final_step
    ]
    curve.append((final_step, score(load_trained(run, build(), name))))
    for step, value in curve:
        run.log(f"{name}: step {step}: {value:.4g}")
    return curve


def plateau_step(curve: Sequence[tuple[int, float]], lower_is_better: bool, rel_tol: float = 0.05) -> int:
    """The first step whose value no later step improves on by more than `rel_tol` of its magnitude."""
    if not curve:
        raise ValueError("an empty training curve has no plateau")
    sign = 1.0 if lower_is_better else -1.0
    for i, (step, value) in enumerate(curve):
        margin = rel_tol * abs(value)
        if all(sign * (value - later) <= margin for _, later in curve[i + 1 :]):
            return step
    raise AssertionError("unreachable: the last step always qualifies")


def plateau_row(
    curve: Sequence[tuple[int, float]],
    metric: str,
    lower_is_better: bool,
    *,
    dataset: str,
    seed: int | str,
    rel_tol: float = 0.05,
    **setting,
) -> MetricRow:
    """`<metric>_plateau_step`: where the metric stopped improving, beside the last step trained."""
    return MetricRow(
        dataset=dataset,
        setting={**setting, "last_step": curve[-1][0], "rel_tol": rel_tol},
        metric=f"{metric}_plateau_step",
        value=float(plateau_step(curve, lower_is_better, rel_tol)),
        unit="step",
        n_samples=len(curve),
        seed=seed,
    )


def curve_figure(run: Run, name: str, curve: Sequence[tuple[int, float]], metric_label: str, title: str) -> None:
    """Training loss (log scale) and the metric at each snapshot, against the step."""
    import matplotlib.pyplot as plt

    steps, losses = logged_loss(run, name)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.5, 3.0))
    left.plot(steps, losses, color="#4c72b0", lw=1.2)
    left.set_yscale("log")
    left.set(xlabel="training step", ylabel="training loss (log)", title="loss")
    right.plot([s for s, _ in curve], [v for _, v in curve], marker="o", color="#dd8452", lw=1.2)
    right.set(xlabel="training step", ylabel=metric_label, title="quality at kept weights")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    run.save_figure(
        fig,
        f"training_{name}",
        title,
        f"Training curve of {name}: the loss logged during training and {metric_label} of a fixed small sample "
        "from the weights kept every few steps (the last point: the final weights used for the results).",
    )
