"""dlg/celebahq's image folder (256x256 PNG files under the data root), read in the real format."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from papers.dlg import celebahq


def _run(root: Path, n_reference: int | None) -> SimpleNamespace:
    cfg = SimpleNamespace(data="celebahq_png", n_reference=n_reference)
    return SimpleNamespace(cfg=cfg, data_root=str(root), paper="dlg", experiment="celebahq")


def _write(folder: Path, names: list[str], side: int = 256) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = [np.random.default_rng(i).integers(0, 256, (side, side, 3), dtype=np.uint8) for i in range(len(names))]
    for name, a in zip(names, arrays, strict=True):
        Image.fromarray(a).save(folder / name)
    return arrays


def test_the_reference_is_the_first_files_in_name_order_as_uint8(tmp_path):
    arrays = _write(tmp_path / "celebahq_png", ["00002.png", "00000.png", "00001.png"])
    pixels = celebahq._pixels(_run(tmp_path, 2))
    assert pixels.dtype == np.uint8 and pixels.shape == (2, 256, 256, 3)
    np.testing.assert_array_equal(pixels, np.stack([arrays[1], arrays[2]]))
    # the training floats are the same pixels / 255, channels first
    images = celebahq._images(_run(tmp_path, None))
    assert images.shape == (3, 3, 256, 256) and images.dtype == torch.float32
    torch.testing.assert_close(images[0], torch.from_numpy(arrays[1]).permute(2, 0, 1).float() / 255)


def test_a_wrong_size_or_an_empty_folder_is_named(tmp_path):
    _write(tmp_path / "celebahq_png", ["00000.png"])
    _write(tmp_path / "celebahq_png", ["00001.png"], side=128)
    with pytest.raises(ValueError, match=r"00001\.png: images must be 256x256 RGB, this one is 128x128"):
        celebahq._pixels(_run(tmp_path, None))
    with pytest.raises(FileNotFoundError, match=r"holds no \.png images"):
        celebahq._pixels(_run(tmp_path / "elsewhere", None))
