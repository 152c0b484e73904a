"""The report's own seaborn figures, drawn from the tidy rows: claimed vs measured, and wall time per experiment."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from repro import atomic  # noqa: E402
from repro.report.data import RunDir, stage_rank  # noqa: E402
from repro.report.summary import Row  # noqa: E402

VERDICT_COLORS = {"reproduced": "#1a7f37", "not reproduced": "#cf222e", "not comparable": "#6e7781", "smoke": "#9a6700"}
CLAIMED_COLOR = "#0550ae"


@contextmanager
def style() -> Iterator[None]:
    """Seaborn's look for the report's figures only (no change to global matplotlib settings)."""
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        yield


def save(fig, path: Path) -> Path:
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plottable(rows: list[Row]) -> list[Row]:
    """Comparable claim rows with a measured value and a non-zero numeric claimed value (so Δ% exists)."""
    return [r for r in rows if r.claim_id and r.comparable and r.value is not None and r.claimed_value]


def _labels(rows: list[Row]) -> list[str]:
    """One y label per row: the claim id, plus tier/setting when a claim has several rows."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.claim_id] = counts.get(r.claim_id, 0) + 1
    labels = [r.claim_id if counts[r.claim_id] == 1 else f"{r.claim_id} [{r.tier}: {r.setting}]" for r in rows]
    return [f"{label} (check)" if r.kind == "check" else label for label, r in zip(labels, rows, strict=True)]


def claims_frame(rows: list[Row]) -> pd.DataFrame:
    """Per plottable row: measured − claimed in % of |claimed|, its stderr and the rule's accepted bounds in %."""
    records = []
    for label, r in zip(_labels(rows), rows, strict=True):
        scale = 100.0 / abs(r.claimed_value)
        tol = r.tol * scale if r.tol is not None else None
        records.append(
            {
                "claim": label,
                "delta_pct": (r.value - r.claimed_value) * scale,
                "err_pct": r.stderr * scale if r.stderr is not None else 0.0,
                "tol_pct": tol,
                "rule": r.rule,
                "verdict": r.verdict,
                "text": f"ours {r.value:.4g} · {'our threshold' if r.threshold == 'ours' else 'paper'} {r.claimed} "
                f"{r.unit}".strip(),
            }
        )
    return pd.DataFrame(records)


def claims_figure(rows: list[Row], path: Path, title: str) -> Path | None:
    """Per claim, how far our value lies from the paper's (in %), ± stderr, over the band its rule accepts."""
    frame = claims_frame(plottable(rows))
    if frame.empty:
        return None
    with style():
        return save(_claims_axes(frame, title), path)


def _claims_axes(frame: pd.DataFrame, title: str):
    fig, ax = plt.subplots(figsize=(7.0, 1.1 + 0.42 * len(frame)))
    for y, r in enumerate(frame.itertuples()):
        if r.tol_pct is not None and not pd.isna(r.tol_pct) and r.rule in ("within", "beyond"):
            color = VERDICT_COLORS["reproduced" if r.rule == "within" else "not reproduced"]
            ax.barh(y, 2 * r.tol_pct, left=-r.tol_pct, height=0.6, color=color, alpha=0.15, lw=0)
        elif r.tol_pct is not None and not pd.isna(r.tol_pct) and r.rule in ("at_most", "at_least"):
            bound = r.tol_pct if r.rule == "at_most" else -r.tol_pct
            ax.plot([bound, bound], [y - 0.3, y + 0.3], ls="--", color=VERDICT_COLORS["reproduced"], lw=1.2)
            # a triangle pointing to the accepted side: visible even when the bound sits on the paper's line (tol 0)
            side = "<" if r.rule == "at_most" else ">"
            ax.plot(bound, y - 0.34, marker=side, ms=6, color=VERDICT_COLORS["reproduced"], ls="")
        ax.errorbar(r.delta_pct, y, xerr=r.err_pct, color=VERDICT_COLORS.get(r.verdict, "black"), capsize=3, lw=1.2)
    sns.scatterplot(
        data=frame,
        x="delta_pct",
        y="claim",
        hue="verdict",
        palette=VERDICT_COLORS,
        s=55,
        ax=ax,
        zorder=3,
        edgecolor="white",
    )
    ax.axvline(0, color=CLAIMED_COLOR, lw=1.5, label="paper's value or our threshold")
    if frame["delta_pct"].abs().max() > 150:
        ax.set_xscale("symlog", linthresh=50)
    for y, text in enumerate(frame["text"]):
        ax.annotate(text, (1.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=8, color="#424a53")
    ax.set_ylim(len(frame) - 0.5, -0.5)
    ax.set_xlabel("ours − claimed, % of the claimed value (the paper's, or our threshold where so labelled)")
    ax.set_ylabel("")
    ax.set_title(title, fontsize=11)
    ax.legend(
        fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.9 / (1.1 + 0.42 * len(frame))), ncol=4, frameon=False
    )
    return fig


def timing_frame(runs: list[RunDir], rows: list[Row]) -> pd.DataFrame:
    """Seconds per (experiment, stage): stage stamps when present, else the CSV's wall_seconds as 'total (CSV)'."""
    csv_wall: dict[tuple[str, str, str], float] = {}
    for r in rows:
        if r.wall_seconds is not None:
            key = (r.tier, r.paper, r.experiment)
            csv_wall[key] = max(csv_wall.get(key, 0.0), r.wall_seconds)
    records = []
    for run in runs:
        label = f"{run.key} ({run.tier})"
        for stage, seconds in run.stages.items():
            records.append({"experiment": label, "stage": stage, "seconds": seconds})
        if not run.stages and (run.tier, run.paper, run.experiment) in csv_wall:
            records.append(
                {
                    "experiment": label,
                    "stage": "total (CSV)",
                    "seconds": csv_wall[(run.tier, run.paper, run.experiment)],
                }
            )
    known = {(run.tier, run.paper, run.experiment) for run in runs}
    for (tier, paper, experiment), seconds in csv_wall.items():
        if (tier, paper, experiment) not in known:
            records.append({"experiment": f"{paper}/{experiment} ({tier})", "stage": "total (CSV)", "seconds": seconds})
    return pd.DataFrame(records, columns=["experiment", "stage", "seconds"])


def timing_figure(frame: pd.DataFrame, path: Path, title: str, always: bool = False) -> Path | None:
    """Horizontal bars of wall seconds per experiment, one bar per stage.

    When nothing was timed: None, or with `always` a figure that says so (a fixed output for Snakemake).
    """
    if frame.empty:
        if not always:
            return None
        with style():
            fig, ax = plt.subplots(figsize=(5.2, 1.2))
            ax.text(0.5, 0.5, "no experiment has been timed yet", ha="center", va="center")
            ax.set_axis_off()
            ax.set_title(title, fontsize=11)
            return save(fig, path)
    with style():
        return save(_timing_axes(frame, title), path)


def _timing_axes(frame: pd.DataFrame, title: str):
    stages = sorted(frame["stage"].unique(), key=stage_rank)
    n = frame["experiment"].nunique()
    fig, ax = plt.subplots(figsize=(5.2, 1.0 + 0.3 * n * max(1, len(stages)) ** 0.5))
    sns.barplot(
        data=frame,
        y="experiment",
        x="seconds",
        hue="stage",
        hue_order=stages,
        orient="h",
        ax=ax,
        palette="colorblind",
        errorbar=None,
    )
    positive = frame["seconds"][frame["seconds"] > 0]
    if len(positive) and positive.max() / positive.min() > 100:
        ax.set_xscale("log")
    ax.set_xlabel("wall seconds")
    ax.set_ylabel("")
    ax.set_title(title, fontsize=11)
    ax.legend(title="stage", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig
