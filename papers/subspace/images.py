"""The image pipeline shared by subspace/mnist and subspace/cifar10: σ⊥, divergence and cut-offs, sampling arms
(full vs subspace at the same N on one grid) with NFE/cost/wall-time accounting, RMSD table, rows and figures."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from papers.subspace.divergence import cut_time, divergence_curve
from papers.subspace.method import Score, split_steps
from papers.subspace.operators import PCASubspace, downsampling_rmsd
from papers.subspace.sampler import PCSettings, subspace_sample
from repro.diffusion.nfe import CountingScore
from repro.diffusion.samplers.pc import pc_sampler
from repro.diffusion.sde import VESDE, append_zero, geometric_sigmas
from repro.run import Run
from repro.sampling import load_samples, sample_shards, to_uint8


def level_name(size: int, level: int) -> str:
    return "full" if level == 0 else f"{size >> level}x{size >> level}"


def rmsd_table(x: torch.Tensor, levels: list[int], pca: bool = True) -> list[tuple[str, str, float]]:
    """(subspace, method, σ⊥) rows: downsampling, and a PCA subspace of the same dimension (paper Table 1)."""
    rows = []
    size = x.shape[-1]
    for lv in levels:
        name = level_name(size, lv)
        rows.append((name, "downsampling", downsampling_rmsd(x, lv)))
        if pca:
            rows.append((name, "pca", PCASubspace.fit(x, x.shape[1] * (size >> lv) ** 2).rmsd(x)))
    return rows


def rmsd_rows(x: torch.Tensor, dataset: str, levels: list[int], seed: int, pca: bool = True) -> list[dict[str, Any]]:
    """The RMSD table as metric rows (the analogue of the paper's Table 1)."""
    return [
        {
            "dataset": dataset,
            "setting": {"subspace": name, "method": method},
            "metric": "rmsd",
            "value": value,
            "stderr": None,
            "unit": "per orthogonal dim, pixels in [0,1]",
            "n_samples": len(x),
            "seed": seed,
        }
        for name, method, value in rmsd_table(x, levels, pca=pca)
    ]


@torch.no_grad()
def divergence_and_cuts(run: Run, full: Score, x: torch.Tensor) -> dict[str, Any]:
    """σ⊥ per level on `x`, D_F(t) of the full score on the first n_div_samples images, cut-offs per threshold."""
    cfg = run.cfg
    size = x.shape[-1]
    sde = VESDE(cfg["sigma_min"], cfg["sigma_max"])
    times = np.linspace(0.0, 1.0, cfg["n_times"])
    x0 = x[: cfg["n_div_samples"]]
    out: dict[str, Any] = {"t": times.tolist(), "curves": {}, "cuts": {}, "sigma_perp": {}, "n_data": len(x)}
    for lv in cfg["levels"]:
        name = level_name(size, lv)
        sp = downsampling_rmsd(x, lv)
        curve = divergence_curve(
            full,
            x0,
            lv,
            sp,
            sde.sigma(torch.as_tensor(times, dtype=torch.float64)).tolist(),
            lambda i: torch.randn(x0.shape, generator=torch.Generator().manual_seed(run.seed * 1000 + i)).to(x0),
            batch_size=cfg["batch_size"],
        )
        out["sigma_perp"][name], out["curves"][name] = sp, curve
        out["cuts"][name] = {f"{thr:g}": cut_time(times, curve, thr) for thr in cfg["thresholds"]}
        run.log(f"{name}: sigma_perp={sp:.4f}, cut-off times {out['cuts'][name]}")
    return out


def sampling_arms(cfg: dict[str, Any], cuts: dict[str, dict[str, float]], size: int) -> list[dict[str, Any]]:
    """The full sampler, then one subspace arm per (level, cut-off) with a distinct n_sub >= 1."""
    arms = [{"name": "full", "level": 0, "cut_time": None, "n_sub": 0, "rule": "full"}]
    for level in cfg["levels"]:
        seen = set()
        name = level_name(size, level)
        rules = [(f"div{thr:g}", cuts[name][f"{thr:g}"]) for thr in cfg["thresholds"]]
        for rule, t1 in rules + [("fixed", t) for t in cfg["fixed_cut_times"]]:
            n_sub, _ = split_steps(cfg["n_steps"], t1)
            if n_sub < 1 or n_sub in seen:
                continue
            seen.add(n_sub)
            arms.append(
                {"name": f"{name}_{rule}_t{t1:.3f}", "level": level, "cut_time": t1, "n_sub": n_sub, "rule": rule}
            )
    return arms


@torch.no_grad()
def sample_arms(
    run: Run,
    scores: dict[int, Score],
    shape: tuple[int, int, int],
    div: dict[str, Any],
    to_images: Callable[[torch.Tensor], torch.Tensor],
) -> list[dict[str, Any]]:
    """Sample every arm to `samples/<arm>/` (uint8 shards, one seed per sample); timing.json gets NFE per stage,
    evaluated dimensions (Σ NFE × input dimension) and measured wall time per sample. `scores[0]` is the full model,
    `scores[level]` the subspace models; `to_images` maps a sample to [0, 1] images."""
    cfg = run.cfg
    c, size, _ = shape
    sde = VESDE(cfg["sigma_min"], cfg["sigma_max"])
    sigmas = append_zero(geometric_sigmas(cfg["n_steps"], cfg["sigma_max"], float(sde.sigma(cfg["eps"]))))
    pc = PCSettings(
        snr=cfg["snr"],
        n_corrector=cfg["n_corrector"],
        boundary_snr=cfg["boundary_snr"],
        boundary_steps=cfg["boundary_steps"],
    )
    arms = sampling_arms(cfg, div["cuts"], size)
    timing = run.load_json("timing.json") if (run.root / "timing.json").exists() else {}
    for arm in arms:
        counts = {"wall": 0.0, "n": 0, "nfe_sub": 0, "nfe_full": 0}

        def fn(gen, n, arm=arm, counts=counts):
            full = CountingScore(scores[0])
            sub = CountingScore(scores[arm["level"]]) if arm["level"] else None
            grid = sigmas.to(run.device)
            start = time.perf_counter()
            if sub is None:
                x = pc_sampler(
                    full,
                    grid[0] * gen.randn(shape).to(run.device),
                    grid,
                    noise=gen.randn_like,
                    snr=pc.snr,
                    n_corrector=pc.n_corrector,
                )
            else:
                h = size >> arm["level"]
                y = grid[0] * gen.randn((c, h, h)).to(run.device)
                x = subspace_sample(
                    full,
                    sub,
                    y,
                    grid,
                    n_sub=arm["n_sub"],
                    levels=arm["level"],
                    sigma_perp=div["sigma_perp"][level_name(size, arm["level"])],
                    noise=gen.randn_like,
                    pc=pc,
                )
            if x.device.type == "cuda":
                torch.cuda.synchronize()
            counts["wall"] += time.perf_counter() - start
            counts["n"] += n
            counts["nfe_sub"], counts["nfe_full"] = (sub.nfe if sub else 0), full.nfe
            return to_uint8(to_images(x).float())

        sample_shards(run, arm["name"], cfg["n_samples"], cfg["batch_size"], fn)
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


def arm_results(
    run: Run, arms: list[str], quality: Callable[[np.ndarray], dict[str, tuple[float, float | None]]], size: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Metric rows (quality metrics, NFE, cost fraction, wall time, ratios to the full sampler) for every arm."""
    cfg = run.cfg
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
            "n_steps": cfg["n_steps"],
        }
        values = quality(samples)
        extra = {
            "wall_per_sample": (t["wall_per_sample"], "s/sample"),
            "nfe_subspace": (t["nfe_sub"], "evaluations"),
            "nfe_full": (t["nfe_full"], "evaluations"),
            "cost_fraction": (t["cost_dims"] / full_cost, "of full"),
        }
        for metric, (value, stderr) in values.items():
            rows.append(_row(run, setting, metric, value, "", len(samples), stderr))
        for metric, (value, unit) in extra.items():
            rows.append(_row(run, setting, metric, value, unit, len(samples)))
        results[arm] = {
            "quality": {k: v[0] for k, v in values.items()},
            "cost": t["cost_dims"] / full_cost,
            "wall": t["wall_per_sample"],
            "subspace": setting["subspace"],
            "rule": t["rule"],
            "cut_time": t["cut_time"],
            "samples": samples[:36],
        }
    full = results["full"]
    for arm, r in results.items():
        if arm == "full":
            continue
        setting = {"subspace": r["subspace"], "cut_rule": r["rule"], "cut_time": round(r["cut_time"], 4)}
        for metric, value in r["quality"].items():
            rows.append(
                _row(run, setting, f"{metric}_ratio", value / full["quality"][metric], "ratio", cfg["n_samples"])
            )
        rows.append(_row(run, setting, "wall_ratio", r["wall"] / full["wall"], "ratio", cfg["n_samples"]))
    return rows, results


def divergence_rows(run: Run, div: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, curve in div["curves"].items():
        for t, d in zip(div["t"], curve, strict=True):
            rows.append(
                _row(
                    run,
                    {"subspace": name, "t": round(t, 4)},
                    "fisher_divergence",
                    d,
                    "normalised",
                    run.cfg["n_div_samples"],
                )
            )
        for thr, t1 in div["cuts"][name].items():
            rows.append(
                _row(run, {"subspace": name, "threshold": float(thr)}, "cut_time", t1, "t", run.cfg["n_div_samples"])
            )
        rows.append(
            _row(
                run,
                {"subspace": name, "source": "measured"},
                "sigma_perp",
                div["sigma_perp"][name],
                "per dim",
                div["n_data"],
            )
        )
    return rows


def _row(run: Run, setting, metric, value, unit, n, stderr=None) -> dict[str, Any]:
    return {
        "dataset": run.cfg["dataset"],
        "setting": setting,
        "metric": metric,
        "value": float(value),
        "stderr": stderr,
        "unit": unit,
        "n_samples": int(n),
        "seed": run.seed,
    }


def figures(run: Run, div: dict[str, Any], results: dict[str, Any], metric: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = run.cfg
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, curve in div["curves"].items():
        ax.semilogy(
            div["t"], np.maximum(curve, 1e-12), marker="o", ms=3, label=f"{name} (σ⊥={div['sigma_perp'][name]:.3f})"
        )
        for t1 in div["cuts"][name].values():
            ax.axvline(t1, color=ax.lines[-1].get_color(), ls=":", lw=0.8)
    for thr in cfg["thresholds"]:
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
        xlabel="cost (evaluated dims, fraction of full)", ylabel=metric, title=f"Quality vs cost, N = {cfg['n_steps']}"
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
