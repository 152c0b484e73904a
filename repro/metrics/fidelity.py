"""Inception score, FID and KID through torch-fidelity, with the TF-compatible Inception-v3.

- Feature extractor `inception-v3-compat` (torch-fidelity's port of the TF graph used by the TTUR FID code
  and the improved-GAN IS code). Its weights file is never downloaded here: it is looked up at the explicit
  path given, else at `repro.check.path("inception", data_root)` (`<data_root>/inception/<file>` or
  `$TORCH_HOME/hub/checkpoints/<file>`); missing, it raises `InceptionWeightsMissingError` with the URL.
- Samples are our uint8 arrays (N, H, W, C); they are wrapped as a torch-fidelity input dataset as they are
  (no resizing or JPEG on our side; the extractor resizes to 299 like the TF graph).
- Reference statistics are cached in `cache_root` under a name that spells the whole protocol:
  `<dataset>-<split>-n<count>-uint8-<extractor>-stat-fid-<layer>.pt` (features likewise), so a cache can
  never serve another protocol, and a second evaluation does not touch the reference images. Beside each
  cache file a `<name>.json` records its source (reference set, split, count, extractor, weights file) and
  the file's sha256; a cache whose record is missing, differs or whose checksum fails (tampered, truncated)
  is deleted and recomputed, with a log line naming the file.
- A metric is called `fid` / `is` / `kid` only when the sample count equals the protocol's count and the
  extractor is the protocol's; otherwise its name says what it is (`fid_1k`, `fid_tiny`, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from repro import check
from repro.metrics.fid_stats import FidStats

INCEPTION = "inception-v3-compat"
FEATURE_BATCH = 100  # images per Inception call (the stages keep it; `repro.work` prices by it)
BASE_NAMES = {"isc": "is", "fid": "fid", "kid": "kid"}


class InceptionWeightsMissingError(FileNotFoundError):
    def __init__(self, path: Path, data_root: str | os.PathLike) -> None:
        self.path = path
        super().__init__(f"Inception weights are not at {path}. To get them: {check.fix('inception', data_root)}")


def inception_weights(data_root: str | os.PathLike, path: str | os.PathLike | None = None) -> Path:
    """The TF-compatible Inception weights file: `path` if given, else where `repro.check` finds it."""
    p = Path(path) if path is not None else check.path("inception", data_root)
    if not p.is_file():
        raise InceptionWeightsMissingError(p, data_root)
    return p


class UInt8Images(Dataset):
    """uint8 (N, H, W, C) images as torch-fidelity wants them: uint8 (3, H, W) tensors; grey becomes RGB."""

    def __init__(self, images: np.ndarray) -> None:
        a = np.asarray(images)
        if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] not in (1, 3):
            raise ValueError(f"expected uint8 images (N,H,W,C) with C in (1,3), got {a.dtype} {a.shape}")
        self.images = torch.from_numpy(np.ascontiguousarray(a))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i].permute(2, 0, 1).expand(3, -1, -1).contiguous()


class LazyImages(Dataset):
    """Like `UInt8Images`, but the array is loaded on first use, so a cache hit never reads the dataset."""

    def __init__(self, load: Callable[[], np.ndarray], n: int) -> None:
        self._load, self._n, self._data = load, n, None

    def _images(self) -> UInt8Images:
        if self._data is None:
            self._data = UInt8Images(self._load())
            if len(self._data) != self._n:
                raise ValueError(f"reference loader returned {len(self._data)} images, the protocol says {self._n}")
        return self._data

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> torch.Tensor:
        return self._images()[i]


DATASET_SIZES = {
    ("cifar10", "train"): 50000,
    ("cifar10", "test"): 10000,
    ("mnist", "train"): 60000,
    ("mnist", "test"): 10000,
    ("celeba", "train"): 162770,
    ("celeba", "valid"): 19867,
    ("celeba", "test"): 19962,
    ("mnist5000", "train"): 4000,
    ("mnist5000", "valid"): 500,
    ("mnist5000", "test"): 500,
}


@dataclass(frozen=True)
class Reference:
    """A protocol's reference set: `load()` returns `n` uint8 (N,H,W,C) images of `dataset`'s `split`."""

    dataset: str
    split: str
    n: int
    load: Callable[[], np.ndarray]

    @property
    def cache_name(self) -> str:
        return f"{self.dataset}-{self.split}-n{self.n}-uint8"


def to_uint8_nhwc(images: torch.Tensor) -> np.ndarray:
    """float (N,C,H,W) in [0,1] -> uint8 (N,H,W,C), rounding to the nearest 8-bit level."""
    return (images * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def dataset_reference(name: str, split: str, data_root: str | os.PathLike, n: int | None = None) -> Reference:
    """The first `n` images (default: the whole split) of a dataset of `repro.data` as a reference set."""
    from repro.data.images import load_celeba
    from repro.data.load import load_dataset

    n = DATASET_SIZES.get((name, split)) if n is None else n
    if n is None:
        raise KeyError(f"size of {name}/{split} unknown: pass n")

    def load() -> np.ndarray:
        if name == "celeba":
            return to_uint8_nhwc(load_celeba(data_root, split, limit=n).images)
        return to_uint8_nhwc(load_dataset(name, data_root, split).images[:n])

    return Reference(name, split, n, load)


def count_suffix(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def metric_name(metric: str, n_samples: int, protocol_n: int, extractor: str = INCEPTION) -> str:
    """`fid` when the count and extractor are the protocol's; else e.g. `fid_1k`, `fid_tiny`, `fid_tiny_1k`."""
    name = BASE_NAMES[metric] + ("" if extractor == INCEPTION else "_" + extractor.replace("-", "_"))
    return name if n_samples == protocol_n else f"{name}_{count_suffix(n_samples)}"


def fidelity_metrics(
    samples: np.ndarray,
    reference: Reference | FidStats | None,
    *,
    protocol_n: int,
    cache_root: str | os.PathLike,
    data_root: str | os.PathLike = "data",
    metrics: tuple[str, ...] = ("isc", "fid", "kid"),
    weights_path: str | os.PathLike | None = None,
    feature_extractor: str = INCEPTION,
    device: str | torch.device | None = None,
    batch_size: int = FEATURE_BATCH,
    isc_splits: int = 10,
    kid_subset_size: int = 1000,
    kid_subsets: int = 100,
    seed: int = 2020,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """IS / FID / KID of uint8 `samples` (N,H,W,C) as partial metric rows (metric, value, stderr, unit, n_samples).

    `stderr` holds the std over the 10 IS splits (the "±" of the IS protocol) and the std over KID subsets.
    `reference` is needed for FID and KID; its statistics are cached under `cache_root`, each cache file checked
    against its source record and checksum before use (`log` gets a line for each one recomputed; default stderr).
    A `FidStats` reference (statistics from a file) serves FID only; every row then names it in `reference`.
    """
    import torch_fidelity

    unknown = set(metrics) - set(BASE_NAMES)
    if unknown or not metrics:
        raise ValueError(f"metrics must be drawn from {tuple(BASE_NAMES)}, got {metrics}")
    needs_ref = {"fid", "kid"} & set(metrics)
    if needs_ref and reference is None:
        raise ValueError(f"{sorted(needs_ref)} need a reference set")
    inputs = UInt8Images(samples)
    n = len(inputs)
    kwargs: dict = {}
    if feature_extractor == INCEPTION:
        kwargs["feature_extractor_weights_path"] = str(inception_weights(data_root, weights_path))
    source = None
    if isinstance(reference, FidStats) and needs_ref:
        if "kid" in metrics:
            raise ValueError(f"KID needs the reference images' features; {reference.name} holds only FID statistics")
        kwargs.update(input2=LazyImages(_no_images(reference.name), 2), input2_cache_name=reference.name)
        install_fid_stats(Path(cache_root), reference, feature_extractor)
    elif reference is not None and needs_ref:
        kwargs.update(input2=LazyImages(reference.load, reference.n), input2_cache_name=reference.cache_name)
        source = cache_source(reference, feature_extractor, kwargs.get("feature_extractor_weights_path"))
        drop_untrusted_caches(Path(cache_root), source, log or _stderr)
    if "kid" in metrics:
        kwargs.update(kid_subset_size=min(kid_subset_size, n, reference.n), kid_subsets=kid_subsets)
    cuda = torch.cuda.is_available() if device is None else torch.device(device).type == "cuda"
    out = torch_fidelity.calculate_metrics(
        input1=inputs,
        isc="isc" in metrics,
        fid="fid" in metrics,
        kid="kid" in metrics,
        feature_extractor=feature_extractor,
        cache_root=str(cache_root),
        cuda=cuda,
        batch_size=batch_size,
        isc_splits=isc_splits,
        rng_seed=seed,
        save_cpu_ram=True,
        verbose=False,
        **kwargs,
    )
    if source is not None:
        seal_caches(Path(cache_root), source)
    values = {
        "isc": (out.get(torch_fidelity.KEY_METRIC_ISC_MEAN), out.get(torch_fidelity.KEY_METRIC_ISC_STD)),
        "fid": (out.get(torch_fidelity.KEY_METRIC_FID), None),
        "kid": (out.get(torch_fidelity.KEY_METRIC_KID_MEAN), out.get(torch_fidelity.KEY_METRIC_KID_STD)),
    }
    return [
        {
            "metric": metric_name(m, n, protocol_n, feature_extractor),
            "value": float(values[m][0]),
            "stderr": None if values[m][1] is None else float(values[m][1]),
            "unit": "",
            "n_samples": n,
            **({"reference": reference.name} if isinstance(reference, FidStats) and m == "fid" else {}),
        }
        for m in metrics
    ]


def _no_images(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        raise RuntimeError(f"{name} is a statistics file: there are no reference images to read")

    return load


def install_fid_stats(cache_root: Path, stats: FidStats, extractor: str) -> Path:
    """Write `stats` where torch-fidelity looks up a reference's FID statistics (rewritten on every call, so it
    is always the validated file's content), in the dtypes of its own (float32 mean, float64 covariance)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    from repro import atomic

    layer = FEATURE_EXTRACTORS_REGISTRY[extractor].get_default_feature_layer_for_metric("fid")
    path = cache_root / f"{stats.name}-{extractor}-stat-fid-{layer}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(path) as tmp:
        torch.save({"mu": stats.mu.astype(np.float32), "sigma": stats.sigma.astype(np.float64)}, tmp)
    return path


def cache_source(reference: Reference, extractor: str, weights_path: str | None) -> dict:
    """What a reference cache is computed from: the reference set, its count, the protocol's extractor."""
    return {
        "reference": reference.cache_name,
        "dataset": reference.dataset,
        "split": reference.split,
        "n": reference.n,
        "extractor": extractor,
        "weights": Path(weights_path).name if weights_path else None,
    }


def _cache_files(cache_root: Path, source: dict) -> list[Path]:
    return sorted(cache_root.glob(f"{source['reference']}-{source['extractor']}-*.pt"))


def _record_path(cache: Path) -> Path:
    return cache.with_suffix(".json")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_problem(cache: Path, source: dict) -> str | None:
    """Why `cache` cannot be trusted (no record, another source, a checksum mismatch), or None."""
    record_path = _record_path(cache)
    if not record_path.exists():
        return f"no source record {record_path.name}"
    try:
        record = json.loads(record_path.read_text())
        stored, checksum = record["source"], record["sha256"]
    except (ValueError, KeyError, TypeError) as err:
        return f"unreadable source record {record_path.name} ({err})"
    if stored != source:
        return f"computed from {stored}, not {source}"
    if sha256_file(cache) != checksum:
        return "checksum mismatch (the file was changed or truncated)"
    return None


def drop_untrusted_caches(cache_root: Path, source: dict, log: Callable[[str], None]) -> None:
    """Delete every cache file of `source`'s reference that fails `cache_problem`, so it is recomputed."""
    for cache in _cache_files(cache_root, source):
        problem = cache_problem(cache, source)
        if problem:
            log(f"FID reference cache {cache}: {problem}; recomputing it")
            cache.unlink()
            _record_path(cache).unlink(missing_ok=True)


def seal_caches(cache_root: Path, source: dict) -> None:
    """Write the source record and sha256 beside each cache file of `source` that has none (just computed)."""
    from repro import atomic

    for cache in _cache_files(cache_root, source):
        if not _record_path(cache).exists():
            atomic.write_json(_record_path(cache), {"source": source, "sha256": sha256_file(cache)})


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
