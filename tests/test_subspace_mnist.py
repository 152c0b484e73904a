"""subspace/mnist at the cpu tier: a deeper score net, sampling sets with paired differences, held-out sanity digits."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from papers.subspace import images
from papers.subspace.nets import SmallScoreNet


@pytest.mark.parametrize("size", [28, 14, 7])
def test_three_resolution_net_keeps_shape_and_gaussian_skip(size: int) -> None:
    """Every level's input size (odd 7×7 included) comes back at its shape, and with a zero output layer the net is
    exactly the Gaussian score −x/(σ² + sd²) at any depth."""
    torch.manual_seed(0)
    net = SmallScoreNet(1, 16, 0.3, depth=3).eval()
    x, sigma = torch.randn(4, 1, size, size), torch.full((4,), 2.0)
    with torch.no_grad():
        assert net(x, sigma).shape == x.shape
        torch.nn.init.zeros_(net.out.weight)
        torch.nn.init.zeros_(net.out.bias)
        assert torch.allclose(net(x, sigma), -x / (4.0 + 0.09), rtol=1e-6, atol=0)


def test_depth_adds_a_resolution() -> None:
    shallow, deep = SmallScoreNet(1, 16, depth=2), SmallScoreNet(1, 16, depth=3)
    assert (len(shallow.down), len(deep.down)) == (1, 2)
    with pytest.raises(ValueError, match="depth"):
        SmallScoreNet(1, 16, depth=1)


def _mean_quality(samples: np.ndarray) -> dict[str, tuple[float, float | None]]:
    return {"m": (float(samples.mean()), None)}


def test_seed_quality_scores_consecutive_sets() -> None:
    samples = np.repeat(np.array([1.0, 2.0, 6.0]), 4)[:, None, None, None]  # three sets of 4 with means 1, 2, 6
    values, per_set = images.seed_quality(_mean_quality, samples, 4)
    assert per_set == {"m": [1.0, 2.0, 6.0]}
    assert values["m"][0] == pytest.approx(3.0)
    assert values["m"][1] == pytest.approx(np.std([1, 2, 6], ddof=1) / np.sqrt(3))
    single, _ = images.seed_quality(lambda s: {"m": (1.0, 0.25)}, samples, 12)
    assert single == {"m": (1.0, 0.25)}  # one set keeps the metric's own stderr


def test_difference_rows_are_paired_and_scaled_by_their_stderr() -> None:
    run = SimpleNamespace(cfg=SimpleNamespace(dataset="d", n_samples=4, sample_seeds=3), seed=0)
    arm = {"subspace": "14x14", "rule": "div0.003", "cut_time": 0.6}
    results = {
        "full": {"per_set": {"fid": [10.0, 20.0, 30.0]}},
        "sub": {**arm, "per_set": {"fid": [9.0, 18.0, 30.0]}},  # paired differences −1, −2, 0
    }
    rows = {r.metric: r for r in images._difference_rows(run, results)}
    diff = rows["fid_diff_subspace_minus_full"]
    assert diff.value == pytest.approx(-1.0)
    assert diff.stderr == pytest.approx(np.std([-1, -2, 0], ddof=1) / np.sqrt(3))
    assert rows["fid_diff_subspace_minus_full_z"].value == pytest.approx(-1.0 / diff.stderr)
    assert diff.seed == "0+1+2" and diff.setting == {"subspace": "14x14", "cut_rule": "div0.003", "cut_time": 0.6}


def test_one_sampling_set_gives_no_difference_row() -> None:
    run = SimpleNamespace(cfg=SimpleNamespace(dataset="d", n_samples=4, sample_seeds=1), seed=0)
    arm = {"subspace": "7x7", "rule": "fixed", "cut_time": 0.5}
    results = {"full": {"per_set": {"fid": [1.0]}}, "sub": {**arm, "per_set": {"fid": [2.0]}}}
    assert images._difference_rows(run, results) == []


def test_held_out_digits_span_every_class_and_miss_the_reference() -> None:
    """The packaged splits are sorted by class: the sanity=real set must be a shuffled draw of the test split."""
    from papers.subspace.mnist import held_out, shuffled
    from repro.data.packaged import load_packaged

    test = load_packaged("mnist5000", "test")
    labels = shuffled(torch.as_tensor(np.asarray(test.labels)), 0)[:200]
    assert len(torch.unique(labels)) == 10
    real = held_out(SimpleNamespace(dataset="mnist5000", n_samples=200), 0)
    assert torch.equal(real, shuffled(test.images, 0)[:200])
    train = load_packaged("mnist5000", "train").images.flatten(1)
    assert torch.cdist(real.flatten(1), train).min() > 0
    with pytest.raises(ValueError, match="held-out"):
        held_out(SimpleNamespace(dataset="mnist5000", n_samples=len(test.images) + 1), 0)
