"""Packaged digits, augmentations and synthetic stand-ins: shapes, ranges, splits, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repro.data.augment import dequantize, image_transform, random_flip
from repro.data.base import SHAPES
from repro.data.load import load_dataset
from repro.data.packaged import load_packaged, split_indices
from repro.data.synthetic import synthetic_like


@pytest.mark.parametrize(
    "name,sizes,shape", [("mnist5000", (4000, 500, 500), (1, 28, 28)), ("digits", (1438, 179, 180), (1, 8, 8))]
)
def test_packaged_splits_are_stratified_disjoint_and_fixed(name, sizes, shape):
    parts = {s: load_packaged(name, s) for s in ("train", "valid", "test")}
    assert tuple(len(p.labels) for p in parts.values()) == sizes
    for p in parts.values():
        assert p.images.shape[1:] == shape and p.images.dtype == torch.float32
        assert 0.0 <= p.images.min() and p.images.max() == 1.0
    _, y = load_packaged(name, "all")
    idx = split_indices(y.numpy())
    joined = np.concatenate(list(idx.values()))
    assert len(joined) == len(y) and len(np.unique(joined)) == len(y)
    per_class = np.bincount(y.numpy())
    for s, frac in (("train", 0.8), ("valid", 0.1)):  # stratified: every class split in the same proportion
        assert np.abs(np.bincount(parts[s].labels.numpy()) - frac * per_class).max() <= 0.5
    for p in parts.values():  # shuffled, not class by class: the first tenth already holds most classes
        assert len(np.unique(p.labels[: len(p.labels) // 10].numpy())) >= 8
    again = load_dataset(name, split="valid")
    assert torch.equal(again.images, parts["valid"].images)


def test_mnist5000_values_are_8bit_levels():
    x = load_packaged("mnist5000", "test").images
    assert torch.allclose(x * 255, torch.round(x * 255), atol=1e-4)


def test_dequantize_keeps_each_level_in_its_own_bin():
    x = torch.arange(256, dtype=torch.float32).repeat(40) / 255.0
    d = dequantize(x, torch.Generator().manual_seed(0))
    assert torch.equal(torch.floor(d * 256).long(), torch.round(x * 255).long())
    assert 0.0 <= d.min() and d.max() < 1.0
    # within a bin the offset is uniform: mean 1/2 of the bin width
    assert abs(float((d * 256 - torch.floor(d * 256)).mean()) - 0.5) < 0.02


def test_random_flip_flips_about_half_exactly():
    x = torch.arange(2000 * 4, dtype=torch.float32).reshape(2000, 1, 1, 4)
    y = random_flip(x, torch.Generator().manual_seed(1))
    flipped = (y == x.flip(-1)).all(dim=(1, 2, 3))
    same = (y == x).all(dim=(1, 2, 3))
    assert bool((flipped ^ same).all())
    assert abs(flipped.float().mean().item() - 0.5) < 0.05


def test_image_transform_is_a_function_of_the_generator_and_keeps_labels():
    x, labels = synthetic_like("cifar10", 8, seed=0)
    t = image_transform(dequant=True, flip=True)
    a = t((x, labels), torch.Generator().manual_seed(5))
    b = t((x, labels), torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and a[1] is labels
    assert not torch.equal(a[0], x)
    plain = image_transform(dequant=False, flip=False)((x, labels), torch.Generator().manual_seed(5))
    assert plain[0] is x


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_synthetic_like_has_the_exact_shape_and_is_deterministic(name):
    n = 2 if name == "celebahq" else 12
    a = synthetic_like(name, n, seed=3)
    assert a.images.shape == (n, *SHAPES[name]) and a.images.dtype == torch.float32
    assert 0.0 <= a.images.min() and a.images.max() <= 1.0
    assert torch.equal(a.images, synthetic_like(name, n, seed=3).images)
    assert not torch.equal(a.images, synthetic_like(name, n, seed=4).images)
    assert a.labels.tolist() == [i % 10 for i in range(n)]


def test_synthetic_classes_are_separable():
    """Class means differ far more than the within-class spread, so a classifier metric has signal."""
    x, y = synthetic_like("mnist", 400, seed=0)
    means = torch.stack([x[y == c].mean(0) for c in range(10)]).flatten(1)
    between = torch.cdist(means, means)[~torch.eye(10, dtype=torch.bool)].min()
    within = (x - means.view(10, *x.shape[1:])[y]).flatten(1).norm(dim=1).mean()
    assert between > 0.5 * within


def test_synthetic_unknown_name():
    with pytest.raises(KeyError, match="no shape known"):
        synthetic_like("imagenet", 2, 0)
