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

Config (`Config`): the law (`image_size`, `n_components`, `mean_scale`, `sub_std`, `orth_std`, `violated_scale`,
`layout_seed`), `variants`, `sdes` with their parameters (`sigma_min`/`sigma_max`, `beta_min`/`beta_max`, `eps` per
SDE), `n_data` points per fit, `seeds` sampling seeds of `n_samples`, `n_projections` for sliced W2, and the keys
every subspace experiment shares (`papers.subspace.sampler.SubspaceConfig`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from papers.subspace.divergence import cut_time, divergence_curve
from papers.subspace.method import implicit_log_prob, split_steps
from papers.subspace.operators import down, downsampling_rmsd, orthogonal, orthogonal_dim
from papers.subspace.sampler import SubspaceConfig, div_rule, subspace_sample
from papers.subspace.toy import SubspaceMixture, subspace_score
from repro.diffusion.nfe import CountingScore
from repro.diffusion.samplers.pc import pc_sampler
from repro.diffusion.sde import SDE, VESDE, SubVPSDE, append_zero
from repro.metrics.distances import frechet_distance, mean_stderr, sliced_wasserstein2
from repro.run import MetricRow, Run

LEVEL_NAMES = {1: "4x4", 2: "2x2"}
# the per-seed sample metrics of every sampler arm and their units ("wall" is reported as wall_per_sample)
SAMPLE_METRICS = {
    "fd": "",
    "sw2": "",
    "sigma_perp_samples": "per dim",
    "orth_mean_error": "per dim",
    "wall": "s/sample",
}


@dataclass(frozen=True, kw_only=True)
class Config(SubspaceConfig):
    # the law of each variant (`build_law`)
    image_size: int
    n_components: int
    mean_scale: float
    sub_std: float
    orth_std: float
    violated_scale: float  # "violated": orthogonal means of RMS violated_scale × orth_std per dimension
    layout_seed: int
    variants: tuple[str, ...]
    # the SDEs (`sde_table`): VE takes sigma_min / sigma_max, sub-VP beta_min / beta_max; eps: the final time per SDE
    sdes: tuple[str, ...]
    beta_min: float
    beta_max: float
    eps: dict[str, float]
    # sizes: points per fit, sliced-W2 projections, sampling seeds
    n_data: int
    n_projections: int
    seeds: int


@dataclass(frozen=True)
class Arm:
    """One sampler: the full-space PC sampler (level None) or the subspace sampler cut at `cut_time`."""

    rule: str
    level: int | None
    n_sub: int
    cut_time: float | None

    @property
    def subspace(self) -> str:
        return "full" if self.level is None else LEVEL_NAMES[self.level]


@dataclass(frozen=True)
class Draw:
    """Samples of one arm and seed, with the NFE per stage, the evaluated dimensions and the wall time."""

    x: torch.Tensor
    sub_nfe: int
    full_nfe: int
    cost_dims: int
    wall_per_sample: float


@dataclass
class ArmResult:
    """One arm of one SDE measured over every seed."""

    sde: str
    arm: Arm
    per_seed: dict[str, list[float]]  # SAMPLE_METRICS per seed
    last: Draw  # NFE and cost do not depend on the seed

    def summary(self) -> dict[str, tuple[float, float | None]]:
        return {metric: mean_stderr(values) for metric, values in self.per_seed.items()}


@dataclass
class VariantResult:
    """Everything measured on one variant of the law, before it becomes rows, JSON and figures."""

    variant: str
    n_data: int
    sigma_perp: dict[int, float]  # measured on the data, per level
    sigma_perp_exact: dict[int, float]
    n_held_out: int
    nll_exact: float
    nll_implicit: dict[int, float]
    n_div: int
    curves: dict[tuple[str, int], list[float]]  # (sde, level) -> D_F at the divergence times
    cuts: dict[tuple[str, int], dict[float, float]]  # (sde, level) -> threshold -> cut-off time
    floor: list[float]  # sliced W2 between two exact sample sets, per seed
    arms: list[ArmResult] = field(default_factory=list)


def build_law(cfg: Config, variant: str) -> SubspaceMixture:
    """The data law of a variant: mixture means uniform in [0, mean_scale]^16 (4×4 coordinates)."""
    g = torch.Generator().manual_seed(cfg.layout_seed)
    m, size = cfg.n_components, cfg.image_size
    means = cfg.mean_scale * torch.rand(m, 1, size // 2, size // 2, generator=g, dtype=torch.float64)
    b = torch.zeros(m, 1, size, size, dtype=torch.float64)
    if variant == "violated":
        raw = orthogonal(torch.randn(m, 1, size, size, generator=g, dtype=torch.float64), 1)
        per_dim = raw.flatten(1).norm(dim=1) / orthogonal_dim((1, size, size), 1) ** 0.5
        b = cfg.violated_scale * cfg.orth_std * raw / per_dim.reshape(-1, 1, 1, 1)
    weights = torch.full((m,), 1.0 / m, dtype=torch.float64)
    return SubspaceMixture(weights, means, cfg.sub_std, b, cfg.orth_std, levels=1)


def sde_table(cfg: Config) -> dict[str, SDE]:
    """The SDEs by config name; `.sigma(t)` is the noise level in the VE coordinate (sub-VP: std/α)."""
    return {"ve": VESDE(cfg.sigma_min, cfg.sigma_max), "subvp": SubVPSDE(cfg.beta_min, cfg.beta_max)}


def sampling_grid(sde: SDE, eps: float, n_steps: int) -> torch.Tensor:
    """VE-coordinate noise levels at t_i = linspace(1, eps, n_steps), then 0: the grid every arm shares."""
    return append_zero(sde.sigma(torch.linspace(1.0, eps, n_steps, dtype=torch.float64)))


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


def run_sampler(
    cfg: Config, law: SubspaceMixture, sigmas: torch.Tensor, arm: Arm, sigma_perp: float, seed: int
) -> Draw:
    """Sample n_samples with the full (arm level None) or the subspace sampler on the grid `sigmas`."""
    n, shape = cfg.n_samples, law.shape
    g = torch.Generator().manual_seed(seed)

    def noise(v):
        return torch.randn(v.shape, generator=g, dtype=v.dtype)

    full = CountingScore(law.score)
    start = time.perf_counter()
    if arm.level is None:
        x0 = sigmas[0] * torch.randn(n, *shape, generator=g, dtype=torch.float64)
        x = pc_sampler(full, x0, sigmas, noise=noise, snr=cfg.snr, n_corrector=cfg.n_corrector)
        sub_nfe, sub_dim = 0, 0
    else:
        sub_shape = (shape[0], shape[1] >> arm.level, shape[2] >> arm.level)
        sub = CountingScore(subspace_score(law.subspace_mixture(arm.level), sub_shape))
        y = sigmas[0] * torch.randn(n, *sub_shape, generator=g, dtype=torch.float64)
        x = subspace_sample(
            full, sub, y, sigmas, n_sub=arm.n_sub, levels=arm.level, sigma_perp=sigma_perp, noise=noise, pc=cfg.pc
        )
        sub_nfe, sub_dim = sub.nfe, int(np.prod(sub_shape))
    wall = time.perf_counter() - start
    cost = sub_nfe * sub_dim + full.nfe * int(np.prod(shape))
    return Draw(x=x, sub_nfe=sub_nfe, full_nfe=full.nfe, cost_dims=cost, wall_per_sample=wall / n)


def _noise_fn(shape: torch.Size, seed: int):
    """Standard normal noise for divergence level i, seeded by (seed, i)."""
    return lambda i: torch.randn(shape, generator=torch.Generator().manual_seed(seed * 1000 + i), dtype=torch.float64)


def _nll_implicit(law: SubspaceMixture, held_out: torch.Tensor, level: int, sigma_perp: float) -> float:
    """NLL per dimension of held-out data under the implicit model of one subspace (exact subspace law)."""
    mix = law.subspace_mixture(level)
    zero = torch.zeros(len(held_out), dtype=torch.float64)
    lp = implicit_log_prob(lambda y, s: mix.log_prob(y.flatten(1), s), held_out, level, sigma_perp, zero)
    return -float(lp.mean()) / held_out[0].numel()


def _curves(
    law: SubspaceMixture,
    x0: torch.Tensor,
    sigma_perp: dict[int, float],
    sdes: dict[str, SDE],
    times: np.ndarray,
    seed: int,
) -> dict[tuple[str, int], list[float]]:
    """D_F of the exact score at `times`, per (SDE, level): the SDE only sets the noise level of each time."""
    curves = {}
    for sde_name, sde in sdes.items():
        sig_t = sde.sigma(torch.as_tensor(times)).tolist()
        for level, sp in sigma_perp.items():
            curves[(sde_name, level)] = divergence_curve(law.score, x0, level, sp, sig_t, _noise_fn(x0.shape, seed))
    return curves


def _arms(cfg: Config, cuts: dict[tuple[str, int], dict[float, float]], sde_name: str) -> list[Arm]:
    """The full sampler, then per level one subspace arm per cut-off (divergence rule, fixed) with n_sub >= 1."""
    arms = [Arm("full", None, 0, None)]
    for level in cfg.levels:
        rule_cuts = [(div_rule(thr), t1) for thr, t1 in cuts[(sde_name, level)].items()]
        for rule, t1 in rule_cuts + [("fixed", t) for t in cfg.fixed_cut_times]:
            n_sub, _ = split_steps(cfg.n_steps, t1)
            if n_sub >= 1:
                arms.append(Arm(rule, level, n_sub, t1))
    return arms


def _sample_arm(
    cfg: Config,
    law: SubspaceMixture,
    sigmas: torch.Tensor,
    arm: Arm,
    sigma_perp: float,
    seeds: list[int],
    exact_sets: list[torch.Tensor],
) -> tuple[dict[str, list[float]], Draw]:
    """The sample metrics of one arm per seed, against that seed's exact samples; and the last draw."""
    per_seed: dict[str, list[float]] = {metric: [] for metric in SAMPLE_METRICS}
    for s, exact in zip(seeds, exact_sets, strict=True):
        out = run_sampler(cfg, law, sigmas, arm, sigma_perp, s)
        x, ref = out.x.flatten(1), exact.flatten(1)
        per_seed["fd"].append(frechet_distance(x, ref))
        per_seed["sw2"].append(sliced_wasserstein2(x, ref, cfg.n_projections, seed=s))
        per_seed["sigma_perp_samples"].append(downsampling_rmsd(out.x, 1))
        per_seed["orth_mean_error"].append(orth_mean_error(out.x, law))
        per_seed["wall"].append(out.wall_per_sample)
    return per_seed, out


def _measure_variant(run: Run, variant: str, sdes: dict[str, SDE], seeds: list[int]) -> VariantResult:
    """σ⊥, NLL, D_F curves and cut-offs, the exact-vs-exact floor and every sampler arm of one variant."""
    cfg: Config = run.cfg
    law = build_law(cfg, variant)
    data = law.sample(cfg.n_data, torch.Generator().manual_seed(run.seed))
    sigma_perp = {level: downsampling_rmsd(data, level) for level in cfg.levels}
    held_out = law.sample(cfg.n_data, torch.Generator().manual_seed(run.seed + 1))
    zero = torch.zeros(len(held_out), dtype=torch.float64)
    x0 = data[: cfg.n_div_samples]
    times = np.linspace(0.0, 1.0, cfg.n_times)
    curves = _curves(law, x0, sigma_perp, {name: sdes[name] for name in cfg.sdes}, times, run.seed)
    exact_sets = [law.sample(cfg.n_samples, torch.Generator().manual_seed(10_000 + s)) for s in seeds]
    result = VariantResult(
        variant=variant,
        n_data=len(data),
        sigma_perp=sigma_perp,
        sigma_perp_exact={level: law.orth_std_to(level) for level in cfg.levels},
        n_held_out=len(held_out),
        nll_exact=-float(law.log_prob(held_out, zero).mean()) / held_out[0].numel(),
        nll_implicit={level: _nll_implicit(law, held_out, level, sigma_perp[level]) for level in cfg.levels},
        n_div=len(x0),
        curves=curves,
        cuts={key: {thr: cut_time(times, c, thr) for thr in cfg.thresholds} for key, c in curves.items()},
        floor=[
            sliced_wasserstein2(
                exact.flatten(1),
                law.sample(cfg.n_samples, torch.Generator().manual_seed(20_000 + s)).flatten(1),
                cfg.n_projections,
                seed=s,
            )
            for s, exact in zip(seeds, exact_sets, strict=True)
        ],
    )
    for sde_name in cfg.sdes:
        sigmas = sampling_grid(sdes[sde_name], cfg.eps[sde_name], cfg.n_steps)
        for arm in _arms(cfg, result.cuts, sde_name):
            per_seed, last = _sample_arm(cfg, law, sigmas, arm, sigma_perp.get(arm.level, 0.0), seeds, exact_sets)
            result.arms.append(ArmResult(sde_name, arm, per_seed, last))
            _log_arm(run, variant, result.arms[-1], _full_cost(result, sde_name))
    return result


def _full_cost(result: VariantResult, sde_name: str) -> int:
    return next(a.last.cost_dims for a in result.arms if a.sde == sde_name and a.arm.level is None)


def _log_arm(run: Run, variant: str, a: ArmResult, full_cost: int) -> None:
    means = {metric: v for metric, (v, _) in a.summary().items()}
    cut = "" if a.arm.cut_time is None else round(a.arm.cut_time, 4)
    run.log(
        f"{variant} {a.sde} {a.arm.subspace} {a.arm.rule} t1={cut}: "
        f"sw2={means['sw2']:.4f} fd={means['fd']:.4f} cost={a.last.cost_dims / full_cost:.3f}"
    )


def _row(
    variant: str,
    setting: dict[str, Any],
    metric: str,
    value: float,
    unit: str,
    n: int,
    seed: int | str,
    stderr: float | None = None,
) -> MetricRow:
    """A row of one variant: dataset gauss8_<variant>; the variant leads the setting so that a claim's setting can
    select it (claims match on setting)."""
    return MetricRow(
        dataset=f"gauss8_{variant}",
        setting={"variant": variant, **setting},
        metric=metric,
        value=float(value),
        stderr=stderr,
        unit=unit,
        n_samples=int(n),
        seed=seed,
    )


def _law_rows(r: VariantResult, seed: int) -> list[MetricRow]:
    """σ⊥ measured and exact per level; NLL of held-out data under the exact law and each implicit model."""
    v = r.variant
    sources = {"measured": (r.sigma_perp, r.n_data), "exact": (r.sigma_perp_exact, 0)}
    rows = [
        _row(v, {"subspace": LEVEL_NAMES[level], "source": source}, "sigma_perp", values[level], "per dim", n, seed)
        for level in r.sigma_perp
        for source, (values, n) in sources.items()
    ]
    rows.append(_row(v, {"model": "exact"}, "nll", r.nll_exact, "nats/dim", r.n_held_out, seed))
    rows += [
        _row(v, {"model": "implicit", "subspace": LEVEL_NAMES[level]}, "nll", nll, "nats/dim", r.n_held_out, seed)
        for level, nll in r.nll_implicit.items()
    ]
    return rows


def _divergence_rows(r: VariantResult, times: np.ndarray, seed: int) -> list[MetricRow]:
    """D_F at every time and the cut-off time per threshold, per (SDE, level)."""
    rows = []
    for (sde_name, level), curve in r.curves.items():
        where = {"sde": sde_name, "subspace": LEVEL_NAMES[level]}
        rows += [
            _row(r.variant, {**where, "t": round(float(t), 4)}, "fisher_divergence", d, "normalised", r.n_div, seed)
            for t, d in zip(times, curve, strict=True)
        ]
        rows += [
            _row(r.variant, {**where, "threshold": thr}, "cut_time", t1, "t", r.n_div, seed)
            for thr, t1 in r.cuts[(sde_name, level)].items()
        ]
    return rows


def _arm_setting(a: ArmResult, n_steps: int) -> dict[str, Any]:
    return {
        "sde": a.sde,
        "sampler": "full" if a.arm.level is None else "subspace",
        "subspace": a.arm.subspace,
        "cut_rule": a.arm.rule,
        "cut_time": "" if a.arm.cut_time is None else round(a.arm.cut_time, 4),
        "n_steps": n_steps,
    }


def _sampling_rows(r: VariantResult, cfg: Config, seed_label: int | str) -> list[MetricRow]:
    """The exact-vs-exact sliced W2 floor, then per arm: sample metrics (mean ± stderr over seeds), NFE, cost."""
    v, n = r.variant, cfg.n_samples
    value, stderr = mean_stderr(r.floor)
    rows = [_row(v, {"sampler": "exact"}, "sw2", value, "", n, seed_label, stderr)]
    for a in r.arms:
        setting = _arm_setting(a, cfg.n_steps)
        for metric, (value, stderr) in a.summary().items():
            name = "wall_per_sample" if metric == "wall" else metric
            rows.append(_row(v, setting, name, value, SAMPLE_METRICS[metric], n, seed_label, stderr))
        counts = {
            "nfe_subspace": (a.last.sub_nfe, "evaluations"),
            "nfe_full": (a.last.full_nfe, "evaluations"),
            "cost_dims": (a.last.cost_dims, "dims x evaluations"),
            "cost_fraction": (a.last.cost_dims / _full_cost(r, a.sde), "of full"),
        }
        rows += [_row(v, setting, metric, value, unit, n, seed_label) for metric, (value, unit) in counts.items()]
    return rows


def _curves_json(r: VariantResult, times: np.ndarray) -> dict[str, Any]:
    return {
        f"{r.variant}/{sde_name}/{LEVEL_NAMES[level]}": {
            "t": times.tolist(),
            "divergence": curve,
            "cuts": {str(k): t1 for k, t1 in r.cuts[(sde_name, level)].items()},
        }
        for (sde_name, level), curve in r.curves.items()
    }


def _results_json(r: VariantResult) -> dict[str, Any]:
    """Per arm: mean sample metrics and cost fraction, keyed variant/sde/subspace/rule/cut time."""
    return {
        f"{r.variant}/{a.sde}/{a.arm.subspace}/{a.arm.rule}/{a.arm.cut_time}": {
            **{metric: v for metric, (v, _) in a.summary().items()},
            "cost_fraction": a.last.cost_dims / _full_cost(r, a.sde),
            "variant": r.variant,
            "sde": a.sde,
            "subspace": a.arm.subspace,
            "rule": a.arm.rule,
            "cut_time": a.arm.cut_time,
        }
        for a in r.arms
    }


def _ratio_rows(results: dict[str, Any], n: int, seed_label: int | str) -> list[MetricRow]:
    """sw2 and fd of each subspace arm divided by the full sampler's (same variant, SDE, N): the claim metrics."""
    rows = []
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
        ratios = {"sw2_ratio": r["sw2"] / full["sw2"], "fd_ratio": r["fd"] / max(full["fd"], 1e-12)}
        rows += [_row(r["variant"], setting, metric, value, "ratio", n, seed_label) for metric, value in ratios.items()]
    return rows


def evaluate(run: Run) -> None:
    cfg: Config = run.cfg
    seeds = list(range(run.seed, run.seed + cfg.seeds))
    seed_label = f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else seeds[0]
    times = np.linspace(0.0, 1.0, cfg.n_times)
    sdes = sde_table(cfg)
    measured = [_measure_variant(run, variant, sdes, seeds) for variant in cfg.variants]
    curves = {k: c for r in measured for k, c in _curves_json(r, times).items()}
    results = {k: v for r in measured for k, v in _results_json(r).items()}
    rows = [
        row
        for r in measured
        for row in _law_rows(r, run.seed) + _divergence_rows(r, times, run.seed) + _sampling_rows(r, cfg, seed_label)
    ]
    run.save_json("divergence_curves.json", curves)
    run.save_json("sampling_results.json", results)
    run.save_metrics(rows + _ratio_rows(results, cfg.n_samples, seed_label))
    _divergence_figure(run, cfg, curves)
    _quality_cost_figure(run, cfg, results)


def _divergence_figure(run: Run, cfg: Config, curves: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(cfg.variants), figsize=(5.5 * len(cfg.variants), 4), squeeze=False)
    for ax, variant in zip(axes[0], cfg.variants, strict=True):
        for key, c in curves.items():
            if key.startswith(variant + "/"):
                ax.semilogy(c["t"], np.maximum(c["divergence"], 1e-12), marker="o", ms=3, label=key.split("/", 1)[1])
                for t1 in c["cuts"].values():
                    ax.axvline(t1, color=ax.lines[-1].get_color(), ls=":", lw=0.8)
        for thr in cfg.thresholds:
            ax.axhline(thr, color="grey", ls="--", lw=0.8)
        ax.set(title=f"{variant}: orthogonal Fisher divergence", xlabel="t", ylabel="D_F (normalised)")
        ax.legend(fontsize=7)
    run.save_figure(
        fig,
        "divergence",
        "Orthogonal Fisher divergence vs t (8×8 toy, exact scores)",
        "Dashed: thresholds; dotted: cut-off times (first t below threshold, log-linear interpolation).",
    )


def _plot_quality_cost(ax, results: dict[str, Any], variant: str, sde_name: str, sub: str) -> None:
    """One (SDE, subspace) line of sliced W2 vs cost; black rings on the cut-offs of the divergence rule."""
    arms = [r for r in results.values() if r["variant"] == variant and r["sde"] == sde_name and r["subspace"] == sub]
    pts = sorted((r["cost_fraction"], r["sw2"]) for r in arms)
    if pts:
        full = sub == "full"
        ax.plot(*zip(*pts, strict=True), marker="*" if full else "o", ms=12 if full else 6, label=f"{sde_name} {sub}")
    div = [(r["cost_fraction"], r["sw2"]) for r in arms if r["rule"].startswith("div")]
    if div:
        ax.scatter(*zip(*div, strict=True), s=140, facecolors="none", edgecolors="black", lw=1.2)


def _quality_cost_figure(run: Run, cfg: Config, results: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(cfg.variants), figsize=(5.5 * len(cfg.variants), 4), squeeze=False)
    for ax, variant in zip(axes[0], cfg.variants, strict=True):
        for sde_name in cfg.sdes:
            for sub in ["full", *[LEVEL_NAMES[lv] for lv in cfg.levels]]:
                _plot_quality_cost(ax, results, variant, sde_name, sub)
        ax.set(
            title=f"{variant}: quality vs cost (N={cfg.n_steps})",
            xlabel="cost (evaluated dims, fraction of full)",
            ylabel="sliced W2 to exact samples (lower is better)",
        )
        ax.legend(fontsize=7)
    run.save_figure(
        fig,
        "quality_cost",
        "Quality vs cost: subspace vs full sampler (8×8 toy)",
        "Each subspace point is one cut-off time t₁ (cost falls as t₁ falls: more steps run in the "
        "subspace); black rings: cut-offs chosen by the divergence rule; star = full-space PC sampler, same N.",
    )
