"""The image pipeline shared by subspace/mnist and subspace/cifar10: σ⊥, divergence and cut-offs, sampling arms
(full vs subspace at the same N on one grid) with NFE/cost/wall-time accounting, RMSD table, rows and figures.

`ImageConfig` holds the keys both image experiments share: on top of `SubspaceConfig`, the dataset, the VE
loss's `eps`, the `training:` section of the score nets (read by `repro.train.TrainConfig.from_config`), the
sampling batch size and the number of sampling seeds. `sample_stage` and `evaluate_stage` are the bodies of both
experiments' stages.

Sampling seeds: every arm draws `sample_seeds` consecutive sets of `n_samples` (one seed per sample, so the sets
are disjoint and set k of every arm uses the same seeds). Quality is measured per set; an arm's row is the mean
over sets with its stderr, and each subspace arm gets `<metric>_diff_subspace_minus_full` (paired over sets, with
stderr) and that difference in stderr units (`..._z`), on which a claim can put a plain rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from papers.subspace.divergence import cut_time, divergence_curve
from papers.subspace.method import Score, split_steps
from papers.subspace.operators import PCASubspace, downsampling_rmsd
from papers.subspace.sampler import PCSettings, SubspaceConfig, div_rule, subspace_sample
from repro.config import read_from
from repro.diffusion.nfe import CountingScore
from repro.diffusion.samplers.pc import pc_sampler
from repro.diffusion.sde import SDE, VESDE, append_zero, geometric_sigmas
from repro.metrics.distances import mean_stderr
from repro.metrics.sanity import difference_rows, seed_label
from repro.rng import StackedGenerator
from repro.run import MetricRow, Run
from repro.sampling import load_samples, sample_shards, to_uint8

Values = dict[str, tuple[float, float | None]]  # metric -> (value, stderr)
Quality = Callable[[np.ndarray], Values]


@dataclass(frozen=True, kw_only=True)
class ImageConfig(SubspaceConfig):
    dataset: str
    eps: float
    training: dict[str, Any]
    batch_size: int = read_from("sample")  # divergence and sampling batches (training's: its `training:` section)
    sample_seeds: int = read_from("sample", 1)  # sets of `n_samples` per arm (paired differences need >= 2)


def level_name(size: int, level: int) -> str:
    return "full" if level == 0 else f"{size >> level}x{size >> level}"


def rmsd_table(x: torch.Tensor, levels: Sequence[int], pca: bool = True) -> list[tuple[str, str, float]]:
    """(subspace, method, σ⊥) rows: downsampling, and a PCA subspace of the same dimension (paper Table 1)."""
    rows = []
    size = x.shape[-1]
    for lv in levels:
        name = level_name(size, lv)
        rows.append((name, "downsampling", downsampling_rmsd(x, lv)))
        if pca:
            rows.append((name, "pca", PCASubspace.fit(x, x.shape[1] * (size >> lv) ** 2).rmsd(x)))
    return rows


def rmsd_rows(x: torch.Tensor, dataset: str, levels: Sequence[int], seed: int, pca: bool = True) -> list[MetricRow]:
    """The RMSD table as metric rows (the analogue of the paper's Table 1)."""
    return [
        MetricRow(
            dataset=dataset,
            setting={"subspace": name, "method": method},
            metric="rmsd",
            value=value,
            unit="per orthogonal dim, pixels in [0,1]",
            n_samples=len(x),
            seed=seed,
        )
        for name, method, value in rmsd_table(x, levels, pca=pca)
    ]


def sampling_grid(cfg: ImageConfig, sde: SDE | None) -> torch.Tensor:
    """The grid every arm shares, in VE-coordinate noise levels ending at 0: score_sde's geometric VE grid (`sde`
    None: VESDE(sigma_min, sigma_max)), else `sde.sigma` at score_sde's times linspace(1, eps, N)."""
    if sde is None:
        end = float(VESDE(cfg.sigma_min, cfg.sigma_max).sigma(cfg.eps))
        return append_zero(geometric_sigmas(cfg.n_steps, cfg.sigma_max, end))
    return append_zero(sde.sigma(torch.linspace(1.0, cfg.eps, cfg.n_steps, dtype=torch.float64)))


@torch.no_grad()
def divergence_and_cuts(run: Run, full: Score, x: torch.Tensor, sde: SDE | None = None) -> dict[str, Any]:
    """σ⊥ per level on `x`, D_F(t) of the full score on the first n_div_samples images, cut-offs per threshold.

    `sde` None: the VE SDE of the config at t in linspace(0, 1); another SDE (sub-VP, whose score is undefined at
    t = 0) is asked at t >= eps."""
    cfg: ImageConfig = run.cfg
    size = x.shape[-1]
    times = np.linspace(0.0, 1.0, cfg.n_times)
    sde_times = times if sde is None else np.maximum(times, cfg.eps)
    sde = VESDE(cfg.sigma_min, cfg.sigma_max) if sde is None else sde
    x0 = x[: cfg.n_div_samples]
    out: dict[str, Any] = {"t": times.tolist(), "curves": {}, "cuts": {}, "sigma_perp": {}, "n_data": len(x)}
    for lv in cfg.levels:
        name = level_name(size, lv)
        sp = downsampling_rmsd(x, lv)
        curve = divergence_curve(
            full,
            x0,
            lv,
            sp,
            sde.sigma(torch.as_tensor(sde_times, dtype=torch.float64)).tolist(),
            lambda i: torch.randn(x0.shape, generator=torch.Generator().manual_seed(run.seed * 1000 + i)).to(x0),
            batch_size=cfg.batch_size,
        )
        out["sigma_perp"][name], out["curves"][name] = sp, curve
        out["cuts"][name] = {f"{thr:g}": cut_time(times, curve, thr) for thr in cfg.thresholds}
        run.log(f"{name}: sigma_perp={sp:.4f}, cut-off times {out['cuts'][name]}")
    return out


def sampling_arms(cfg: SubspaceConfig, cuts: dict[str, dict[str, float]], size: int) -> list[dict[str, Any]]:
    """The full sampler, then one subspace arm per (level, cut-off) with a distinct n_sub >= 1."""
    arms = [{"name": "full", "level": 0, "cut_time": None, "n_sub": 0, "rule": "full"}]
    for level in cfg.levels:
        seen = set()
        name = level_name(size, level)
        rules = [(div_rule(thr), cuts[name][f"{thr:g}"]) for thr in cfg.thresholds]
        for rule, t1 in rules + [("fixed", t) for t in cfg.fixed_cut_times]:
            n_sub, _ = split_steps(cfg.n_steps, t1)
            if n_sub < 1 or n_sub in seen:
                continue
            seen.add(n_sub)
            arms.append(
                {"name": f"{name}_{rule}_t{t1:.3f}", "level": level, "cut_time": t1, "n_sub": n_sub, "rule": rule}
            )
    return arms


def _draw(
    full: Score,
    sub: Score | None,
    arm: dict[str, Any],
    grid: torch.Tensor,
    gen: StackedGenerator,
    shape: tuple[int, int, int],
    sigma_perp: float,
    pc: PCSettings,
    offset: float,
) -> torch.Tensor:
    """One batch of an arm: the full PC sampler from a full-space prior draw (`sub` None), else the subspace
    sampler from a prior draw in the subspace model's coordinates (`offset`: see `subspace_sample`)."""
    c, size, _ = shape
    if sub is None:
        x = grid[0] * gen.randn(shape).to(grid.device)
        return pc_sampler(full, x, grid, noise=gen.randn_like, snr=pc.snr, n_corrector=pc.n_corrector)
    h = size >> arm["level"]
    y = grid[0] * gen.randn((c, h, h)).to(grid.device)
    return subspace_sample(
        full,
        sub,
        y,
        grid,
        n_sub=arm["n_sub"],
        levels=arm["level"],
        sigma_perp=sigma_perp,
        noise=gen.randn_like,
        pc=pc,
        offset=offset,
    )


@torch.inference_mode()
def sample_arms(
    run: Run,
    scores: dict[int, Score],
    shape: tuple[int, int, int],
    div: dict[str, Any],
    to_images: Callable[[torch.Tensor], torch.Tensor],
    sde: SDE | None = None,
    offsets: dict[int, float] | None = None,
) -> list[dict[str, Any]]:
    """Sample every arm to `samples/<arm>/` (uint8 shards, one seed per sample); timing.json gets NFE per stage,
    evaluated dimensions (Σ NFE × input dimension) and measured wall time per sample. `scores[0]` is the full model,
    `scores[level]` the subspace models (in their own coordinates, `offsets[level]` from the projection; default 0);
    `to_images` maps a sample to [0, 1] images; the grid is `sampling_grid(cfg, sde)`."""
    cfg: ImageConfig = run.cfg
    c, size, _ = shape
    sigmas = sampling_grid(cfg, sde)
    offsets = offsets or {}
    arms = sampling_arms(cfg, div["cuts"], size)
    timing = run.load_json("timing.json") if (run.root / "timing.json").exists() else {}
    for arm in arms:
        counts = {"wall": 0.0, "n": 0, "nfe_sub": 0, "nfe_full": 0}
        sigma_perp = div["sigma_perp"].get(level_name(size, arm["level"]), 0.0)

        def fn(gen, n, arm=arm, counts=counts, sigma_perp=sigma_perp):
            full = CountingScore(scores[0])
            sub = CountingScore(scores[arm["level"]]) if arm["level"] else None
            grid = sigmas.to(run.device)
            start = time.perf_counter()
            x = _draw(full, sub, arm, grid, gen, shape, sigma_perp, cfg.pc, offsets.get(arm["level"], 0.0))
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            counts["wall"] += time.perf_counter() - start
            counts["n"] += n
            counts["nfe_sub"], counts["nfe_full"] = (sub.nfe if sub else 0), full.nfe
            return to_uint8(to_images(x).float())

        sample_shards(run, arm["name"], cfg.n_samples * cfg.sample_seeds, cfg.batch_size, fn)
        if counts["n"]:
            sub_dim = c * (size >> arm["level"]) ** 2 if arm["level"] else 0
            timing[arm["name"]] = {
                **arm,
                "wall_per_sample": counts["wall"] / counts["n"],
                "nfe_sub": counts["nfe_sub"],
                "nfe_full": counts["nfe_full"],
                "cost_dims": counts["nfe_sub"] * sub_dim + counts["nfe_full"] * c * size * size,
            }
            run.log(f"{arm['name']}: {timing[arm['name']]['wall_per_sample'] * 1e3:.1f} ms/sample")
        run.save_json("timing.json", timing)
    return arms


def _arm_rows(
    run: Run,
    setting: dict[str, Any],
    values: dict[str, tuple[float, float | None]],
    t: dict[str, Any],
    full_cost: float,
    n: int,
) -> list[MetricRow]:
    """One arm's quality metrics, then its NFE per stage, cost fraction and wall time (`t`: its timing entry)."""
    extra = {
        "wall_per_sample": (t["wall_per_sample"], "s/sample"),
        "nfe_subspace": (t["nfe_sub"], "evaluations"),
        "nfe_full": (t["nfe_full"], "evaluations"),
        "cost_fraction": (t["cost_dims"] / full_cost, "of full"),
    }
    common = {"dataset": run.cfg.dataset, "setting": setting, "n_samples": n, "seed": _seeds(run)}
    return [MetricRow(metric=m, value=float(v), stderr=e, **common) for m, (v, e) in values.items()] + [
        MetricRow(metric=m, value=float(v), unit=unit, **common) for m, (v, unit) in extra.items()
    ]


def _seeds(run: Run) -> int | str:
    """The `seed` cell of an arm's rows: the run's seed, or its sampling sets ("0+1+2") when there are several."""
    n = run.cfg.sample_seeds
    return run.seed if n == 1 else seed_label(range(n))


def seed_quality(quality: Quality, samples: np.ndarray, n: int) -> tuple[Values, dict[str, list[float]]]:
    """(value, stderr) per metric over the sampling sets (consecutive `n` samples; a single set keeps the metric's
    own stderr) and the per-set values {metric: [value per set]} for paired differences."""
    per_set = [quality(samples[i : i + n]) for i in range(0, len(samples), n)]
    values = {m: [float(q[m][0]) for q in per_set] for m in per_set[0]}
    if len(per_set) == 1:
        return per_set[0], values
    return {m: mean_stderr(v) for m, v in values.items()}, values


def _ratio_rows(run: Run, results: dict[str, Any]) -> list[MetricRow]:
    """Quality and wall time of every subspace arm divided by the full sampler's (means over sampling sets)."""
    full = results["full"]
    rows = []
    for arm, r in results.items():
        if arm == "full":
            continue
        ratios = {f"{m}_ratio": value / full["quality"][m] for m, value in r["quality"].items()}
        ratios["wall_ratio"] = r["wall"] / full["wall"]
        rows += [
            MetricRow(
                dataset=run.cfg.dataset,
                setting=_cut_setting(r),
                metric=metric,
                value=float(value),
                unit="ratio",
                n_samples=run.cfg.n_samples,
                seed=_seeds(run),
            )
            for metric, value in ratios.items()
        ]
    return rows


def _cut_setting(r: dict[str, Any]) -> dict[str, Any]:
    return {"subspace": r["subspace"], "cut_rule": r["rule"], "cut_time": round(r["cut_time"], 4)}


def _difference_rows(run: Run, results: dict[str, Any]) -> list[MetricRow]:
    """Per subspace arm and quality metric: subspace − full, paired over sampling sets (mean, stderr), and that
    difference divided by its stderr (`_z`). Needs >= 2 sets; a zero stderr gives no `_z` row."""
    full = results["full"]["per_set"]
    rows = []
    for arm, r in results.items():
        if arm == "full":
            continue
        common = {"dataset": run.cfg.dataset, "setting": _cut_setting(r), "n_samples": run.cfg.n_samples}
        for m, values in r["per_set"].items():
            if len(values) < 2:
                continue
            rows += difference_rows(f"{m}_diff_subspace_minus_full", values, full[m], seed=_seeds(run), **common)
    return rows


def arm_results(
    run: Run, arms: list[str], quality: Quality, size: int, protocol: Mapping[str, Any] | None = None
) -> tuple[list[MetricRow], dict[str, Any]]:
    """Metric rows (quality metrics, NFE, cost fraction, wall time, ratios and paired differences to the full
    sampler) for every arm; `protocol` (e.g. the FID reference file's name) joins every arm's setting."""
    timing = run.load_json("timing.json")
    full_cost = timing["full"]["cost_dims"]
    rows, results = [], {}
    for arm in arms:
        t = timing[arm]
        samples = load_samples(run, arm)
        setting = {
            "sampler": "full" if t["level"] == 0 else "subspace",
            "subspace": level_name(size, t["level"]),
            "cut_rule": t["rule"],
            "cut_time": "" if t["cut_time"] is None else round(t["cut_time"], 4),
            "n_steps": run.cfg.n_steps,
            **(protocol or {}),
        }
        values, per_set = seed_quality(quality, samples, run.cfg.n_samples)
        rows += _arm_rows(run, setting, values, t, full_cost, run.cfg.n_samples)
        results[arm] = {
            "quality": {k: v[0] for k, v in values.items()},
            "per_set": per_set,
            "cost": t["cost_dims"] / full_cost,
            "wall": t["wall_per_sample"],
            "subspace": setting["subspace"],
            "rule": t["rule"],
            "cut_time": t["cut_time"],
            "samples": samples[:36],
        }
    return rows + _ratio_rows(run, results) + _difference_rows(run, results), results


def divergence_rows(run: Run, div: dict[str, Any]) -> list[MetricRow]:
    """Per level: D_F at every time, the cut-off time per threshold and the measured σ⊥."""
    rows = []
    common = {"dataset": run.cfg.dataset, "seed": run.seed}
    n_div = run.cfg.n_div_samples
    for name, curve in div["curves"].items():
        rows += [
            MetricRow(
                setting={"subspace": name, "t": round(t, 4)},
                metric="fisher_divergence",
                value=float(d),
                unit="normalised",
                n_samples=n_div,
                **common,
            )
            for t, d in zip(div["t"], curve, strict=True)
        ]
        rows += [
            MetricRow(
                setting={"subspace": name, "threshold": float(thr)},
                metric="cut_time",
                value=float(t1),
                unit="t",
                n_samples=n_div,
                **common,
            )
            for thr, t1 in div["cuts"][name].items()
        ]
        rows.append(
            MetricRow(
                setting={"subspace": name, "source": "measured"},
                metric="sigma_perp",
                value=float(div["sigma_perp"][name]),
                unit="per dim",
                n_samples=int(div["n_data"]),
                **common,
            )
        )
    return rows


def sample_stage(
    run: Run,
    scores: dict[int, Score],
    x: torch.Tensor,
    to_images: Callable[[torch.Tensor], torch.Tensor],
    *,
    sde: SDE | None = None,
    offsets: dict[int, float] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The sample stage of an image experiment: σ⊥, D_F and cut-offs on `x` (in the models' data coordinates),
    then every arm; writes divergence.json and returns it with the arms (`sde`, `offsets`: see `sample_arms`)."""
    div = divergence_and_cuts(run, scores[0], x, sde)
    arms = sample_arms(run, scores, tuple(x.shape[1:]), div, to_images, sde, offsets)
    run.save_json("divergence.json", {**div, "arms": [a["name"] for a in arms]})
    return div, arms


def evaluate_stage(
    run: Run,
    x: torch.Tensor,
    quality: Quality,
    metric: str,
    title: str,
    *,
    extra_rows: Sequence[MetricRow] = (),
    pca: bool = True,
    synthetic_data: bool = False,
    protocol: Mapping[str, Any] | None = None,
) -> None:
    """The evaluate stage of an image experiment: RMSD table, divergence rows, `extra_rows`, every arm's quality
    (`quality(uint8 samples)` -> {metric: (value, stderr)}, measured under `protocol`) and cost; metrics.json and
    the figures."""
    cfg: ImageConfig = run.cfg
    div = run.load_json("divergence.json")
    rows = rmsd_rows(x, cfg.dataset, cfg.levels, run.seed, pca=pca) + divergence_rows(run, div) + list(extra_rows)
    arm_rows, results = arm_results(run, div["arms"], quality, x.shape[-1], protocol)
    run.save_metrics(rows + arm_rows, synthetic_data=synthetic_data)
    figures(run, div, results, metric, title)


def figures(run: Run, div: dict[str, Any], results: dict[str, Any], metric: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg: ImageConfig = run.cfg
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, curve in div["curves"].items():
        ax.semilogy(
            div["t"], np.maximum(curve, 1e-12), marker="o", ms=3, label=f"{name} (σ⊥={div['sigma_perp'][name]:.3f})"
        )
        for t1 in div["cuts"][name].values():
            ax.axvline(t1, color=ax.lines[-1].get_color(), ls=":", lw=0.8)
    for thr in cfg.thresholds:
        ax.axhline(thr, color="grey", ls="--", lw=0.8)
    ax.set(xlabel="t", ylabel="orthogonal Fisher divergence", title="Full-space model vs Gaussian orthogonal model")
    ax.legend(fontsize=8)
    run.save_figure(
        fig,
        "divergence",
        f"Orthogonal Fisher divergence of the full model ({title})",
        "Dashed: thresholds; dotted: cut-off times (first t below the threshold, log-linear interpolation).",
    )

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for sub in dict.fromkeys(r["subspace"] for r in results.values()):
        pts = sorted((r["cost"], r["quality"][metric]) for r in results.values() if r["subspace"] == sub)
        ax.plot(*zip(*pts, strict=True), marker="*" if sub == "full" else "o", ms=12 if sub == "full" else 6, label=sub)
    ax.set(
        xlabel="cost (evaluated dims, fraction of full)",
        ylabel=f"{metric} (lower is better)",
        title=f"Quality vs cost, N = {cfg.n_steps}",
    )
    ax.legend(fontsize=8)
    run.save_figure(
        fig,
        "quality_cost",
        f"Quality vs cost: subspace vs full sampler ({title})",
        "Each subspace point is one cut-off time; the star is the full-space PC sampler with the same N.",
    )

    arms = list(results)
    fig, axes = plt.subplots(1, len(arms), figsize=(2.2 * len(arms), 2.6), squeeze=False)
    for ax, arm in zip(axes[0], arms, strict=True):
        s = results[arm]["samples"]
        k = int(np.sqrt(len(s)))
        grid = (
            s[: k * k]
            .reshape(k, k, *s.shape[1:])
            .transpose(0, 2, 1, 3, 4)
            .reshape(k * s.shape[1], k * s.shape[2], s.shape[3])
        )
        ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{arm}\n{metric} {results[arm]['quality'][metric]:.3g}", fontsize=7)
        ax.axis("off")
    run.save_figure(fig, "samples", f"Samples per sampler ({title})", "First samples of each arm (uint8).")
