"""FID as `mseitzer/pytorch-fid` computes it (the protocol of DLG, Kim & Ye 2023), on our uint8 sample arrays.

The protocol's own steps, in its order: images as files are read by PIL and become floats in [0, 1]
(`ToTensor`, i.e. uint8 / 255); its `InceptionV3` (the FID-ported TF weights `pt_inception-2015-12-05-*.pth`)
resizes bilinearly to 299 x 299 (`align_corners=False`) and maps [0, 1] to [-1, 1]; pool_3 features in float64;
mean and `np.cov`; the Frechet distance. pytorch-fid takes `scipy.linalg.sqrtm` of the covariance product and
raises on a large imaginary part (a singular covariance: fewer samples than 2048, as in the rehearsal); we use
`repro.metrics.distances.frechet_distance_stats` (symmetric eigendecompositions, never complex), equal to it on
well-conditioned statistics (tested). torch-fidelity instead resizes like the TF graph and reads uint8 directly,
so the two protocols' numbers differ slightly and are never mixed: the metric is `fid_pytorch_fid`
(`fid_pytorch_fid_1k` at another count) and rows carry `fid_protocol=pytorch-fid`.

`jpeg_quality` (off by default) repeats the paper's lossy step: each sample goes through a PIL JPEG save at that
quality (PIL's default is 75, what DMCMC's `img.save('<i>.jpg')` used) and is read back before the protocol.
One difference stays: DMCMC made its uint8 images by truncation (`(255 * x).astype(np.uint8)`), our stored
samples are rounded (`repro.sampling.to_uint8`), half a level apart on average before the JPEG step.

The weights file is never downloaded here: it is looked up at `repro.check.path("pytorch_fid_inception", ...)`
(`<data_root>/inception/<file>` or `$TORCH_HOME/hub/checkpoints/<file>`, where pytorch-fid itself caches it).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from repro import check
from repro.metrics.distances import frechet_distance_stats
from repro.metrics.fid_stats import FidStats

PROTOCOL = "pytorch-fid"
DIMS = 2048


class PytorchFidWeightsMissingError(FileNotFoundError):
    def __init__(self, path: Path, data_root: str | os.PathLike) -> None:
        self.path = path
        super().__init__(
            f"pytorch-fid Inception weights are not at {path}. To get them: "
            f"{check.fix('pytorch_fid_inception', data_root)}"
        )


def weights_path(data_root: str | os.PathLike) -> Path:
    """The pytorch-fid Inception weights file where `repro.check` finds it; a clear error when absent."""
    p = check.path("pytorch_fid_inception", data_root)
    if not p.is_file():
        raise PytorchFidWeightsMissingError(p, data_root)
    return p


def _expected_keys() -> dict[str, tuple[int, ...]]:
    """Key -> shape of the FID Inception's state dict (torchvision's Inception3 with 1008 classes, no aux head:
    pytorch-fid's patched blocks change only `forward`, not parameters)."""
    import torchvision

    net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The weights file's state dict, checked key by key against the FID Inception (errors name file and keys)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    want = _expected_keys()
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    bad = [f"{k}: {tuple(state[k].shape)} vs {v}" for k, v in want.items() if k in state and tuple(state[k].shape) != v]
    if missing or extra or bad:
        raise ValueError(
            f"{path}: not pytorch-fid's Inception weights: missing {missing[:5]} ({len(missing)}), "
            f"unexpected {extra[:5]} ({len(extra)}), shape mismatches {bad[:5]}"
        )
    return state


def load_inception(path: Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """pytorch-fid's `InceptionV3` (pool_3 block, its resize and normalisation) with the weights read from `path`.

    pytorch-fid fetches its weights through `load_state_dict_from_url` and loads them strictly; here that call
    returns the local file's (checked) state dict instead, so nothing is downloaded.
    """
    try:
        from pytorch_fid import inception as pf
    except ImportError as err:
        raise ImportError(
            "fid_protocol pytorch-fid needs the pytorch-fid package (an optional dependency): "
            "pip install 'pytorch-fid>=0.3.0'"
        ) from err
    state = read_weights(path)
    with mock.patch.object(pf, "load_state_dict_from_url", lambda *args, **kwargs: state):
        model = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[DIMS]])
    return model.to(device).eval()


def jpeg_round_trip(images: np.ndarray, quality: int) -> np.ndarray:
    """uint8 (N, H, W, 3) images saved as PIL JPEG at `quality` and read back as RGB, as the samples' files were."""
    from PIL import Image

    out = np.empty_like(images)
    for i, img in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        out[i] = np.asarray(Image.open(buf).convert("RGB"))
    return out


@torch.no_grad()
def activations(
    model: torch.nn.Module, images: np.ndarray, batch_size: int = 50, device: str | torch.device = "cpu"
) -> np.ndarray:
    """pool_3 features (N, 2048) in float64 of uint8 (N, H, W, C) images, read as `ToTensor` reads a file."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected uint8 images (N, H, W, C) with C in (1, 3), got {images.dtype} {images.shape}")
    feats = np.empty((len(images), DIMS))
    for lo in range(0, len(images), batch_size):
        x = torch.from_numpy(images[lo : lo + batch_size]).permute(0, 3, 1, 2).expand(-1, 3, -1, -1).contiguous()
        pred = model(x.to(device=device, dtype=torch.float32).div(255))[0]  # ToTensor's layout and arithmetic
        feats[lo : lo + len(x)] = pred.squeeze(3).squeeze(2).cpu().numpy()
    return feats


def statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.mean(feats, axis=0), np.cov(feats, rowvar=False)


@dataclass(frozen=True)
class PytorchFid:
    """FID of uint8 sample arrays against one reference's statistics (`mu`, `sigma`) under the pytorch-fid protocol,
    each sample set first through the JPEG round trip when `jpeg_quality` is set."""

    model: torch.nn.Module
    mu: np.ndarray
    sigma: np.ndarray
    jpeg_quality: int | None = None
    device: str | torch.device = "cpu"
    batch_size: int = 50

    @classmethod
    def build(
        cls,
        reference: np.ndarray | FidStats,
        data_root: str | os.PathLike,
        *,
        jpeg_quality: int | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 50,
    ) -> PytorchFid:
        """The Inception from the data root and the reference statistics: a statistics file's, or those of uint8
        images passed through the protocol as they are (the paper saved only its samples as JPEG)."""
        model = load_inception(weights_path(data_root), device)
        if isinstance(reference, FidStats):
            if reference.mu.shape != (DIMS,):
                raise ValueError(f"{reference.name}: {reference.mu.shape[0]} features, pytorch-fid gives {DIMS}")
            mu, sigma = reference.mu, reference.sigma
        else:
            mu, sigma = statistics(activations(model, reference, batch_size, device))
        return cls(model, mu, sigma, jpeg_quality, device, batch_size)

    def __call__(self, samples: np.ndarray) -> float:
        if self.jpeg_quality is not None:
            samples = jpeg_round_trip(samples, self.jpeg_quality)
        mu, sigma = statistics(activations(self.model, samples, self.batch_size, self.device))
        return frechet_distance_stats(mu, sigma, self.mu, self.sigma)
