"""The report's own seaborn figures, drawn from the tidy rows: claimed vs measured, and wall time per experiment."""

from __future__ import annotations

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


def _save(fig, path: Path) -> Path:
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plottable(rows: list[Row]) -> list[Row]:
    """Comparable claim rows with a measured value and a numeric claimed value."""
    return [r for r in rows if r.claim_id and r.comparable and r.value is not None and r.claimed_value is not None]


def _labels(rows: list[Row]) -> list[str]:
    """One facet title per row: the claim id, plus tier/setting when a claim has several rows."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.claim_id] = counts.get(r.claim_id, 0) + 1
    return [r.claim_id if counts[r.claim_id] == 1 else f"{r.claim_id}\n{r.tier}: {r.setting}" for r in rows]


def _draw_claim(data: pd.DataFrame, **_: object) -> None:
    ax = plt.gca()
    row = data.iloc[0]
    claimed, tol, rule = row["claimed"], row["tol"], row["rule"]
    if pd.notna(tol) and rule in ("within", "beyond"):
        color = "#1a7f37" if rule == "within" else "#cf222e"
        ax.axhspan(claimed - tol, claimed + tol, color=color, alpha=0.12, lw=0)
    elif pd.notna(tol) and rule in ("at_most", "at_least"):
        ax.axhline(claimed + tol if rule == "at_most" else claimed - tol, color="#1a7f37", ls="--", lw=1)
    points = pd.DataFrame({"who": ["paper", "ours"], "value": [claimed, row["value"]]})
    sns.scatterplot(data=points, x="who", y="value", hue="who", palette={"paper": CLAIMED_COLOR,
                    "ours": VERDICT_COLORS.get(row["verdict"], "black")}, s=70, legend=False, ax=ax, zorder=3)
    if pd.notna(row["stderr"]):
        ax.errorbar([1], [row["value"]], yerr=[row["stderr"]], color=VERDICT_COLORS.get(row["verdict"], "black"),
                    capsize=5, lw=1.5, zorder=2)
    ax.set_xlim(-0.6, 1.6)


def claims_figure(rows: list[Row], path: Path, title: str) -> Path | None:
    """Per claim: the paper's value beside ours (± stderr), the rule's accepted band shaded; None if nothing fits."""
    rows = plottable(rows)
    if not rows:
        return None
    frame = pd.DataFrame([{"label": label, "claimed": r.claimed_value, "value": r.value, "stderr": r.stderr,
                           "tol": r.tol, "rule": r.rule, "verdict": r.verdict, "unit": r.unit}
                          for label, r in zip(_labels(rows), rows)])  # fmt: skip
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.85)
    wrap = min(4, len(frame))
    grid = sns.FacetGrid(frame, col="label", col_wrap=wrap, sharey=False, height=2.6, aspect=0.9)
    grid.map_dataframe(_draw_claim)
    grid.set_titles("{col_name}", size=8)
    grid.set_axis_labels("", "")
    for ax, (_, r) in zip(grid.axes.flat, frame.iterrows()):
        ax.set_ylabel(r["unit"] or "value")
    handles = [plt.Line2D([], [], marker="o", ls="", color=CLAIMED_COLOR, label="claimed (paper)")]
    handles += [plt.Line2D([], [], marker="o", ls="", color=c, label=f"ours: {v}") for v, c in VERDICT_COLORS.items()
                if v in set(frame["verdict"])]  # fmt: skip
    grid.figure.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
                       bbox_to_anchor=(0.5, -0.02 - 0.04 / max(1, len(frame) // wrap)))
    grid.figure.suptitle(title, y=1.02, fontsize=11)
    return _save(grid.figure, path)


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
            records.append({"experiment": label, "stage": "total (CSV)",
                            "seconds": csv_wall[(run.tier, run.paper, run.experiment)]})
    known = {(run.tier, run.paper, run.experiment) for run in runs}
    for (tier, paper, experiment), seconds in csv_wall.items():
        if (tier, paper, experiment) not in known:
            records.append({"experiment": f"{paper}/{experiment} ({tier})", "stage": "total (CSV)", "seconds": seconds})
    return pd.DataFrame(records, columns=["experiment", "stage", "seconds"])


def timing_figure(frame: pd.DataFrame, path: Path, title: str) -> Path | None:
    """Horizontal bars of wall seconds per experiment, one bar per stage; None when nothing was timed."""
    if frame.empty:
        return None
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.85)
    stages = sorted(frame["stage"].unique(), key=stage_rank)
    n = frame["experiment"].nunique()
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.35 * n * max(1, len(stages)) ** 0.5))
    sns.barplot(data=frame, y="experiment", x="seconds", hue="stage", hue_order=stages, orient="h", ax=ax,
                palette="colorblind", errorbar=None)
    positive = frame["seconds"][frame["seconds"] > 0]
    if len(positive) and positive.max() / positive.min() > 100:
        ax.set_xscale("log")
    ax.set_xlabel("wall seconds")
    ax.set_ylabel("")
    ax.set_title(title, fontsize=11)
    ax.legend(title="stage", fontsize=8, title_fontsize=8, loc="lower right")
    return _save(fig, path)
