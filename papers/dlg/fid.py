"""FID between uint8 sample arrays and a reference image set via torch-fidelity (TF-compatible Inception).

Kept here until repro/metrics offers an image-FID entry point; the DMCMC paper used mseitzer/pytorch-fid on
JPEG files, we evaluate lossless uint8 samples (the difference is recorded in claims.yaml's protocol).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"


class _Uint8Images(torch.utils.data.Dataset):
    """[N, H, W, C] uint8 -> CHW uint8 tensors, as torch-fidelity expects."""

    def __init__(self, x: np.ndarray) -> None:
        if x.dtype != np.uint8 or x.ndim != 4:
            raise ValueError(f"expected uint8 [N, H, W, C] images, got {x.dtype} {x.shape}")
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.x[i].transpose(2, 0, 1)))


def fid(samples: np.ndarray, reference: np.ndarray, cache_name: str, data_root: Path, cuda: bool) -> float:
    """FID of `samples` against `reference` (uint8 [N, H, W, C]); reference statistics cached under `cache_name`.

    `cache_name` must spell the protocol (e.g. 'cifar10-train-50000-inception-tf-fid') so a cache is never
    reused for another one. Inception weights are read from `data_root/inception/` when present.
    """
    import torch_fidelity

    weights = Path(data_root) / "inception" / INCEPTION_FILE
    kwargs = {"feature_extractor_weights_path": str(weights)} if weights.exists() else {}
    out = torch_fidelity.calculate_metrics(
        input1=_Uint8Images(samples),
        input2=_Uint8Images(reference),
        input2_cache_name=cache_name,
        fid=True,
        cuda=cuda,
        verbose=False,
        **kwargs,
    )
    return float(out["frechet_inception_distance"])
