"""IS / FID / KID through the real torch-fidelity code path, with a tiny registered feature extractor whose
features are known exactly (per-channel means of constant images), so the metrics have closed forms."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch_fidelity
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from repro.data.packaged import load_packaged
from repro.metrics.distances import frechet_distance_stats
from repro.metrics.fidelity import (
    INCEPTION,
    InceptionWeightsMissingError,
    Reference,
    UInt8Images,
    dataset_reference,
    fidelity_metrics,
    inception_weights,
    metric_name,
)

TINY = "tiny-means"


class ChannelMeans(torch_fidelity.FeatureExtractorBase):
    """Features of a uint8 image: its per-channel mean (0..255), the same /255, and 50 x that as logits."""

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)

    @staticmethod
    def get_provided_features_list():
        return ("mean", "unit", "logits_unbiased")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits_unbiased", "fid": "mean", "kid": "unit"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return None

    def forward(self, x):
        m = x.double().mean(dim=(2, 3))
        feats = {"mean": m, "unit": m / 255.0, "logits_unbiased": 50.0 * m / 255.0}
        return tuple(feats[f].float() for f in self.features_list)


if TINY not in FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(TINY, ChannelMeans)


def constant_images(mu, sd, n, seed, size=4) -> np.ndarray:
    """n uint8 images, each constant per channel with level round(N(mu, sd^2)) (kept away from 0 and 255)."""
    levels = np.rint(np.random.default_rng(seed).normal(mu, sd, size=(n, 3)))
    assert levels.min() > 0 and levels.max() < 255
    return np.broadcast_to(levels.astype(np.uint8)[:, None, None, :], (n, size, size, 3)).copy()


def reference_of(images: np.ndarray, name: str = "cifar10") -> Reference:
    return Reference(name, "train", len(images), lambda: images)


def run(samples, reference, tmp_path, metrics=("fid",), protocol_n=None, **kw):
    return {
        r["metric"]: r
        for r in fidelity_metrics(
            samples,
            reference,
            protocol_n=len(samples) if protocol_n is None else protocol_n,
            cache_root=tmp_path / "cache",
            metrics=metrics,
            feature_extractor=TINY,
            device="cpu",
            batch_size=500,
            **kw,
        )
    }


def test_identical_sets_have_zero_fid(tmp_path):
    x = constant_images((100, 120, 140), (10, 20, 30), 500, seed=0)
    row = run(x, reference_of(x), tmp_path)["fid_tiny_means"]
    assert abs(row["value"]) < 1e-3 and row["n_samples"] == 500


def test_fid_of_two_gaussians_matches_the_closed_form(tmp_path):
    mu1, sd1, mu2, sd2 = (
        np.array([100, 120, 140.0]),
        np.array([10, 20, 30.0]),
        np.array([110, 120, 130.0]),
        np.array([15, 20, 25.0]),
    )
    x = constant_images(mu1, sd1, 4000, seed=1)
    y = constant_images(mu2, sd2, 4000, seed=2)
    q = 1.0 / 12.0  # rounding to integer levels adds a uniform(-1/2, 1/2) error
    exact = frechet_distance_stats(mu1, np.diag(sd1**2 + q), mu2, np.diag(sd2**2 + q))
    assert exact == pytest.approx(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(sd1**2 + q) - np.sqrt(sd2**2 + q)) ** 2))
    value = run(x, reference_of(y), tmp_path)["fid_tiny_means"]["value"]
    assert value == pytest.approx(exact, rel=0.05)  # ~250; sampling error at n=4000 is ~1%
    # torch-fidelity's own math agrees with ours on the same features
    fx, fy = x[:, 0, 0, :].astype(np.float64), y[:, 0, 0, :].astype(np.float64)
    ours = frechet_distance_stats(fx.mean(0), np.cov(fx, rowvar=False), fy.mean(0), np.cov(fy, rowvar=False))
    assert value == pytest.approx(ours, rel=1e-4)


def test_reference_statistics_are_cached_under_the_protocol_name_and_reused(tmp_path):
    x = constant_images((100, 120, 140), (10, 20, 30), 300, seed=3)
    y = constant_images((105, 120, 140), (10, 20, 30), 400, seed=4)
    first = run(x, reference_of(y), tmp_path)["fid_tiny_means"]["value"]
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    prefix = f"cifar10-train-n400-uint8-{TINY}"
    assert cached == [f"{prefix}-{kind}-mean.{ext}" for kind in ("features", "stat-fid") for ext in ("json", "pt")]

    def unreadable() -> np.ndarray:
        raise AssertionError("the reference images were read although their statistics are cached")

    second = run(x, Reference("cifar10", "train", 400, unreadable), tmp_path)["fid_tiny_means"]["value"]
    assert second == first
    # another protocol (a different reference count) is a different cache entry, never the old one
    other = run(x, reference_of(y[:350]), tmp_path)["fid_tiny_means"]["value"]
    assert other != first and len(list((tmp_path / "cache").glob("cifar10-train-n350-*.pt"))) == 2


def test_kid_is_near_zero_for_the_same_distribution_and_positive_otherwise(tmp_path):
    x = constant_images((100, 120, 140), (20, 20, 20), 300, seed=5)
    y = constant_images((100, 120, 140), (20, 20, 20), 300, seed=6)
    z = constant_images((130, 120, 110), (20, 20, 20), 300, seed=7)
    same = run(x, reference_of(y, "a"), tmp_path, metrics=("kid",), kid_subsets=40)["kid_tiny_means"]
    diff = run(x, reference_of(z, "b"), tmp_path, metrics=("kid",), kid_subsets=40)["kid_tiny_means"]
    assert abs(same["value"]) < 0.05 * diff["value"]
    assert diff["value"] > 10 * diff["stderr"] / np.sqrt(40)


def test_inception_score_of_confident_balanced_classes_is_the_class_count(tmp_path):
    onehot = np.repeat(np.eye(3, dtype=np.uint8) * 254, 400, axis=0)  # 1200 images, 3 classes, 400 each
    imgs = np.broadcast_to(onehot[:, None, None, :], (1200, 4, 4, 3)).copy()
    row = run(imgs, None, tmp_path, metrics=("isc",))["is_tiny_means"]
    p_correct = np.exp(50 * 254 / 255) / (np.exp(50 * 254 / 255) + 2)
    assert p_correct > 1 - 1e-15
    assert row["value"] == pytest.approx(3.0, abs=0.02)  # exp(H(y)) with H = log 3; splits are ~balanced
    flat = np.full((1200, 4, 4, 3), 77, dtype=np.uint8)  # one prediction for everything: IS = 1
    assert run(flat, None, tmp_path, metrics=("isc",))["is_tiny_means"]["value"] == pytest.approx(1.0, abs=1e-9)


def test_metric_names_refuse_the_protocol_label_off_protocol():
    assert metric_name("fid", 50000, 50000) == "fid"
    assert metric_name("fid", 1000, 50000) == "fid_1k"
    assert metric_name("isc", 10000, 50000) == "is_10k"
    assert metric_name("kid", 1234, 50000) == "kid_1234"
    assert metric_name("fid", 50000, 50000, extractor="tiny-means") == "fid_tiny_means"
    assert INCEPTION == "inception-v3-compat"


def test_missing_inception_weights_name_the_path_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    x = constant_images((100, 120, 140), (10, 20, 30), 10, seed=0)
    with pytest.raises(InceptionWeightsMissingError) as info:
        fidelity_metrics(
            x, None, protocol_n=50000, cache_root=tmp_path / "c", data_root=tmp_path / "data", metrics=("isc",)
        )
    msg = str(info.value)
    assert str(tmp_path / "data" / "inception" / "weights-inception-2015-12-05-6726825d.pth") in msg
    assert "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" in msg
    assert not (tmp_path / "c").exists() and not (tmp_path / "torch_home").exists()
    explicit = tmp_path / "w.pth"
    explicit.write_bytes(b"")
    assert inception_weights(tmp_path / "data", explicit) == explicit


def test_inputs_are_validated():
    with pytest.raises(ValueError, match="uint8"):
        UInt8Images(np.zeros((2, 4, 4, 3), dtype=np.float32))
    grey = UInt8Images(np.arange(32, dtype=np.uint8).reshape(2, 4, 4, 1))
    assert grey[1].shape == (3, 4, 4) and torch.equal(grey[1][0], grey[1][2])
    with pytest.raises(ValueError, match="need a reference"):
        fidelity_metrics(
            np.zeros((2, 4, 4, 3), np.uint8),
            None,
            protocol_n=2,
            cache_root="x",
            metrics=("fid",),
            feature_extractor=TINY,
        )


def test_dataset_reference_loads_uint8_and_spells_its_protocol(tmp_path):
    ref = dataset_reference("mnist5000", "test", tmp_path)
    assert (ref.n, ref.cache_name) == (500, "mnist5000-test-n500-uint8")
    imgs = ref.load()
    x = load_packaged("mnist5000", "test").images
    assert imgs.dtype == np.uint8 and imgs.shape == (500, 28, 28, 1)
    assert np.array_equal(imgs[..., 0], np.rint(x[:, 0].numpy() * 255).astype(np.uint8))
    row = run(imgs[:200], dataset_reference("mnist5000", "test", tmp_path, n=200), tmp_path)["fid_tiny_means"]
    assert abs(row["value"]) < 1e-3  # the same 200 digits (grey expanded to RGB) on both sides


def _cached_fid(tmp_path, x, messages):
    return run(x, reference_of(x), tmp_path, log=messages.append)["fid_tiny_means"]["value"]


def test_a_tampered_cache_is_detected_and_recomputed_naming_the_file(tmp_path):
    x = constant_images((100, 120, 140), (10, 20, 30), 300, seed=8)
    messages: list[str] = []
    assert abs(_cached_fid(tmp_path, x, messages)) < 1e-3 and messages == []
    stat = tmp_path / "cache" / f"cifar10-train-n300-uint8-{TINY}-stat-fid-mean.pt"
    record = json.loads(stat.with_suffix(".json").read_text())
    assert record["source"]["n"] == 300 and record["source"]["extractor"] == TINY and len(record["sha256"]) == 64
    stats = torch.load(stat, weights_only=False)
    torch.save({**stats, "mu": stats["mu"] + 0.5}, stat)  # the FID would be 0.75 instead of ~0
    assert abs(_cached_fid(tmp_path, x, messages)) < 1e-3
    assert len(messages) == 1 and str(stat) in messages[0] and "checksum" in messages[0]
    messages.clear()
    assert abs(_cached_fid(tmp_path, x, messages)) < 1e-3 and messages == []  # sealed again, trusted again


def test_a_truncated_or_foreign_cache_is_recomputed_not_a_bare_torch_error(tmp_path):
    x = constant_images((100, 120, 140), (10, 20, 30), 300, seed=9)
    messages: list[str] = []
    _cached_fid(tmp_path, x, messages)
    features = tmp_path / "cache" / f"cifar10-train-n300-uint8-{TINY}-features-mean.pt"
    stat = tmp_path / "cache" / f"cifar10-train-n300-uint8-{TINY}-stat-fid-mean.pt"
    stat.write_bytes(stat.read_bytes()[:40])
    features.with_suffix(".json").unlink()  # a cache from before source records
    assert abs(_cached_fid(tmp_path, x, messages)) < 1e-3
    assert len(messages) == 2
    assert str(features) in messages[0] and "no source record" in messages[0]
    assert str(stat) in messages[1] and "checksum" in messages[1]
    record = json.loads(stat.with_suffix(".json").read_text())
    stat.with_suffix(".json").write_text(json.dumps({**record, "source": {**record["source"], "n": 301}}))
    messages.clear()
    _cached_fid(tmp_path, x, messages)
    assert len(messages) == 1 and "computed from" in messages[0]
