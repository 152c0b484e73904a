"""subspace/gauss: data near a known downsampling subspace with exact scores (CPU analogue A of the sheet, §6.3).

8×8 single-channel images; the data law lives in the 4×4 subspace plus orthogonal noise (`toy.SubspaceMixture`).
Variant "holds": Gaussian orthogonal part, so the Gaussian model of Eq. 9 is exact for the 4×4 subspace and the
orthogonal Fisher divergence is ~0 at every t (only the sampling error of the measured σ⊥ remains). Variant
"violated": every component has its own orthogonal mean, so D_F > 0 at low noise. The 2×2 subspace is approximate
in both variants (the 4×4 structure inside it is not Gaussian).

One `evaluate` stage: σ⊥ (measured vs exact), the NLL of held-out data under the exact law and under the
implicit model of each subspace (exact subspace law ⊕ Gaussian orthogonal part, `method.implicit_log_prob`),
D_F curves on 21 times and cut-off times by the paper's rule, then the full PC sampler vs the subspace sampler
(same N, same grid) at the divergence cut-offs and at fixed cut-offs, for the VE and the sub-VP SDE. Quality:
Fréchet distance and sliced W2 against exact samples (with the exact-vs-exact floor), σ⊥ of the samples,
per-mode orthogonal mean error. Cost: evaluated input dimensions (Σ NFE × dimension per stage) and wall time
per sample.

sub-VP runs in the α-scaled variable x/α_t (noise level σ_t/α_t, `repro.diffusion.sde.SubVPSDE`), where the
reverse-diffusion predictor, the Langevin corrector and the boundary step take their VE form; results are
reported for x_0 ≈ x/α_ε.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from papers.subspace.divergence import cut_time, divergence_curve
from papers.subspace.method import implicit_log_prob, split_steps
from papers.subspace.operators import down, downsampling_rmsd, orthogonal, orthogonal_dim
from papers.subspace.sampler import PCSettings, subspace_sample
from papers.subspace.toy import SubspaceMixture, subspace_score
from repro.diffusion.nfe import CountingScore
from repro.diffusion.samplers.pc import pc_sampler
from repro.diffusion.sde import VESDE, SubVPSDE, append_zero
from repro.metrics.distances import frechet_distance, mean_stderr, sliced_wasserstein2
from repro.run import Run

LEVEL_NAMES = {1: "4x4", 2: "2x2"}


def build_law(cfg: dict[str, Any], variant: str) -> SubspaceMixture:
    """The data law of a variant: mixture means uniform in [0, mean_scale]^16 (4×4 coordinates)."""
    g = torch.Generator().manual_seed(cfg["layout_seed"])
    m, size = cfg["n_components"], cfg["image_size"]
    means = cfg["mean_scale"] * torch.rand(m, 1, size // 2, size // 2, generator=g, dtype=torch.float64)
    b = torch.zeros(m, 1, size, size, dtype=torch.float64)
    if variant == "violated":
        raw = orthogonal(torch.randn(m, 1, size, size, generator=g, dtype=torch.float64), 1)
        per_dim = raw.flatten(1).norm(dim=1) / orthogonal_dim((1, size, size), 1) ** 0.5
        b = cfg["violated_scale"] * cfg["orth_std"] * raw / per_dim.reshape(-1, 1, 1, 1)
    weights = torch.full((m,), 1.0 / m, dtype=torch.float64)
    return SubspaceMixture(weights, means, cfg["sub_std"], b, cfg["orth_std"], levels=1)


def noise_grid(sde_name: str, cfg: dict[str, Any], n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(times, VE-coordinate noise levels) at `n` times t_i = linspace(1, eps, n)."""
    t = torch.linspace(1.0, cfg["eps"][sde_name], n, dtype=torch.float64)
    return t, sde_sigma(sde_name, cfg, t)


def sde_sigma(sde_name: str, cfg: dict[str, Any], t: torch.Tensor) -> torch.Tensor:
    if sde_name == "ve":
        return VESDE(cfg["sigma_min"], cfg["sigma_max"]).sigma(t)
    sde = SubVPSDE(cfg["beta_min"], cfg["beta_max"])
    return sde.std(t) / sde.alpha(t)


def orth_mean_error(x: torch.Tensor, law: SubspaceMixture) -> float:
    """RMS per orthogonal dimension of (mean orthogonal part of the samples nearest each mode − its b_m)."""
    ys = down(x, 1).flatten(1)
    labels = (ys[:, None] - law.sub_means.flatten(1)[None]).square().sum(-1).argmin(1)
    xo = orthogonal(x, 1).flatten(1)
    errs = []
    for k in range(len(law.weights)):
        sel = labels == k
        if sel.any():
            errs.append(float((xo[sel].mean(0) - law.orth_means[k].flatten()).square().mean()))
    return float(np.sqrt(np.mean(errs) * x[0].numel() / orthogonal_dim(law.shape, 1)))


def run_sampler(cfg, law, sde_name, level, n_sub, sigma_perp, seed) -> dict[str, Any]:
    """Sample n with the full (level None) or the subspace sampler; returns samples, NFE per stage, cost, wall."""
    n, steps, shape = cfg["n_samples"], cfg["n_steps"], law.shape
    _, sig = noise_grid(sde_name, cfg, steps)
    sigmas = append_zero(sig)
    g = torch.Generator().manual_seed(seed)

    def noise(v):
        return torch.randn(v.shape, generator=g, dtype=v.dtype)

    pc = PCSettings(
        snr=cfg["snr"],
        n_corrector=cfg["n_corrector"],
        boundary_snr=cfg["boundary_snr"],
        boundary_steps=cfg["boundary_steps"],
    )
    full = CountingScore(law.score)
    start = time.perf_counter()
    if level is None:
        x = pc_sampler(
            full,
            sigmas[0] * torch.randn(n, *shape, generator=g, dtype=torch.float64),
            sigmas,
            noise=noise,
            snr=pc.snr,
            n_corrector=pc.n_corrector,
        )
        sub_nfe, sub_dim = 0, 0
    else:
        sub_shape = (shape[0], shape[1] >> level, shape[2] >> level)
        sub = CountingScore(subspace_score(law.subspace_mixture(level), sub_shape))
        y = sigmas[0] * torch.randn(n, *sub_shape, generator=g, dtype=torch.float64)
        x = subspace_sample(full, sub, y, sigmas, n_sub=n_sub, levels=level, sigma_perp=sigma_perp, noise=noise, pc=pc)
        sub_nfe, sub_dim = sub.nfe, int(np.prod(sub_shape))
    wall = time.perf_counter() - start
    full_dim = int(np.prod(shape))
    return {
        "x": x,
        "sub_nfe": sub_nfe,
        "full_nfe": full.nfe,
        "cost_dims": sub_nfe * sub_dim + full.nfe * full_dim,
        "wall_per_sample": wall / n,
    }


def _noise_fn(shape: torch.Size, seed: int):
    """Standard normal noise for divergence level i, seeded by (seed, i)."""
    return lambda i: torch.randn(shape, generator=torch.Generator().manual_seed(seed * 1000 + i), dtype=torch.float64)


def evaluate(run: Run) -> None:
    cfg = run.cfg
    rows: list[dict[str, Any]] = []
    curves: dict[str, Any] = {}
    results: dict[str, Any] = {}

    def row(dataset, setting, metric, value, unit, n, stderr=None, seed=None):
        # the variant leads the setting so that a claim's setting can select it (claims match on setting)
        rows.append(
            {
                "dataset": dataset,
                "setting": {"variant": dataset.removeprefix("gauss8_"), **setting},
                "metric": metric,
                "value": float(value),
                "stderr": stderr,
                "unit": unit,
                "n_samples": int(n),
                "seed": run.seed if seed is None else seed,
            }
        )

    seeds = list(range(run.seed, run.seed + cfg["seeds"]))
    seed_label = f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else seeds[0]
    times = np.linspace(0.0, 1.0, cfg["n_times"])
    for variant in cfg["variants"]:
        law = build_law(cfg, variant)
        ds = f"gauss8_{variant}"
        data = law.sample(cfg["n_data"], torch.Generator().manual_seed(run.seed))
        sigma_perp = {}
        for level in cfg["levels"]:
            sp = downsampling_rmsd(data, level)
            sigma_perp[level] = sp
            row(ds, {"subspace": LEVEL_NAMES[level], "source": "measured"}, "sigma_perp", sp, "per dim", len(data))
            row(
                ds,
                {"subspace": LEVEL_NAMES[level], "source": "exact"},
                "sigma_perp",
                law.orth_std_to(level),
                "per dim",
                0,
            )
        held_out = law.sample(cfg["n_data"], torch.Generator().manual_seed(run.seed + 1))
        zero = torch.zeros(len(held_out), dtype=torch.float64)
        dims = held_out[0].numel()
        row(ds, {"model": "exact"}, "nll", -float(law.log_prob(held_out, zero).mean()) / dims, "nats/dim", len(zero))
        for level in cfg["levels"]:
            mix = law.subspace_mixture(level)
            lp = implicit_log_prob(
                lambda y, s, mix=mix: mix.log_prob(y.flatten(1), s), held_out, level, sigma_perp[level], zero
            )
            row(
                ds,
                {"model": "implicit", "subspace": LEVEL_NAMES[level]},
                "nll",
                -float(lp.mean()) / dims,
                "nats/dim",
                len(zero),
            )
        cuts: dict[tuple[str, int], dict[float, float]] = {}
        x0 = data[: cfg["n_div_samples"]]
        for sde_name in cfg["sdes"]:
            sig_t = sde_sigma(sde_name, cfg, torch.as_tensor(times)).tolist()
            for level in cfg["levels"]:
                curve = divergence_curve(
                    law.score,
                    x0,
                    level,
                    sigma_perp[level],
                    sig_t,
                    _noise_fn(x0.shape, run.seed),
                )
                key = f"{variant}/{sde_name}/{LEVEL_NAMES[level]}"
                curves[key] = {"t": times.tolist(), "divergence": curve}
                for t, d in zip(times, curve, strict=True):
                    row(
                        ds,
                        {"sde": sde_name, "subspace": LEVEL_NAMES[level], "t": round(float(t), 4)},
                        "fisher_divergence",
                        d,
                        "normalised",
                        len(x0),
                    )
                cuts[(sde_name, level)] = {}
                for thr in cfg["thresholds"]:
                    t1 = cut_time(times, curve, thr)
                    cuts[(sde_name, level)][thr] = t1
                    row(
                        ds,
                        {"sde": sde_name, "subspace": LEVEL_NAMES[level], "threshold": thr},
                        "cut_time",
                        t1,
                        "t",
                        len(x0),
                    )
                curves[key]["cuts"] = {str(k): v for k, v in cuts[(sde_name, level)].items()}
        exact_sets = [law.sample(cfg["n_samples"], torch.Generator().manual_seed(10_000 + s)) for s in seeds]
        floor = [
            sliced_wasserstein2(
                exact_sets[i].flatten(1),
                law.sample(cfg["n_samples"], torch.Generator().manual_seed(20_000 + s)).flatten(1),
                cfg["n_projections"],
                seed=s,
            )
            for i, s in enumerate(seeds)
        ]
        v, e = mean_stderr(floor)
        row(ds, {"sampler": "exact"}, "sw2", v, "", cfg["n_samples"], e, seed_label)
        for sde_name in cfg["sdes"]:
            arms = [("full", None, 0, None)]
            for level in cfg["levels"]:
                rule_cuts = [(f"div{thr:g}", t1) for thr, t1 in cuts[(sde_name, level)].items()]
                for rule, t1 in rule_cuts + [("fixed", t) for t in cfg["fixed_cut_times"]]:
                    n_sub, _ = split_steps(cfg["n_steps"], t1)
                    if n_sub >= 1:
                        arms.append((rule, level, n_sub, t1))
            full_cost = None
            for rule, level, n_sub, t1 in arms:
                per_seed = {"fd": [], "sw2": [], "sigma_perp_samples": [], "orth_mean_error": [], "wall": []}
                for s in seeds:
                    out = run_sampler(cfg, law, sde_name, level, n_sub, sigma_perp.get(level, 0.0), s)
                    x, ref = out["x"].flatten(1), exact_sets[seeds.index(s)].flatten(1)
                    per_seed["fd"].append(frechet_distance(x, ref))
                    per_seed["sw2"].append(sliced_wasserstein2(x, ref, cfg["n_projections"], seed=s))
                    per_seed["sigma_perp_samples"].append(downsampling_rmsd(out["x"], 1))
                    per_seed["orth_mean_error"].append(orth_mean_error(out["x"], law))
                    per_seed["wall"].append(out["wall_per_sample"])
                if level is None:
                    full_cost = out["cost_dims"]
                setting = {
                    "sde": sde_name,
                    "sampler": "full" if level is None else "subspace",
                    "subspace": "full" if level is None else LEVEL_NAMES[level],
                    "cut_rule": rule,
                    "cut_time": "" if t1 is None else round(t1, 4),
                    "n_steps": cfg["n_steps"],
                }
                summary = {}
                for metric, unit in [
                    ("fd", ""),
                    ("sw2", ""),
                    ("sigma_perp_samples", "per dim"),
                    ("orth_mean_error", "per dim"),
                    ("wall", "s/sample"),
                ]:
                    v, e = mean_stderr(per_seed[metric])
                    summary[metric] = v
                    row(
                        ds,
                        setting,
                        "wall_per_sample" if metric == "wall" else metric,
                        v,
                        unit,
                        cfg["n_samples"],
                        e,
                        seed_label,
                    )
                row(ds, setting, "nfe_subspace", out["sub_nfe"], "evaluations", cfg["n_samples"], seed=seed_label)
                row(ds, setting, "nfe_full", out["full_nfe"], "evaluations", cfg["n_samples"], seed=seed_label)
                row(ds, setting, "cost_dims", out["cost_dims"], "dims x evaluations", cfg["n_samples"], seed=seed_label)
                row(
                    ds,
                    setting,
                    "cost_fraction",
                    out["cost_dims"] / full_cost,
                    "of full",
                    cfg["n_samples"],
                    seed=seed_label,
                )
                results[f"{variant}/{sde_name}/{setting['subspace']}/{rule}/{t1}"] = {
                    **summary,
                    "cost_fraction": out["cost_dims"] / full_cost,
                    "variant": variant,
                    "sde": sde_name,
                    "subspace": setting["subspace"],
                    "rule": rule,
                    "cut_time": t1,
                }
                run.log(
                    f"{variant} {sde_name} {setting['subspace']} {rule} t1={setting['cut_time']}: "
                    f"sw2={summary['sw2']:.4f} fd={summary['fd']:.4f} cost={out['cost_dims'] / full_cost:.3f}"
                )
    for (variant, _), ratio_rows in _ratios(results).items():
        for setting, metric, value in ratio_rows:
            row(f"gauss8_{variant}", setting, metric, value, "ratio", cfg["n_samples"], seed=seed_label)
    run.save_json("divergence_curves.json", curves)
    run.save_json("sampling_results.json", results)
    run.save_metrics(rows)
    _figures(run, curves, results, cfg)


def _ratios(results: dict[str, Any]) -> dict[tuple[str, str], list]:
    """sw2 and fd of each subspace arm divided by the full sampler's (same variant, SDE, N): the claim metrics."""
    out: dict[tuple[str, str], list] = {}
    for r in results.values():
        if r["subspace"] == "full":
            continue
        full = next(
            f
            for f in results.values()
            if f["subspace"] == "full" and f["variant"] == r["variant"] and f["sde"] == r["sde"]
        )
        setting = {
            "sde": r["sde"],
            "subspace": r["subspace"],
            "cut_rule": r["rule"],
            "cut_time": round(r["cut_time"], 4),
        }
        out.setdefault((r["variant"], r["sde"]), []).extend(
            [(setting, "sw2_ratio", r["sw2"] / full["sw2"]), (setting, "fd_ratio", r["fd"] / max(full["fd"], 1e-12))]
        )
    return out


def _figures(run: Run, curves: dict[str, Any], results: dict[str, Any], cfg: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(cfg["variants"]), figsize=(5.5 * len(cfg["variants"]), 4), squeeze=False)
    for ax, variant in zip(axes[0], cfg["variants"], strict=True):
        for key, c in curves.items():
            if key.startswith(variant + "/"):
                ax.semilogy(c["t"], np.maximum(c["divergence"], 1e-12), marker="o", ms=3, label=key.split("/", 1)[1])
                for t1 in c["cuts"].values():
                    ax.axvline(t1, color=ax.lines[-1].get_color(), ls=":", lw=0.8)
        for thr in cfg["thresholds"]:
            ax.axhline(thr, color="grey", ls="--", lw=0.8)
        ax.set(title=f"{variant}: orthogonal Fisher divergence", xlabel="t", ylabel="D_F (normalised)")
        ax.legend(fontsize=7)
    run.save_figure(
        fig,
        "divergence",
        "Orthogonal Fisher divergence vs t (8×8 toy, exact scores)",
        "Dashed: thresholds; dotted: cut-off times (first t below threshold, log-linear interpolation).",
    )

    fig, axes = plt.subplots(1, len(cfg["variants"]), figsize=(5.5 * len(cfg["variants"]), 4), squeeze=False)
    for ax, variant in zip(axes[0], cfg["variants"], strict=True):
        for sde_name in cfg["sdes"]:
            for sub in ["full", *[LEVEL_NAMES[lv] for lv in cfg["levels"]]]:
                pts = sorted(
                    (r["cost_fraction"], r["sw2"])
                    for r in results.values()
                    if r["variant"] == variant and r["sde"] == sde_name and r["subspace"] == sub
                )
                if pts:
                    ax.plot(
                        *zip(*pts, strict=True),
                        marker="o" if sub != "full" else "*",
                        ms=6 if sub != "full" else 12,
                        label=f"{sde_name} {sub}",
                    )
                div = [
                    (r["cost_fraction"], r["sw2"])
                    for r in results.values()
                    if r["variant"] == variant
                    and r["sde"] == sde_name
                    and r["subspace"] == sub
                    and r["rule"].startswith("div")
                ]
                if div:
                    ax.scatter(*zip(*div, strict=True), s=140, facecolors="none", edgecolors="black", lw=1.2)
        ax.set(
            title=f"{variant}: quality vs cost (N={cfg['n_steps']})",
            xlabel="cost (evaluated dims, fraction of full)",
            ylabel="sliced W2 to exact samples",
        )
        ax.legend(fontsize=7)
    run.save_figure(
        fig,
        "quality_cost",
        "Quality vs cost: subspace vs full sampler (8×8 toy)",
        "Each subspace point is one cut-off time t₁ (cost falls as t₁ falls: more steps run in the "
        "subspace); black rings: cut-offs chosen by the divergence rule; star = full-space PC sampler, same N.",
    )
