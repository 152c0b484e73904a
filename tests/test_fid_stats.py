"""FID against reference statistics from a file (TTUR mu/sigma, score_sde pool_3): validated, and equal to FID
against the images the statistics came from, through the real torch-fidelity path."""

import numpy as np
import pytest
from test_fid import TINY, constant_images, reference_of, run

from repro.metrics.fid_stats import load_fid_stats


def _channel_means(images: np.ndarray) -> np.ndarray:
    """The tiny extractor's FID features: per-channel means of uint8 images."""
    return images.astype(np.float64).mean(axis=(1, 2))


def test_a_stats_file_gives_the_fid_of_its_images(tmp_path):
    x = constant_images((100, 120, 140), (10, 20, 30), 300, seed=0)
    y = constant_images((110, 118, 150), (12, 20, 25), 400, seed=1)
    expected = run(x, reference_of(y), tmp_path)[f"fid_{TINY.replace('-', '_')}"]["value"]
    feats = _channel_means(y)
    np.savez(tmp_path / "ttur.npz", mu=feats.mean(0), sigma=np.cov(feats, rowvar=False))
    np.savez(tmp_path / "score_sde.npz", pool_3=feats, logits=np.zeros((400, 2)))
    for name, source in (("ttur", "ttur"), ("score_sde", "score_sde")):
        stats = load_fid_stats(tmp_path / f"{name}.npz", dim=3)
        assert stats.source == source and stats.name.startswith(f"statsfile-{name}-")
        row = run(x, stats, tmp_path)[f"fid_{TINY.replace('-', '_')}"]
        assert row["value"] == pytest.approx(expected, rel=1e-4) and row["reference"] == stats.name
    with pytest.raises(ValueError, match="KID needs the reference images"):
        run(x, stats, tmp_path, metrics=("fid", "kid"))


@pytest.mark.parametrize(
    ("arrays", "problem"),
    [
        ({"mu": np.zeros(3), "sigma": np.eye(4)}, "do not fit"),
        ({"mu": np.zeros(3), "sigma": np.array([[1, 0.5, 0], [0, 1, 0], [0, 0, 1.0]])}, "not symmetric"),
        ({"mu": np.zeros(2), "sigma": np.array([[1, 2], [2, 1.0]])}, "not positive semi-definite"),
        ({"mu": np.array([0, np.nan]), "sigma": np.eye(2)}, "non-finite"),
        ({"features": np.zeros((5, 2))}, "expected keys mu\\+sigma or pool_3"),
        ({"pool_3": np.zeros(5)}, "pool_3 must be"),
    ],
)
def test_bad_stats_files_are_refused_naming_the_file_and_the_problem(tmp_path, arrays, problem):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=f"{path}.*{problem}"):
        load_fid_stats(path)


def test_the_feature_count_must_be_the_extractors_and_a_missing_file_is_named(tmp_path):
    np.savez(tmp_path / "s.npz", mu=np.zeros(3), sigma=np.eye(3))
    with pytest.raises(ValueError, match="3 features, the extractor gives 2048"):
        load_fid_stats(tmp_path / "s.npz", dim=2048)
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_fid_stats(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz: not a readable"):
        load_fid_stats(tmp_path / "junk.npz")
