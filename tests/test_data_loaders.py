"""The real torchvision loaders on tiny files written in the datasets' own on-disk formats.

torchvision checks CIFAR-10 and CelebA files against MD5 sums of the real downloads; a tiny file can never
match them, so these tests replace only those checksum constants with the sums of the files they wrote.
The reading code (pickle batches, IDX files, the CelebA partition list and JPEGs) is torchvision's own.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd
from PIL import Image

from repro.data.base import DataMissingError
from repro.data.images import load_celeba, load_cifar10, load_mnist
from repro.data.load import load_dataset


def _md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture
def serve(tmp_path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on the loopback address, standing in for the dataset's download host."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# ---------------------------------------------------------------- CIFAR-10 (python pickle batches)


def write_cifar10(root: Path, per_batch: int = 3, seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} as the original (latin-1 str keys)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        entry = {
            "batch_label": name,
            "labels": labels,
            "data": data,
            "filenames": [f"{name}_{i}.png" for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
        written[name] = (data, labels)
    meta = {"num_cases_per_batch": per_batch, "label_names": [f"class{i}" for i in range(10)], "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


def trust_cifar10(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Point torchvision's CIFAR-10 MD5 table at the sums of the files in `folder`."""
    monkeypatch.setattr(
        tvd.CIFAR10, "train_list", [[f"data_batch_{i}", _md5(folder / f"data_batch_{i}")] for i in range(1, 6)]
    )
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", _md5(folder / "test_batch")]])
    monkeypatch.setattr(
        tvd.CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names", "md5": _md5(folder / "batches.meta")}
    )


def test_cifar10_loads_pickle_batches_in_order(tmp_path, monkeypatch):
    written = write_cifar10(tmp_path)
    trust_cifar10(monkeypatch, tmp_path / "cifar-10-batches-py")
    train = load_cifar10(tmp_path, "train")
    test = load_dataset("cifar10", tmp_path, "test")
    assert train.images.shape == (15, 3, 32, 32) and train.images.dtype == torch.float32
    assert test.images.shape == (3, 3, 32, 32)
    raw = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    expect = torch.from_numpy(raw.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)  # rows are R, G, B planes
    assert torch.equal(train.images, expect)
    assert train.labels.tolist() == sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert test.labels.tolist() == written["test_batch"][1]


def test_cifar10_wrong_checksum_is_a_clear_error(tmp_path):
    write_cifar10(tmp_path)  # real MD5 table: the tiny files do not match it
    with pytest.raises(DataMissingError, match="torchvision rejected"):
        load_cifar10(tmp_path)


def test_missing_cifar10_names_path_and_fix_and_creates_nothing(tmp_path):
    root = tmp_path / "data"
    with pytest.raises(DataMissingError) as info:
        load_cifar10(root)
    msg = str(info.value)
    assert str(root / "cifar-10-batches-py") in msg and "cifar-10-python.tar.gz" in msg
    assert not root.exists()
    root.mkdir()
    with pytest.raises(DataMissingError):
        load_mnist(root)
    assert _tree(root) == []


def test_incomplete_folder_is_reported_not_overwritten(tmp_path, monkeypatch):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    before = _tree(tmp_path)
    with pytest.raises(DataMissingError, match="incomplete"):
        load_cifar10(tmp_path, download=True)
    assert _tree(tmp_path) == before


def test_failed_download_leaves_nothing_behind(tmp_path, monkeypatch, serve):
    _, url = serve
    monkeypatch.setattr(tvd.CIFAR10, "url", url + "cifar-10-python.tar.gz")  # 404: not served
    root = tmp_path / "data"
    with pytest.raises(DataMissingError, match="download failed") as info:
        load_cifar10(root, download=True)
    assert str(root / "cifar-10-batches-py") in str(info.value)
    assert not root.exists()


def test_download_is_staged_then_moved_into_place(tmp_path, monkeypatch, serve):
    served, url = serve
    src = tmp_path / "src"
    written = write_cifar10(src, per_batch=2, seed=1)
    archive = served / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    trust_cifar10(monkeypatch, src / "cifar-10-batches-py")
    monkeypatch.setattr(tvd.CIFAR10, "url", url + archive.name)
    monkeypatch.setattr(tvd.CIFAR10, "tgz_md5", _md5(archive))
    root = tmp_path / "data"
    test = load_cifar10(root, "test", download=True)
    assert test.labels.tolist() == written["test_batch"][1]
    assert [p for p in _tree(root) if "/" not in p] == ["cifar-10-batches-py"]  # no archive, no temp folder


# ---------------------------------------------------------------- MNIST (IDX ubyte files)


def _idx(path: Path, arr: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def write_mnist(root: Path, n_train: int = 5, n_test: int = 3) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(2)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        _idx(raw / f"{prefix}-images-idx3-ubyte", x)
        _idx(raw / f"{prefix}-labels-idx1-ubyte", y)
        out[prefix] = (x, y)
    return out


def test_mnist_reads_idx_files(tmp_path):
    written = write_mnist(tmp_path)
    train = load_mnist(tmp_path, "train")
    test = load_dataset("mnist", tmp_path, "test")
    assert train.images.shape == (5, 1, 28, 28) and test.images.shape == (3, 1, 28, 28)
    assert torch.equal(train.images[:, 0], torch.from_numpy(written["train"][0]).float() / 255.0)
    assert test.labels.tolist() == written["t10k"][1].tolist()
    assert train.labels.dtype == torch.int64


def test_mnist_download_from_mirror_in_gz_format(tmp_path, monkeypatch, serve):
    mirror, url = serve
    src = tmp_path / "src"
    write_mnist(src)
    resources = []
    for f in sorted((src / "MNIST" / "raw").iterdir()):
        gz = mirror / (f.name + ".gz")
        gz.write_bytes(gzip.compress(f.read_bytes()))
        resources.append((gz.name, _md5(gz)))
    monkeypatch.setattr(tvd.MNIST, "mirrors", [url])
    monkeypatch.setattr(tvd.MNIST, "resources", resources)
    root = tmp_path / "data"
    train = load_mnist(root, "train", download=True)
    assert train.images.shape == (5, 1, 28, 28)
    assert [p for p in _tree(root) if "/" not in p] == ["MNIST"]


# ---------------------------------------------------------------- CelebA (folder of JPEGs + list files)

CELEBA_LISTS = (
    "list_attr_celeba.txt",
    "identity_CelebA.txt",
    "list_bbox_celeba.txt",
    "list_landmarks_align_celeba.txt",
    "list_eval_partition.txt",
)


def write_celeba(root: Path, partitions: list[int]) -> Path:
    """celeba/img_align_celeba/*.jpg (178x218 like the real ones) + the five list files torchvision parses.

    Image i is white inside the central 140x140 square and black outside it, times a grey level 1 - i/10.
    """
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(len(partitions))]
    for i, name in enumerate(names):
        img = np.zeros((218, 178, 3), dtype=np.uint8)
        top, left = (218 - 140) // 2, (178 - 140) // 2
        img[top : top + 140, left : left + 140] = int(round(255 * (1 - i / 10)))
        Image.fromarray(img).save(folder / "img_align_celeba" / name, quality=95)
    attrs = ["Smiling", "Young"]
    (folder / "list_eval_partition.txt").write_text(
        "".join(f"{n} {p}\n" for n, p in zip(names, partitions, strict=True))
    )
    (folder / "identity_CelebA.txt").write_text("".join(f"{n} {i + 1}\n" for i, n in enumerate(names)))
    (folder / "list_attr_celeba.txt").write_text(
        f"{len(names)}\n{' '.join(attrs)}\n" + "".join(f"{n}  1 -1\n" for n in names)
    )
    (folder / "list_bbox_celeba.txt").write_text(
        f"{len(names)}\nimage_id x_1 y_1 width height\n" + "".join(f"{n} 1 2 3 4\n" for n in names)
    )
    (folder / "list_landmarks_align_celeba.txt").write_text(
        f"{len(names)}\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y"
        " rightmouth_x rightmouth_y\n" + "".join(f"{n} " + " ".join(["1"] * 10) + "\n" for n in names)
    )
    return folder


def test_celeba_centre_crop_140_resize_32_and_partition(tmp_path, monkeypatch):
    folder = write_celeba(tmp_path, partitions=[0, 1, 0, 2, 0, 2])  # a one-image split trips torchvision
    file_list = [tvd.CelebA.file_list[0]] + [("", _md5(folder / f), f) for f in CELEBA_LISTS]
    monkeypatch.setattr(tvd.CelebA, "file_list", file_list)
    train = load_celeba(tmp_path, "train")
    assert train.labels is None
    assert train.images.shape == (3, 3, 32, 32) and train.images.dtype == torch.float32
    # train holds images 0, 2, 4 (grey 1.0, 0.8, 0.6); the black border lies outside the 140 crop
    for img, grey in zip(train.images, (1.0, 0.8, 0.6), strict=True):
        assert (img - grey).abs().max() < 0.03
    assert load_celeba(tmp_path, "test").images.shape == (2, 3, 32, 32)
    assert load_celeba(tmp_path, "all", limit=2).images.shape == (2, 3, 32, 32)


def test_celeba_with_real_checksums_rejects_fakes(tmp_path):
    write_celeba(tmp_path, partitions=[0])
    with pytest.raises(DataMissingError, match="torchvision rejected"):
        load_celeba(tmp_path)


def test_unknown_dataset_and_split(tmp_path):
    with pytest.raises(KeyError, match="unknown dataset 'svhn'"):
        load_dataset("svhn", tmp_path)
    with pytest.raises(ValueError, match="valid"):
        load_cifar10(tmp_path, "valid")
