"""Samples in shards with one seed per sample: results never depend on batch size, and jobs resume."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro import checkpoint
from repro.atomic import atomic_path, write_json
from repro.rng import StackedGenerator
from repro.run import Run

SHARD = re.compile(r"shard_(\d{5})\.npz$")


def sample_seed(base: int, index: int) -> int:
    """The seed of sample `index`: distinct per sample and per base seed, stable across batch sizes."""
    return int(base) * 10_000_019 + int(index)


def shard_dir(run: Run, name: str) -> Path:
    return run.path("samples", name, "x").parent


def sample_shards(
    run: Run,
    name: str,
    n: int,
    batch_size: int,
    fn: Callable[[StackedGenerator, int], torch.Tensor],
    shard_size: int | None = None,
) -> Path:
    """Write `n` samples as `samples/<name>/shard_XXXXX.npz`, skipping shards that already exist.

    `fn(gen, m)` returns `m` samples whose randomness comes only from `gen` (one generator per sample).
    """
    if n <= 0 or batch_size <= 0:
        raise ValueError(f"{name}: need n > 0 and batch_size > 0, got n={n}, batch_size={batch_size}")
    shard_size = shard_size or batch_size
    folder = shard_dir(run, name)
    settings = checkpoint.run_settings(run.cfg, "sample")
    meta = {"n": n, "shard_size": shard_size, "seed": run.seed, "fingerprint": checkpoint.fingerprint(settings)}
    _check_meta(folder, meta, settings)
    write_json(folder / "meta.json", {**meta, "settings": settings})
    n_shards = -(-n // shard_size)
    todo = [i for i in range(n_shards) if not (folder / f"shard_{i:05d}.npz").exists()]
    if len(todo) < n_shards:
        run.log(f"{name}: {n_shards - len(todo)}/{n_shards} shards already present, resuming")
    for i in run.progress(todo, total=len(todo), desc=f"sample {name}"):
        lo, hi = i * shard_size, min(n, (i + 1) * shard_size)
        seeds = [sample_seed(run.seed, j) for j in range(lo, hi)]
        parts = []
        for b in range(0, len(seeds), batch_size):
            gen = StackedGenerator(seeds[b : b + batch_size], device=run.device)
            with torch.inference_mode():
                parts.append(fn(gen, len(gen)).cpu())
        x = torch.cat(parts).numpy()
        with atomic_path(folder / f"shard_{i:05d}.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, samples=x, seeds=np.asarray(seeds, dtype=np.int64))
    (folder / "complete.txt").write_text(f"{n}\n")
    return folder


def _check_meta(folder: Path, meta: dict[str, Any], settings: dict[str, Any]) -> None:
    """Refuse shards made under another count, shard size, seed or experiment config, naming the folder."""
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        if any(SHARD.search(f.name) for f in folder.iterdir()):
            raise RuntimeError(f"{folder} holds shards but no meta.json recording their settings; {_RESAMPLE}")
        return
    try:
        stored = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise RuntimeError(f"{meta_path} is not valid JSON ({err}); {_RESAMPLE}") from err
    differs = [k for k in meta if stored.get(k) != meta[k]]
    if not differs:
        return
    if "fingerprint" in differs and isinstance(stored.get("settings"), dict):
        differs.remove("fingerprint")
        differs.append(f"experiment settings ({checkpoint.describe_differences(stored['settings'], settings)})")
    elif "fingerprint" in differs and "fingerprint" not in stored:
        differs[differs.index("fingerprint")] = "experiment settings (not recorded: made before fingerprints)"
    shown = [f"{k}: {stored.get(k)!r} -> {meta[k]!r}" if k in meta else k for k in differs]
    raise RuntimeError(f"{folder} holds samples made under other settings ({'; '.join(shown)}); {_RESAMPLE}")


def _check_loaded_settings(folder: Path, run: Run) -> None:
    """Refuse a complete sample set made under another experiment config than `run`'s."""
    settings = checkpoint.run_settings(run.cfg, "sample")
    meta_path = folder / "meta.json"
    try:
        stored = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RuntimeError(f"{meta_path} cannot be read ({err}); {_RESAMPLE}") from err
    changed = checkpoint.changed_settings(stored, settings)
    if changed is not None:
        raise RuntimeError(f"{folder} holds samples made under other experiment settings ({changed}); {_RESAMPLE}")


_RESAMPLE = "they are not reused: delete the folder to resample (or the run folder, or pass a different --runs-root)"


def load_samples(run: Run, name: str) -> np.ndarray:
    folder = run.root / "samples" / name
    if not (folder / "complete.txt").exists():
        raise FileNotFoundError(f"{folder} has no complete sample set; run the sample stage first")
    _check_loaded_settings(folder, run)
    files = sorted(f for f in folder.iterdir() if SHARD.search(f.name))
    return np.concatenate([np.load(f)["samples"] for f in files])


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] floats in [0, 1] → [B, H, W, C] uint8, rounding as torchvision's save_image does."""
    return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
