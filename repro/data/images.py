"""The downloadable image datasets (CIFAR-10, MNIST, CelebA) through torchvision's own classes.

Files live where `repro.check.ITEMS` says, under a data root that torchvision also understands
(`<root>/cifar-10-batches-py`, `<root>/MNIST/raw`, `<root>/celeba`). Missing files raise one
`DataMissingError` naming the path and how to fetch it. With `download=True` the files are fetched into a
temporary folder beside their final place and moved in only when complete, so a failed download leaves
nothing behind. torchvision verifies CIFAR-10 and CelebA files by MD5 when loading.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from repro import check
from repro.data.base import DataMissingError, LabelledImages

CELEBA_CROP = 140  # NCSN: centre crop 140x140, then resize to 32x32
CELEBA_SIZE = 32


def _dataset_class(name: str):
    import torchvision.datasets as tvd

    return {"cifar10": tvd.CIFAR10, "mnist": tvd.MNIST, "celeba": tvd.CelebA}[name]


def _missing(name: str, data_root: Path, detail: str = "") -> DataMissingError:
    return DataMissingError(name, check.path(name, data_root), check.fix(name, data_root), detail)


def _download(name: str, data_root: Path) -> None:
    """Fetch `name` with torchvision into a temporary folder, then move the finished files into place."""
    created_root = not data_root.exists()
    data_root.mkdir(parents=True, exist_ok=True)
    final = data_root / check.ITEMS[name].rel
    tmp = Path(tempfile.mkdtemp(prefix=f".download-{name}-", dir=data_root))
    try:
        _dataset_class(name)(str(tmp), download=True)
        staged = tmp / check.ITEMS[name].rel
        if not check.present(name, tmp):
            raise RuntimeError(f"the download did not produce {staged}")
        final.parent.mkdir(parents=True, exist_ok=True)
        staged.replace(final)
    except Exception as err:
        raise _missing(name, data_root, f"download failed ({type(err).__name__}: {err})") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if created_root and not any(data_root.iterdir()):
            data_root.rmdir()


def _open(name: str, data_root: str | Path, download: bool, **kwargs):
    """The torchvision dataset object, after making sure its files are there (fetching them if allowed)."""
    data_root = Path(data_root)
    if not check.present(name, data_root):
        final = data_root / check.ITEMS[name].rel
        if final.exists():
            raise _missing(name, data_root, "the folder exists but is incomplete; complete or remove it")
        if not download:
            raise _missing(name, data_root, "download=False")
        _download(name, data_root)
    try:
        return _dataset_class(name)(str(data_root), download=False, **kwargs)
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted" (MD5 mismatch)
        raise _missing(name, data_root, f"torchvision rejected the files ({err})") from err


def load_cifar10(data_root: str | Path, split: str = "train", download: bool = False) -> LabelledImages:
    """CIFAR-10 `train` (50,000) or `test` (10,000) images in [0,1] as (N,3,32,32), with class labels."""
    if split not in ("train", "test"):
        raise ValueError(f"CIFAR-10 split {split!r}: expected 'train' or 'test'")
    ds = _open("cifar10", data_root, download, train=split == "train")
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).float().div_(255.0)
    return LabelledImages(x.contiguous(), torch.as_tensor(ds.targets, dtype=torch.int64))


def load_mnist(data_root: str | Path, split: str = "train", download: bool = False) -> LabelledImages:
    """MNIST `train` (60,000) or `test` (10,000) digits in [0,1] as (N,1,28,28), with labels."""
    if split not in ("train", "test"):
        raise ValueError(f"MNIST split {split!r}: expected 'train' or 'test'")
    ds = _open("mnist", data_root, download, train=split == "train")
    return LabelledImages(ds.data.unsqueeze(1).float().div_(255.0), ds.targets.to(torch.int64))


def celeba_transform() -> Callable:
    """PIL image -> uint8 (3,32,32): NCSN's centre crop 140 then resize to 32 (PIL bilinear, antialiased)."""
    from torchvision import transforms

    return transforms.Compose(
        [transforms.CenterCrop(CELEBA_CROP), transforms.Resize(CELEBA_SIZE), transforms.PILToTensor()]
    )


def load_celeba(
    data_root: str | Path, split: str = "train", download: bool = False, limit: int | None = None
) -> LabelledImages:
    """CelebA aligned faces of one official split (`train`, `valid`, `test`, `all`) as (N,3,32,32) in [0,1].

    `limit` keeps the first `limit` images of the split (decoding all 162,770 training JPEGs takes minutes).
    Labels are None: the faces have no classes used here.
    """
    ds = _open("celeba", data_root, download, split=split, target_type=[], transform=celeba_transform())
    n = len(ds) if limit is None else min(limit, len(ds))
    if n == 0:
        raise ValueError(f"CelebA split {split!r} under {data_root} is empty")
    x = torch.stack([ds[i][0] for i in range(n)])
    return LabelledImages(x.float().div_(255.0), None)
