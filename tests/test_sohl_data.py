"""Sohl-Dickstein 2015: data generators, loaders, unit-variance scaling, config and claims files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from papers.sohl import common, data, images
from papers.sohl.heartbeat import is_heartbeat
from repro import claims, config, registry, typed


def test_heartbeat_generator_has_five_equiprobable_sequences():
    x = data.heartbeat(5000, torch.Generator().manual_seed(0))
    assert x.shape == (5000, 20) and (x.sum(1) == 4).all() and is_heartbeat(x, 5).all()
    patterns, counts = torch.unique(x, dim=0, return_counts=True)
    assert len(patterns) == 5
    assert (counts.float() / 5000 - 0.2).abs().max() < 4 * math.sqrt(0.16 / 5000)
    assert data.heartbeat_log_likelihood_bits(5) == pytest.approx(-2.321928, abs=1e-6)
    assert not is_heartbeat(torch.tensor([[1.0, 0, 0, 0, 0, 0, 1, 0, 0, 0]]), 5).any()


def test_swiss_roll_lies_on_the_curve_and_scales_to_unit_variance():
    x = data.swiss_roll(2000, torch.Generator().manual_seed(0), noise=0.0).double()
    r = x.norm(dim=1)  # on the curve the radius equals the angle u in [1.5 pi, 4.5 pi]
    assert r.min() >= 1.5 * math.pi - 1e-4 and r.max() <= 4.5 * math.pi + 1e-4
    ang = torch.atan2(x[:, 1], x[:, 0])
    assert torch.allclose(torch.cos(ang), torch.cos(r), atol=1e-4)
    noisy = data.swiss_roll(2000, torch.Generator().manual_seed(0), noise=0.5)
    assert (noisy - x.float()).std().item() == pytest.approx(0.5, rel=0.05)
    scale = data.UnitScale(noisy)
    z = scale(noisy)
    assert z.pow(2).mean().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(scale.inverse(z), noisy, atol=1e-4)
    with pytest.raises(ValueError, match="noise"):
        data.swiss_roll(3, torch.Generator(), noise=-1.0)


def test_dead_leaves_are_piecewise_constant_occlusions():
    x = data.dead_leaves(50, 16, torch.Generator().manual_seed(0), r_min=1.0, r_max=16.0)
    assert x.shape == (50, 1, 16, 16) and x.min() >= 0 and x.max() <= 1
    levels = [len(torch.unique(im)) for im in x]
    assert 1 <= min(levels) and max(levels) < 256  # a handful of disks per image, not noise
    # neighbouring pixels mostly share a disk (occlusion gives large flat regions)
    assert (x[..., 1:] == x[..., :-1]).float().mean() > 0.5
    with pytest.raises(ValueError, match="r_min"):
        data.dead_leaves(1, 8, torch.Generator(), r_min=2.0, r_max=1.0)


def test_texture_loader_errors_clearly_and_crops(tmp_path):
    with pytest.raises(FileNotFoundError, match="bark_dir"):
        data.load_texture_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):
        data.load_texture_folder(tmp_path / "empty")
    img = (np.arange(40 * 30).reshape(40, 30) % 256).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "T01_01.png")
    textures = data.load_texture_folder(tmp_path)
    assert textures[0].shape == (40, 30) and textures[0].max() <= 1.0
    crops = data.random_crops(textures, 6, 8, torch.Generator().manual_seed(0))
    assert crops.shape == (6, 1, 8, 8)
    for c in crops:  # every crop is a window of the image
        hits = [
            (i, j) for i in range(33) for j in range(23) if np.allclose(textures[0][i : i + 8, j : j + 8], c[0].numpy())
        ]
        assert hits
    with pytest.raises(ValueError, match="crop size"):
        data.random_crops(textures, 1, 64, torch.Generator())


def test_configs_validate_and_claims_load():
    for tier in ("smoke", "cpu", "paper"):
        assert "heartbeat" in config.load_tier("sohl", tier)
    assert set(config.load_tier("sohl", "smoke")) == {
        "heartbeat",
        "swissroll",
        "mnist",
        "cifar10",
        "deadleaves",
        "bark",
    }
    ids = {c.id for c in claims.load("sohl")}
    assert {"sohl.heart.K", "sohl.heart.below_true", "sohl.swiss.K", "sohl.cifar.K"} <= ids
    schema = config.paper_schema("sohl")
    heartbeat = config.load("sohl", "heartbeat", "smoke")
    bad = {"heartbeat": {**heartbeat, "training": {**heartbeat["training"], "steps": 0}}}
    with pytest.raises(config.ConfigError, match="training.steps"):
        config.validate(bad, schema, "smoke.yaml")


def test_every_config_builds_its_dataclass_and_training_config():
    """The CLI builds each experiment's `Config` before any stage runs; CIFAR-10, dead leaves and bark share
    papers/sohl/images.py's, with one loader each."""
    for tier in config.TIERS:
        for name, cfg in config.load_tier("sohl", tier).items():
            built = typed.build(registry.get(f"sohl/{name}").config_class(), cfg, f"{tier}: {name}")
            assert common.train_config(built.training, name).steps == cfg["training"]["steps"]
    shared = {e.name for e in registry.experiments(("sohl",)).values() if e.module == images.__name__}
    assert shared == set(images.LOADERS) == {"cifar10", "deadleaves", "bark"}
