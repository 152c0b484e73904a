"""Sampling and scoring shared by the image experiments (mnist, cifar10, celebahq).

A point of the NFE axis is {integrator, dlg: on|off, budget} (RK45: {integrator, dlg, tol}). Without DLG every
sample has its own seed (repro.sampling). With DLG the samples come from persistent chains: chain c draws all its
noise from its own seed, so its outputs do not depend on the batch it ran in, but consecutive outputs of one
chain are correlated (as upstream: 50k CIFAR-10 samples from 200 chains). Samples are stored as uint8 PNG-free
arrays, never JPEG; each point's NFE accounting is saved beside its samples.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from papers.dlg.denoise import spec, split_budget
from papers.dlg.gibbs import ClassifierCalls, DLGChains, DLGSettings, vanilla
from repro.atomic import atomic_path
from repro.diffusion.nfe import CountingScore
from repro.rng import StackedGenerator
from repro.run import Run
from repro.sampling import sample_seed, to_uint8


def point_name(p: dict[str, Any]) -> str:
    axis = f"tol{p['tol']:g}" if spec(p["integrator"]).adaptive else f"nfe{p['budget']}"
    return f"{p['integrator']}_{'dlg' if p['dlg'] else 'plain'}_{axis}"


def point_setting(p: dict[str, Any]) -> dict[str, Any]:
    s: dict[str, Any] = {"integrator": p["integrator"], "dlg": "on" if p["dlg"] else "off"}
    if spec(p["integrator"]).adaptive:
        s["tol"] = p["tol"]
    else:
        s["budget"] = p["budget"]
    return s


def _settings(cfg: dict[str, Any], n_skip: int) -> DLGSettings:
    d = cfg["dlg"]
    return DLGSettings(
        eta=d["eta"],
        n_skip=n_skip,
        burn_in=[tuple(b) for b in d["burn_in"]],
        sigma_max=cfg["sigma_max"],
        sigma_min=cfg["sigma_min"],
        init_levels=d["init_levels"],
        init_noise=d["init_noise"],
        tweedie_eps=d["tweedie_eps"],
    )


def _split(cfg, p) -> tuple[int, int, float]:
    """(n_skip, N, tol) of a point."""
    if spec(p["integrator"]).adaptive:
        return (cfg["dlg"]["rk45_skip"] if p["dlg"] else 0), 0, p["tol"]
    n_skip, n = split_budget(p["integrator"], p["budget"], cfg["dlg"]["skip_fraction"], p["dlg"])
    return n_skip, n, 0.0


def _save(run: Run, name: str, x: torch.Tensor, info: dict[str, Any]) -> None:
    path = run.path("samples", f"{name}.npz")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, samples=to_uint8(x.clamp(0, 1)).numpy())
    run.save_json(f"samples/{name}.json", info)


@torch.no_grad()
def sample_points(run: Run, score, classifier, levels: torch.Tensor, shape: tuple[int, ...]) -> None:
    """Sample every configured point (skipping points already on disk) and record their NFE."""
    cfg = run.cfg
    n, batch = cfg["n_samples"], cfg["batch_size"]
    dev = run.device
    for p in cfg["points"]:
        name = point_name(p)
        if (run.root / "samples" / f"{name}.json").exists():
            continue
        n_skip, n_int, tol = _split(cfg, p)
        counted = CountingScore(score)
        if not p["dlg"]:
            parts = []
            for lo in range(0, n, batch):
                gen = StackedGenerator([sample_seed(run.seed, j) for j in range(lo, min(n, lo + batch))], device=dev)
                x0 = cfg["sigma_max"] * gen.randn(shape).to(dev)
                parts.append(
                    vanilla(
                        counted,
                        p["integrator"],
                        x0,
                        sigma_max=cfg["sigma_max"],
                        n=n_int,
                        sigma_min=cfg["sigma_min"],
                        tweedie_eps=cfg["dlg"]["tweedie_eps"],
                        tol=tol,
                        noise=gen.randn_like,
                    ).cpu()
                )
            x, nfe, calls, burn, rounds = torch.cat(parts), counted.nfe / math.ceil(n / batch), 0.0, 0, 1
        else:
            chains_n = cfg["dlg"]["chains"]
            gen = StackedGenerator([sample_seed(run.seed + 1, c) for c in range(chains_n)], device=dev)
            clf = ClassifierCalls(classifier)
            chains = DLGChains(counted, clf, levels.to(dev), _settings(cfg, n_skip), noise=gen.randn_like)
            chains.initialise(cfg["sigma_max"] * gen.randn(shape).to(dev))
            burn, burn_calls = counted.nfe, clf.calls  # one-off burn-in: amortised, not in the per-sample NFE
            rounds = math.ceil(n / chains_n)
            x = torch.cat([chains.round(p["integrator"], n_int, tol).cpu() for _ in range(rounds)])[:n]
            nfe, calls = (counted.nfe - burn) / rounds, (clf.calls - burn_calls) / rounds
        _save(
            run,
            name,
            x,
            {
                "point": p,
                "n_skip": n_skip,
                "N": n_int,
                "nfe_per_sample": nfe,
                "classifier_calls_per_sample": calls,
                "burn_in_nfe_per_chain": burn,
                "burn_in_nfe_amortised": burn / rounds,
                "n": int(x.shape[0]),
            },
        )
        run.log(f"{name}: {x.shape[0]} samples, NFE per sample {nfe:.1f} (n_skip {n_skip}, N {n_int})")


def load_point(run: Run, p: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    name = point_name(p)
    path = run.root / "samples" / f"{name}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the sample stage of {run.paper}/{run.experiment} first")
    return np.load(path)["samples"], run.load_json(f"samples/{name}.json")


def metric_rows(run: Run, dataset: str, fid_fn, metric: str = "fid", unit: str = "FID") -> list[dict[str, Any]]:
    """Per point: the FID-like number from `fid_fn(uint8 samples [N, H, W, C])`, measured NFE, classifier calls."""
    rows = []
    for p in run.cfg["points"]:
        x, info = load_point(run, p)
        setting = {**point_setting(p), "n_skip": info["n_skip"], "N": info["N"]}
        base = {"dataset": dataset, "setting": setting, "stderr": None, "n_samples": int(x.shape[0]), "seed": run.seed}
        rows.append({**base, "metric": metric, "value": float(fid_fn(x)), "unit": unit})
        rows.append({**base, "metric": "nfe", "value": float(info["nfe_per_sample"]), "unit": "score evals"})
        if p["dlg"]:
            rows.append(
                {
                    **base,
                    "metric": "classifier_calls",
                    "value": float(info["classifier_calls_per_sample"]),
                    "unit": "calls",
                }
            )
            rows.append(
                {
                    **base,
                    "metric": "burn_in_nfe_amortised",
                    "value": float(info["burn_in_nfe_amortised"]),
                    "unit": "score evals per sample",
                }
            )
    return rows


def plot_fid_vs_nfe(run: Run, rows: list[dict[str, Any]], metric: str, name: str, title: str, caption: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repro.run import format_setting

    nfe = {format_setting(r["setting"]): r["value"] for r in rows if r["metric"] == "nfe"}
    order = ["kar1", "pfode", "rk45", "kar2", "rd", "em"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 7))
    for ax, integ in zip(axes.flat, order, strict=True):
        for arm in ("off", "on"):
            pts = sorted(
                (nfe[format_setting(r["setting"])], r["value"])
                for r in rows
                if r["metric"] == metric and r["setting"]["integrator"] == integ and r["setting"]["dlg"] == arm
            )
            if pts:
                ax.plot(
                    *zip(*pts, strict=True),
                    marker="o" if arm == "off" else "x",
                    label="without DLG" if arm == "off" else "with DLG",
                )
        ax.set_xscale("log")
        ax.set_title(integ)
        ax.set_xlabel("NFE per sample")
    axes[0, 0].set_ylabel(metric)
    axes[1, 0].set_ylabel(metric)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    run.save_figure(fig, name, title, caption)
