"""dlg/gmm: the paper's Fig. 3 protocol on Gaussian mixtures with exact VE-perturbed scores (a CPU analogue).

Stages: `train` fits the MLP noise-level classifier per mixture (cross-entropy on k ~ Uniform, as DMCMC);
`evaluate` runs each of the six integrators alone and after DLG (oracle and learned classifiers) at matched
per-sample NFE budgets, and scores samples against exact mixture samples (sliced W2, mode-weight error).
Exact scores remove score-approximation error: only discretisation and mixing effects are measured.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

from papers.dlg import denoise
from papers.dlg.classifier import MLPClassifier, OracleLevelPosterior, level_loss
from papers.dlg.denoise import split_budget
from papers.dlg.gibbs import ClassifierCalls, DLGChains, DLGSettings, vanilla
from repro.data.batches import TensorBatches
from repro.diffusion.nfe import CountingScore
from repro.diffusion.sde import dlg_level_grid
from repro.diffusion.toy.gmm import GaussianMixture
from repro.metrics.distances import frechet_distance, mean_stderr, mode_weight_error, sliced_wasserstein2
from repro.run import Run


def build_mixture(spec: dict[str, Any]) -> tuple[GaussianMixture, float, float]:
    """The mixture of a dataset spec and its (sigma_max, sigma_min).

    Means: on a circle of radius `radius` in 2-D, else `radius` times random unit vectors (seeded by
    `layout_seed`). sigma_max = the largest pairwise distance among 2000 exact samples (score_sde's guideline);
    sigma_min = 0.01 x the component std.
    """
    m, d = len(spec["weights"]), spec["dim"]
    if d == 2:
        ang = 2 * math.pi * torch.arange(m, dtype=torch.float64) / m
        means = spec["radius"] * torch.stack([ang.cos(), ang.sin()], -1)
    else:
        g = torch.Generator().manual_seed(spec["layout_seed"])
        dirs = torch.randn(m, d, generator=g, dtype=torch.float64)
        means = spec["radius"] * dirs / dirs.norm(dim=-1, keepdim=True)
    mix = GaussianMixture(spec["weights"], means, stds=spec["std"])
    pts = mix.sample(2000, torch.Generator().manual_seed(spec["layout_seed"]))
    sigma_max = float(torch.cdist(pts, pts).max())
    return mix, sigma_max, 0.01 * spec["std"]


def _levels(cfg, spec) -> tuple[GaussianMixture, torch.Tensor, float, float]:
    mix, smax, smin = build_mixture(spec)
    return mix, dlg_level_grid(smin, smax, cfg["n_levels"]), smax, smin


def _train_config(cfg, name):
    from repro.train import TrainConfig

    t = cfg["classifier_training"]
    return TrainConfig(
        steps=t["steps"], lr=t["lr"], batch_size=t["batch_size"], ckpt_every=t["steps"], name=f"classifier_{name}"
    )


def _mlp(cfg, spec) -> MLPClassifier:
    t = cfg["classifier_training"]
    return MLPClassifier(spec["dim"], cfg["n_levels"], hidden=t["hidden"], depth=t["depth"])


def train(run: Run) -> None:
    """Fit the MLP level classifier of each mixture on exact samples (float32)."""
    from repro.train import train as fit

    cfg = run.cfg
    for spec in cfg["datasets"]:
        mix, levels, _, _ = _levels(cfg, spec)
        data = mix.sample(cfg["classifier_training"]["n_data"], torch.Generator().manual_seed(run.seed)).float()
        batches = TensorBatches(data, cfg["classifier_training"]["batch_size"], seed=run.seed)
        fit(run, _mlp(cfg, spec), level_loss(levels.float()), batches, _train_config(cfg, spec["name"]))
        run.log(f"trained the level classifier of {spec['name']}")


def _classifiers(run: Run, spec, mix, levels) -> dict[str, Any]:
    from repro.train import load_trained

    out: dict[str, Any] = {}
    for name in run.cfg["classifiers"]:
        if name == "oracle":
            out[name] = OracleLevelPosterior(mix, levels, dtype=torch.float32)
        else:
            net = load_trained(run, _mlp(run.cfg, spec), f"classifier_{spec['name']}").cpu()
            out[name] = lambda x, net=net: net(x.float())
    return out


def _settings(cfg, smax, smin, n_skip) -> DLGSettings:
    d = cfg["dlg"]
    return DLGSettings(
        eta=d["eta"],
        n_skip=n_skip,
        burn_in=[tuple(p) for p in d["burn_in"]],
        sigma_max=smax,
        sigma_min=smin,
        init_levels=d["init_levels"],
        init_noise=d["init_noise"],
        tweedie_eps=d["tweedie_eps"],
    )


def _arms(cfg):
    """(integrator, budget-or-tol key, value) for every point on the NFE axis."""
    for name in cfg["integrators"]:
        if denoise.spec(name).adaptive:
            for tol in cfg["rk45_tols"]:
                yield name, "tol", tol
        else:
            for b in cfg["budgets"]:
                yield name, "budget", b


@torch.no_grad()
def _one_seed(run: Run, spec, seed: int) -> list[dict[str, Any]]:
    """Every (integrator, arm, budget) for one mixture and one seed: per-seed measurements."""
    cfg = run.cfg
    mix, levels, smax, smin = _levels(cfg, spec)
    gen = torch.Generator().manual_seed(seed)

    def noise(t):
        return torch.randn(t.shape, generator=gen, dtype=t.dtype)

    n = cfg["n_samples"]
    ref = mix.sample(n, torch.Generator().manual_seed(10_000 + seed))

    def score_of(x):
        return {
            "sw2": sliced_wasserstein2(x, ref, cfg["n_projections"], seed=20_000 + seed),
            "frechet_raw": frechet_distance(x, ref),
            "mode_weight_error": mode_weight_error(x, mix.means, mix.weights),
        }

    rows = [
        {
            "integrator": "exact",
            "dlg": "off",
            "key": "budget",
            "value": 0,
            "nfe": 0.0,
            **score_of(mix.sample(n, torch.Generator().manual_seed(30_000 + seed))),
        }
    ]
    skip_frac, tweedie_eps = cfg["dlg"]["skip_fraction"], cfg["dlg"]["tweedie_eps"]
    for name, key, val in _arms(cfg):
        counted = CountingScore(mix.score)
        x0 = smax * torch.randn(n, mix.dim, generator=gen, dtype=torch.float64)
        if key == "tol":
            out = vanilla(
                counted, name, x0, sigma_max=smax, n=0, sigma_min=smin, tweedie_eps=tweedie_eps, tol=val, noise=noise
            )
            n_int = 0
        else:
            _, n_int = split_budget(name, val, skip_frac, dlg=False)
            out = vanilla(
                counted, name, x0, sigma_max=smax, n=n_int, sigma_min=smin, tweedie_eps=tweedie_eps, noise=noise
            )
        rows.append(
            {
                "integrator": name,
                "dlg": "off",
                "key": key,
                "value": val,
                "n_skip": 0,
                "N": n_int,
                "nfe": float(counted.nfe),
                **score_of(out),
            }
        )

    n_chains, n_rounds = cfg["dlg"]["chains"], math.ceil(n / cfg["dlg"]["chains"])
    for cname, clf in _classifiers(run, spec, mix, levels).items():
        init = DLGChains(
            CountingScore(mix.score), ClassifierCalls(clf), levels, _settings(cfg, smax, smin, 0), noise=noise
        )
        init.initialise(smax * torch.randn(n_chains, mix.dim, generator=gen, dtype=torch.float64))
        burn_nfe = init.score.nfe
        for name, key, val in _arms(cfg):
            if key == "tol":
                n_skip, n_int, tol = cfg["dlg"]["rk45_skip"], 0, val
            else:
                (n_skip, n_int), tol = split_budget(name, val, skip_frac, dlg=True), 0.0
            chains = copy.copy(init)
            chains.score, chains.classifier = CountingScore(mix.score), ClassifierCalls(clf)
            chains.cfg = _settings(cfg, smax, smin, n_skip)
            out = torch.cat([chains.round(name, n_int, tol) for _ in range(n_rounds)])[:n]
            rows.append(
                {
                    "integrator": name,
                    "dlg": cname,
                    "key": key,
                    "value": val,
                    "n_skip": n_skip,
                    "N": n_int,
                    "nfe": chains.score.nfe / n_rounds,
                    "classifier_calls": chains.classifier.calls / n_rounds,
                    "burn_in_nfe": burn_nfe,
                    **score_of(out),
                }
            )
    return rows


def evaluate(run: Run) -> None:
    cfg = run.cfg
    seeds = list(range(run.seed, run.seed + cfg["seeds"]))
    rows: list[dict[str, Any]] = []
    table: list[dict[str, Any]] = []
    for spec in cfg["datasets"]:
        per_seed = {s: _one_seed(run, spec, s) for s in seeds}
        run.log(f"{spec['name']}: {len(per_seed[seeds[0]])} settings x {len(seeds)} seeds done")
        for i, first in enumerate(per_seed[seeds[0]]):
            points = [per_seed[s][i] for s in seeds]
            setting = {"integrator": first["integrator"], "dlg": first["dlg"], first["key"]: first["value"]}
            if "N" in first:
                setting.update(n_skip=first["n_skip"], N=first["N"])
            summary = {"dataset": spec["name"], **setting}
            for metric, unit in (
                ("sw2", "distance"),
                ("frechet_raw", "squared distance"),
                ("mode_weight_error", "fraction"),
                ("nfe", "score evals"),
                ("classifier_calls", "calls"),
                ("burn_in_nfe", "score evals"),
            ):
                if metric not in first:
                    continue
                mean, se = mean_stderr([p[metric] for p in points])
                summary[metric], summary[metric + "_se"] = mean, se
                rows.append(
                    {
                        "dataset": spec["name"],
                        "setting": setting,
                        "metric": metric,
                        "value": mean,
                        "stderr": se,
                        "unit": unit,
                        "n_samples": cfg["n_samples"],
                        "seed": f"{seeds[0]}-{seeds[-1]}",
                    }
                )
            table.append(summary)
        rows += _ratios(spec["name"], per_seed, seeds, cfg["n_samples"])
    run.save_json("summary.json", table)
    run.save_metrics(rows)
    _figures(run, table)


def _ratios(dataset: str, per_seed, seeds, n_samples) -> list[dict[str, Any]]:
    """sw2(DLG) / sw2(integrator alone) at the same budget, per seed, then mean +- s.e. (< 1: DLG better)."""
    rows = []
    first = per_seed[seeds[0]]
    base = {(r["integrator"], r["value"]): i for i, r in enumerate(first) if r["dlg"] == "off" and r["key"] == "budget"}
    for i, r in enumerate(first):
        if r["dlg"] == "off" or r["key"] != "budget":
            continue
        j = base[(r["integrator"], r["value"])]
        mean, se = mean_stderr([per_seed[s][i]["sw2"] / per_seed[s][j]["sw2"] for s in seeds])
        rows.append(
            {
                "dataset": dataset,
                "setting": {"integrator": r["integrator"], "dlg": r["dlg"], "budget": r["value"]},
                "metric": "sw2_ratio",
                "value": mean,
                "stderr": se,
                "unit": "ratio",
                "n_samples": n_samples,
                "seed": f"{seeds[0]}-{seeds[-1]}",
            }
        )
    return rows


def _figures(run: Run, table: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {
        "kar1": "KAR1 (Heun)",
        "pfode": "probability flow",
        "rk45": "RK45",
        "kar2": "KAR2 (churn)",
        "rd": "reverse diffusion",
        "em": "Euler-Maruyama",
    }
    order = ["kar1", "pfode", "rk45", "kar2", "rd", "em"]
    for dataset in dict.fromkeys(r["dataset"] for r in table):
        rows = [r for r in table if r["dataset"] == dataset]
        floor = next(r["sw2"] for r in rows if r["integrator"] == "exact")
        fig, axes = plt.subplots(2, 3, figsize=(12, 7), sharey=True)
        for ax, name in zip(axes.flat, order, strict=True):
            for arm in dict.fromkeys(r["dlg"] for r in rows if r["integrator"] == name):
                pts = sorted(
                    (r["nfe"], r["sw2"], r["sw2_se"] or 0.0)
                    for r in rows
                    if r["integrator"] == name and r["dlg"] == arm
                )
                if pts:
                    x, y, e = zip(*pts, strict=True)
                    ax.errorbar(
                        x,
                        y,
                        yerr=e,
                        marker="o" if arm == "off" else "x",
                        capsize=2,
                        label="without DLG" if arm == "off" else f"with DLG ({arm})",
                    )
            ax.axhline(floor, color="grey", ls=":", lw=1, label="exact vs exact")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(titles[name])
            ax.set_xlabel("NFE per sample")
        axes[0, 0].set_ylabel("sliced W2")
        axes[1, 0].set_ylabel("sliced W2")
        axes[0, 0].legend(fontsize=8)
        fig.tight_layout()
        run.save_figure(
            fig,
            f"sw2_vs_nfe_{dataset}",
            f"DLG analogue on {dataset}: sliced W2 vs NFE",
            "Exact VE-perturbed mixture scores; per integrator, without DLG and with DLG (oracle and "
            "learned classifiers); mean +- s.e. over seeds; dotted: two exact sample sets (noise floor).",
        )
