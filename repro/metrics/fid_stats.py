"""FID reference statistics from a file, as the papers used them: no raw training images needed.

Two formats exist in the wild: TTUR's precomputed `.npz` (`mu`, `sigma`; NCSN's CIFAR-10 numbers) and score_sde's
`cifar10_stats.npz` (the `pool_3` activations of the training set, from which `mu` and `sigma` are computed here).
A file is validated before use (shapes, finite values, a symmetric positive semi-definite covariance) and named by
its stem and checksum, so a row computed against it says which file it was and another file can never be mistaken
for it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Tolerances for a covariance computed in float32 by someone else's code: asymmetry and negative eigenvalues
# relative to the largest entry / eigenvalue.
SYMMETRY_RTOL = 1e-6
PSD_RTOL = 1e-6


@dataclass(frozen=True)
class FidStats:
    """Validated reference statistics: mean, covariance, the file's format and its protocol name."""

    mu: np.ndarray
    sigma: np.ndarray
    source: str  # "ttur" (mu, sigma) or "score_sde" (pool_3 activations)
    name: str  # "statsfile-<stem>-<sha256[:12]>": the reference's name in cache files and result rows


def load_fid_stats(path: str | Path, dim: int | None = None) -> FidStats:
    """Read and validate a statistics file; `dim` (e.g. 2048 for Inception pool_3) is checked when given."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FID reference statistics {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float64) for k in data.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"FID reference statistics {path}: not a readable .npz ({err})") from err
    if {"mu", "sigma"} <= arrays.keys():
        mu, sigma, source = arrays["mu"], arrays["sigma"], "ttur"
    elif "pool_3" in arrays:
        acts = arrays["pool_3"]
        if acts.ndim != 2 or len(acts) < 2:
            raise ValueError(f"FID reference statistics {path}: pool_3 must be (N >= 2, dim), got {acts.shape}")
        mu, sigma, source = acts.mean(0), np.cov(acts, rowvar=False), "score_sde"
    else:
        raise ValueError(f"FID reference statistics {path}: expected keys mu+sigma or pool_3, found {sorted(arrays)}")
    _validate(path, mu, sigma, dim)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return FidStats(mu, sigma, source, f"statsfile-{path.stem}-{digest}")


def _validate(path: Path, mu: np.ndarray, sigma: np.ndarray, dim: int | None) -> None:
    d = mu.shape[0] if mu.ndim == 1 else None
    if d is None or sigma.shape != (d, d):
        raise ValueError(f"FID reference statistics {path}: mu {mu.shape} and sigma {sigma.shape} do not fit")
    if dim is not None and d != dim:
        raise ValueError(f"FID reference statistics {path}: {d} features, the extractor gives {dim}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(f"FID reference statistics {path}: non-finite values")
    scale = float(np.abs(sigma).max()) or 1.0
    if float(np.abs(sigma - sigma.T).max()) > SYMMETRY_RTOL * scale:
        raise ValueError(f"FID reference statistics {path}: sigma is not symmetric")
    lowest, highest = np.linalg.eigvalsh(sigma)[[0, -1]]
    if lowest < -PSD_RTOL * max(float(highest), 1e-30):
        raise ValueError(f"FID reference statistics {path}: sigma is not positive semi-definite (eigenvalue {lowest})")
