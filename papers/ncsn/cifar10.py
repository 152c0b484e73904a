"""ncsn/cifar10: Table 1 (unconditional CIFAR-10 IS and FID; the numbers are in claims.yaml) and inpainting.

Paper protocol: RefineNet ngf 128, DSM with L = 10 levels 1 -> 0.01, 200k Adam steps (lr 1e-3, batch 128),
uniform dequantisation and random flips; a checkpoint every 5000 steps; the one with the lowest FID on 1000
samples is selected; 50,000 samples by annealed Langevin (code form, eps = 2e-5, T = 100, U[0,1] init, no final
denoising); IS and FID with the TF-compatible Inception against CIFAR-10 train.

`fid_stats` (a TTUR or score_sde statistics file under the data root) replaces the train split as the FID reference.
`official_checkpoint` (a folder or file under the data root, e.g. `ncsn/run/logs/cifar10`) skips training: the
official `checkpoint_<step>.pth` files of that folder are the selection candidates. Our own training keeps the
weights every `training.keep_every` steps (5000 at the paper tier, as the official runs): those snapshots and the final
weights are the candidates.
At the smoke tier a synthetic stand-in replaces the data and the metric is a Frechet distance of 8x8-pooled pixels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from papers.ncsn.images import (
    InpaintingConfig,
    annealed_fn,
    annealed_work,
    build_net,
    held_out_dsm_work,
    is_synthetic,
    levels,
    load_images,
    load_net,
    nfe_row,
    sample_and_inpaint,
    sample_and_inpaint_work,
    sampling_setting,
    save_results,
    score_net,
    test_dsm_rows,
    train_ncsn,
    train_work,
)
from repro.config import read_from
from repro.run import MetricRow, Run
from repro.work import Work

SHAPE = (3, 32, 32)


@dataclass(frozen=True, kw_only=True)
class Config(InpaintingConfig):
    """The image keys, plus the checkpoint selection: `select_n` samples per candidate, FID at `protocol_n`."""

    official_checkpoint: str | None
    fid_stats: str | None = read_from("select", None)  # under the data root; None: statistics of the train split
    select_n: int
    protocol_n: int


def train(run: Run) -> None:
    if run.cfg.official_checkpoint:
        run.log(f"official checkpoint {run.cfg.official_checkpoint} given: nothing to train")
        return
    train_ncsn(run)


def candidates(run: Run) -> list[dict]:
    """Checkpoints to select from: official snapshots (by step), or our kept snapshots and final weights."""
    official = run.cfg.official_checkpoint
    if not official:
        from repro.train import snapshots

        final = run.cfg.training["steps"]
        kept = [{"kind": "ours", "path": str(f), "step": step} for step, f in snapshots(run, "ncsn") if step < final]
        return [*kept, {"kind": "ours", "name": "ncsn", "step": final}]
    path = Path(run.data_root) / official
    if path.is_file():
        return [{"kind": "official", "path": str(path), "step": None}]
    found = sorted(
        (int(m.group(1)), f)
        for f in path.glob("checkpoint_*.pth")
        if (m := re.fullmatch(r"checkpoint_(\d+)\.pth", f.name))
    )
    if not found and (path / "checkpoint.pth").exists():
        return [{"kind": "official", "path": str(path / "checkpoint.pth"), "step": None}]
    if not found:
        raise FileNotFoundError(f"{path}: no checkpoint_<step>.pth or checkpoint.pth (config key official_checkpoint)")
    return [{"kind": "official", "path": str(f), "step": step} for step, f in found]


def _net(run: Run, candidate: dict):
    n_levels = run.cfg.n_levels
    if candidate["kind"] == "ours" and "path" in candidate:
        from repro.train import load_snapshot

        return load_snapshot(run, build_net(run.cfg, n_levels, SHAPE[0]), Path(candidate["path"]))
    if candidate["kind"] == "ours":
        return load_net(run, candidate["name"], n_levels, SHAPE[0])
    from repro.nets.ncsn_checkpoint import build_from_official

    net, _ = build_from_official(candidate["path"])
    if net.num_classes != n_levels:
        raise ValueError(f"{candidate['path']}: {net.num_classes} noise levels, config n_levels={n_levels}")
    return net.to(run.device).eval()


def _quality(run: Run, samples: np.ndarray, n_protocol: int, metrics: tuple[str, ...]) -> list[dict]:
    """IS/FID rows (real data, TF Inception) or a raw-pixel Frechet distance row (synthetic stand-in)."""
    from repro.sampling import to_uint8

    if is_synthetic(run.cfg) and not run.rehearsal:  # a rehearsal takes the real metric path on the stand-in too
        from repro.metrics.distances import frechet_distance

        def pooled(x: torch.Tensor) -> np.ndarray:  # 8x8 average pools: 192 dims keep the covariance small
            return torch.nn.functional.adaptive_avg_pool2d(x.double(), 8).flatten(1).numpy()

        ref = pooled(load_images(run, "train")[0])
        value = frechet_distance(pooled(torch.from_numpy(samples).permute(0, 3, 1, 2) / 255.0), ref)
        return [
            {
                "metric": "frechet_pixels_8x8",
                "value": value,
                "stderr": None,
                "unit": "squared distance",
                "n_samples": len(samples),
            }
        ]
    from repro.data.load import load_dataset
    from repro.metrics.fidelity import Reference, fidelity_metrics

    if is_synthetic(run.cfg):  # rehearsal: the stand-in as the reference set, under its own cache name
        stand_in = to_uint8(load_images(run, "train")[0]).numpy()
        ref = Reference("synthetic-cifar10", "train", len(stand_in), lambda: stand_in)
    elif run.cfg.fid_stats:
        from repro.metrics.fid_stats import load_fid_stats

        ref = load_fid_stats(Path(run.data_root) / run.cfg.fid_stats, dim=2048)
    else:
        ref = Reference(
            "cifar10", "train", 50000, lambda: to_uint8(load_dataset("cifar10", run.data_root, "train").images).numpy()
        )
    return fidelity_metrics(
        samples,
        ref,
        protocol_n=n_protocol,
        cache_root=Path(run.data_root) / "fidelity_cache",
        data_root=run.data_root,
        metrics=metrics,
        device=run.device,
    )


def _reference(row: dict) -> dict:
    """A row's `reference` (the statistics file its FID is against) moved into its setting, where protocols live."""
    return {"reference": row.pop("reference")} if "reference" in row else {}


def select(run: Run) -> None:
    """The official protocol: FID on `select_n` samples per candidate checkpoint, the lowest wins."""
    from repro.sampling import load_samples, sample_shards

    cfg, sigmas = run.cfg, levels(run.cfg)
    scores = []
    for i, cand in enumerate(candidates(run)):
        name = f"select_{i:03d}"
        sample_shards(
            run,
            name,
            cfg.select_n,
            cfg.sample_batch,
            annealed_fn(_net(run, cand), sigmas.to(run.device), SHAPE, cfg.sampling),
        )
        row = _quality(run, load_samples(run, name), cfg.protocol_n, ("fid",))[0]
        scores.append({**cand, "metric": row["metric"], "value": row["value"]})
        run.log(
            f"candidate {cand.get('path', cand.get('name'))} (step {cand['step']}): {row['metric']} {row['value']:.3f}"
        )
    best = min(scores, key=lambda s: s["value"])
    run.save_json("selected.json", {"selected": best, "candidates": scores})


def sample(run: Run) -> None:
    net = _net(run, run.load_json("selected.json")["selected"])
    sample_and_inpaint(run, net, SHAPE, refs_split="train")


def evaluate(run: Run) -> None:
    from repro.sampling import load_samples

    cfg = run.cfg
    x = load_samples(run, "samples")
    selected = run.load_json("selected.json")["selected"]
    setting = {**sampling_setting(cfg), "checkpoint": selected["kind"], "step": selected["step"]}
    rows = [
        MetricRow(dataset=cfg.dataset, setting={**setting, **_reference(r)}, seed=run.seed, **r)
        for r in _quality(run, x, cfg.protocol_n, ("isc", "fid"))
    ]
    rows.append(nfe_row(run, setting, len(x)))
    net = _net(run, selected)
    rows += test_dsm_rows(run, net, levels(cfg), load_images(run, "test")[0])
    save_results(run, rows, x, "CIFAR-10", "NCSN samples, CIFAR-10")


def n_candidates(cfg: Config) -> int:
    """Checkpoints `select` scores: our snapshots every `keep_every` steps before the last, plus the final weights.
    An `official_checkpoint` folder gives whatever files it holds; counted as the same grid (the official runs kept
    one every 5000 steps to 200k, as `keep_every` 5000 of 200k steps does here)."""
    steps, keep = cfg.training["steps"], cfg.training.get("keep_every")
    return (steps - 1) // keep + 1 if keep else 1


def _reference_n(cfg: Config) -> int:
    """Reference images `_quality` passes through Inception on a first run (cached after): the stand-in in a
    rehearsal (the smoke tier's pixel distance uses no Inception), none with a `fid_stats` file, else CIFAR-10 train."""
    from repro.metrics.fidelity import DATASET_SIZES

    if is_synthetic(cfg):
        return cfg.synthetic_n
    return 0 if cfg.fid_stats else DATASET_SIZES[("cifar10", "train")]


def work(cfg: Config) -> list[Work]:
    """DSM training (none with `official_checkpoint`); per candidate `select_n` samples and their FID, the reference
    statistics computed once (cached for `evaluate`); the samples and inpaintings; IS + FID of `n_samples` (one
    Inception pass) and the held-out DSM loss. Left out: data loading, DSM and sampler arithmetic, the level lookup
    of `LevelScore`, the Frechet distances, checkpoint reads and writes."""
    from repro.metrics.fidelity import FEATURE_BATCH

    net, batch, n = score_net(cfg, cfg.n_levels, SHAPE), FEATURE_BATCH, n_candidates(cfg)
    out = [] if cfg.official_checkpoint else [train_work(cfg, net, "DSM")]
    out += [
        annealed_work(cfg, "select", cfg.select_n, net, n_sets=n),
        Work("select", f"FID of {n} candidates x {cfg.select_n} samples", "inception", n * cfg.select_n, batch),
    ]
    if n_ref := _reference_n(cfg):
        out.append(Work("select", f"FID reference statistics, {n_ref} images (first run)", "inception", n_ref, batch))
    return [
        *out,
        *sample_and_inpaint_work(cfg, net),
        Work("evaluate", f"IS and FID of {cfg.n_samples} samples", "inception", cfg.n_samples, batch),
        held_out_dsm_work(cfg, net),
    ]
