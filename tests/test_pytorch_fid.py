"""The pytorch-fid protocol on our uint8 arrays equals pytorch-fid's own file-based path (PNG and JPEG files), with
random Inception weights written in its weights file's layout; the JPEG step equals PIL's default save; clear
errors for absent or foreign weights; its rows are named apart from torch-fidelity's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_fid import fid_score as pf_score

from repro import check
from repro.metrics import pytorch_fid as ours
from repro.metrics.distances import frechet_distance_stats
from repro.metrics.fid_stats import FidStats
from repro.metrics.fidelity import metric_name


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    check.write_random_pytorch_fid_inception(root / check.ITEMS["pytorch_fid_inception"].rel)
    return root


@pytest.fixture(scope="module")
def model(data_root):
    return ours.load_inception(ours.weights_path(data_root))


def _images(n: int, seed: int, side: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = rng.random((n, side // 4, side // 4, 3)).repeat(4, 1).repeat(4, 2)  # JPEG-like content, not white noise
    return (255 * np.clip(smooth + 0.1 * rng.standard_normal((n, side, side, 3)), 0, 1)).astype(np.uint8)


def _official_activations(model, files) -> np.ndarray:
    return pf_score.get_activations([str(f) for f in files], model, batch_size=3, dims=2048, num_workers=0)


def test_jpeg_round_trip_is_pil_default_jpg_save(tmp_path):
    images = _images(3, 0)
    files = []
    for i, img in enumerate(images):
        Image.fromarray(img).save(tmp_path / f"{i}.jpg")  # as DMCMC saved its samples: PIL's default quality
        files.append(np.asarray(Image.open(tmp_path / f"{i}.jpg").convert("RGB")))
    trip = ours.jpeg_round_trip(images, 75)
    np.testing.assert_array_equal(trip, np.stack(files))
    assert np.abs(trip.astype(int) - images).max() > 0  # lossy: the step does something
    assert not np.array_equal(ours.jpeg_round_trip(images, 95), trip)


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_activations_equal_pytorch_fid_on_files(tmp_path, model, suffix):
    images = _images(3, 1)
    files = [tmp_path / f"{i}.{suffix}" for i in range(len(images))]
    for f, img in zip(files, images, strict=True):
        Image.fromarray(img).save(f)
    arrays = images if suffix == "png" else ours.jpeg_round_trip(images, 75)
    np.testing.assert_allclose(
        ours.activations(model, arrays, batch_size=3), _official_activations(model, files), rtol=1e-6, atol=0
    )


def test_fid_is_the_frechet_distance_of_pytorch_fid_features_of_jpeg_files(tmp_path, model):
    ref, samples = _images(3, 2), _images(3, 3)
    mu, sigma = ours.statistics(ours.activations(model, ref, batch_size=3))
    fid = ours.PytorchFid(model, mu, sigma, jpeg_quality=75, batch_size=3)
    for i, img in enumerate(ref):
        Image.fromarray(img).save(tmp_path / f"r{i}.png")
    for i, img in enumerate(samples):
        Image.fromarray(img).save(tmp_path / f"s{i}.jpg")
    act_r = _official_activations(model, sorted(tmp_path.glob("r*.png")))
    act_s = _official_activations(model, sorted(tmp_path.glob("s*.jpg")))
    np.testing.assert_allclose(fid.mu, act_r.mean(0), rtol=1e-6)
    expected = frechet_distance_stats(act_s.mean(0), np.cov(act_s, rowvar=False), fid.mu, fid.sigma)
    assert fid(samples) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_equals_pytorch_fid_on_well_conditioned_statistics():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((400, 16)), 0.5 + 1.3 * rng.standard_normal((400, 16)) @ rng.random((16, 16))
    stats = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert frechet_distance_stats(*stats) == pytest.approx(pf_score.calculate_frechet_distance(*stats), rel=1e-8)


def test_build_takes_a_statistics_file_reference_as_given(data_root):
    mu, sigma = np.full(2048, 0.5), np.eye(2048) * 0.1
    fid = ours.PytorchFid.build(FidStats(mu, sigma, "ttur", "statsfile-x-0"), data_root)
    assert fid.mu is mu and fid.sigma is sigma
    with pytest.raises(ValueError, match="statsfile-y-0: 64 features, pytorch-fid gives 2048"):
        ours.PytorchFid.build(FidStats(np.zeros(64), np.eye(64), "ttur", "statsfile-y-0"), data_root)


def test_absent_weights_name_the_file_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ours.PytorchFidWeightsMissingError, match=r"inception/pt_inception-2015-12-05-6726825d\.pth"):
        ours.weights_path(tmp_path)
    with pytest.raises(FileNotFoundError, match="fid_weights/pt_inception"):
        ours.weights_path(tmp_path)


def test_foreign_weights_are_refused_naming_keys_and_file(tmp_path, data_root):
    state = torch.load(ours.weights_path(data_root), weights_only=True)
    state["AuxLogits.fc.weight"] = state.pop("fc.weight")
    bad = tmp_path / "weights.pth"
    torch.save(state, bad)
    with pytest.raises(
        ValueError, match=r"weights\.pth: not pytorch-fid's.*missing \['fc.weight'\].*unexpected \['AuxLogits"
    ):
        ours.load_inception(bad)


def test_rows_are_named_by_protocol():
    assert metric_name("fid", 50_000, 50_000, extractor=ours.PROTOCOL) == "fid_pytorch_fid"
    assert metric_name("fid", 1000, 50_000, extractor=ours.PROTOCOL) == "fid_pytorch_fid_1k"
    assert metric_name("fid", 50_000, 50_000) == "fid"


def test_rehearsal_writes_the_stand_in_and_torch_home_copies_are_found(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    own = check.prepare_rehearsal_data(["pytorch_fid_inception"], tmp_path / "user", tmp_path / "rehearsal")
    written = ours.weights_path(own)
    assert written == own / "inception" / check.PYTORCH_FID_FILE
    assert set(ours.read_weights(written)) == set(ours._expected_keys())
    hub = tmp_path / "torch" / "hub" / "checkpoints" / check.PYTORCH_FID_FILE
    hub.parent.mkdir(parents=True)
    written.rename(hub)
    assert ours.weights_path(tmp_path / "elsewhere") == hub


def test_dlg_fid_from_a_statistics_file_names_it_and_never_reads_the_images(tmp_path, data_root):
    from types import SimpleNamespace

    from papers.dlg.fid import fid_scorer
    from repro.metrics.fid_stats import load_fid_stats

    stats_file = data_root / "stats" / "fid_stats_cifar10_train.npz"
    stats_file.parent.mkdir(exist_ok=True)
    np.savez(stats_file, mu=np.zeros(2048), sigma=np.eye(2048))  # pytorch-fid's --save-stats layout
    cfg = SimpleNamespace(
        fid_stats="stats/fid_stats_cifar10_train.npz",
        fid_protocol="pytorch-fid",
        jpeg_quality=75,
        data="cifar10",
        n_samples=1000,
    )
    run = SimpleNamespace(cfg=cfg, data_root=data_root, device="cpu")

    def no_images():
        raise AssertionError("the reference images were read although a statistics file is configured")

    scorer, metric, setting = fid_scorer(run, "cifar10", no_images, "cifar10-train")
    name = load_fid_stats(stats_file).name
    assert metric == "fid_pytorch_fid_1k"
    assert setting == {"fid_protocol": "pytorch-fid", "jpeg": 75, "reference": name}
    assert name.startswith("statsfile-fid_stats_cifar10_train-")
    np.testing.assert_array_equal(scorer.sigma, np.eye(2048))
    assert scorer.jpeg_quality == 75
