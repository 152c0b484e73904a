"""Distances, Parzen windows, precision/recall and the digit-classifier metrics against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm
from scipy.stats import multivariate_normal

from repro.data.packaged import load_packaged
from repro.metrics.classifier import (
    accuracy,
    as_images,
    classifier_features,
    fid_lenet,
    inception_score_from_probs,
    is_lenet,
    load_classifier,
    precision_recall_lenet,
    save_classifier,
    train_digit_classifier,
)
from repro.metrics.distances import (
    bootstrap_stderr,
    frechet_distance,
    frechet_distance_stats,
    mean_stderr,
    mode_weight_error,
    nearest_mode_weights,
    sliced_wasserstein2,
    wasserstein2_1d,
)
from repro.metrics.manifold import precision_recall
from repro.metrics.parzen import parzen_evaluate, parzen_log_likelihood, select_bandwidth

# ---------------------------------------------------------------- Fréchet distance


def _random_spd(d: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_frechet_stats_match_scipy_sqrtm_for_non_commuting_covariances():
    rng = np.random.default_rng(0)
    for d in (1, 3, 20):
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        c1, c2 = _random_spd(d, rng), _random_spd(d, rng)
        ref = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2) - 2 * np.trace(sqrtm(c1 @ c2).real)
        assert frechet_distance_stats(mu1, c1, mu2, c2) == pytest.approx(ref, rel=1e-7, abs=1e-9)


def test_frechet_closed_forms():
    # 1-D: W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1-m2)^2 + (s1-s2)^2
    assert frechet_distance_stats(
        np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]])
    ) == pytest.approx(9.0 + 1.0)
    c = _random_spd(5, np.random.default_rng(1))
    assert frechet_distance_stats(np.zeros(5), c, np.zeros(5), c) == pytest.approx(0.0, abs=1e-9)
    # singular covariances are fine (rank-1 in 3-D)
    v = np.array([[1.0, 2.0, 3.0]])
    assert frechet_distance_stats(np.zeros(3), v.T @ v, np.ones(3), 4 * v.T @ v) == pytest.approx(3 + 14.0)


def test_frechet_distance_of_samples_approaches_the_analytic_value():
    rng = np.random.default_rng(2)
    x = rng.normal(0.0, 1.0, size=(20000, 4))
    y = rng.normal(0.5, 2.0, size=(20000, 4))
    assert frechet_distance(x, y) == pytest.approx(4 * 0.25 + 4 * 1.0, rel=0.03)
    assert frechet_distance(torch.from_numpy(x[:100]), x[:100]) == pytest.approx(0.0, abs=1e-8)
    imgs = rng.random((50, 1, 2, 2))  # image-shaped inputs are flattened per sample
    assert frechet_distance(imgs, imgs) == pytest.approx(0.0, abs=1e-8)


# ---------------------------------------------------------------- Wasserstein


def test_w2_1d_exact_cases():
    assert wasserstein2_1d(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == pytest.approx(2.0)
    # unequal sizes: {0} vs {-1, 1}: every unit of mass moves distance 1
    assert wasserstein2_1d(np.array([0.0]), np.array([-1.0, 1.0])) == pytest.approx(1.0)
    # {0, 0, 3} vs {0, 3}: mass 1/6 moves by 3 -> W2^2 = 9/6
    assert wasserstein2_1d(np.array([0.0, 0.0, 3.0]), np.array([0.0, 3.0])) == pytest.approx(math.sqrt(1.5))


def test_w2_1d_between_gaussians():
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 1.0, 50000), rng.normal(-1.0, 3.0, 40000)
    assert wasserstein2_1d(a, b) == pytest.approx(math.sqrt(4.0 + 4.0), rel=0.02)


def test_sliced_w2_of_isotropic_gaussians_matches_the_closed_form():
    """Projections are N(theta.m, s^2); E_theta (theta.dm)^2 = |dm|^2 / d, so SW2^2 = |dm|^2/d + (s1-s2)^2."""
    rng = np.random.default_rng(4)
    d = 4
    x = rng.normal(0.0, 1.0, size=(8000, d))
    y = rng.normal(0.0, 2.0, size=(8000, d)) + np.array([2.0, 0.0, 0.0, 0.0])
    value = sliced_wasserstein2(x, y, n_projections=400, seed=0)
    assert value == pytest.approx(math.sqrt(4.0 / d + 1.0), rel=0.04)
    assert sliced_wasserstein2(x, y, n_projections=50, seed=1) == sliced_wasserstein2(x, y, n_projections=50, seed=1)
    assert sliced_wasserstein2(x, x, seed=0) == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- modes and error bars


def test_nearest_mode_weights_and_error():
    means = np.array([[-5.0, -5.0], [5.0, 5.0]])
    x = np.concatenate([np.full((20, 2), -4.0), np.full((80, 2), 4.5)])
    assert nearest_mode_weights(x, means).tolist() == [0.2, 0.8]
    assert mode_weight_error(x, means, [0.5, 0.5]) == pytest.approx(0.3)


def test_mean_stderr_and_bootstrap():
    m, se = mean_stderr([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5 and se == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert mean_stderr([7.0]) == (7.0, None)
    x = np.random.default_rng(5).normal(size=(2000, 1))
    se_boot = bootstrap_stderr(lambda a: float(a.mean()), x, n_boot=300, seed=0)
    assert se_boot == pytest.approx(1 / math.sqrt(2000), rel=0.15)


# ---------------------------------------------------------------- Parzen


def test_parzen_single_kernel_is_the_gaussian_density():
    rng = np.random.default_rng(6)
    c = rng.normal(size=(1, 5))
    x = rng.normal(size=(7, 5))
    ll = parzen_log_likelihood(c, x, sigma=0.7)
    ref = multivariate_normal(mean=c[0], cov=0.49 * np.eye(5)).logpdf(x)
    assert np.allclose(ll, ref, rtol=1e-10, atol=1e-10)


def test_parzen_far_points_use_log_sum_exp():
    """A point 100 sigma away still gets a finite log-likelihood (no exp underflow)."""
    ll = parzen_log_likelihood(np.zeros((3, 1)), np.array([[100.0]]), sigma=1.0, batch_size=1)
    assert ll[0] == pytest.approx(-0.5 * math.log(2 * math.pi) - 5000.0)


def test_parzen_on_gaussian_data_approaches_the_convolved_density():
    """Kernels on many N(0, s^2) points give N(0, (s^2 + sigma^2)); mean log-lik of fresh N(0, s^2) points is known."""
    rng = np.random.default_rng(7)
    s, sigma, d = 1.0, 0.5, 2
    centers = rng.normal(0, s, size=(8000, d))
    test = rng.normal(0, s, size=(1200, d))
    v = s**2 + sigma**2
    expected = -0.5 * d * math.log(2 * math.pi * v) - 0.5 * d * s**2 / v
    result = parzen_evaluate(centers, test[:600], test[600:], sigmas=(sigma,))
    assert result.mean_nats == pytest.approx(expected, abs=4 * result.stderr_nats + 0.01)
    assert result.mean_bits == pytest.approx(result.mean_nats / math.log(2))
    assert result.stderr_nats == pytest.approx(
        parzen_log_likelihood(centers, test[600:], sigma).std(ddof=1) / math.sqrt(600)
    )


def test_parzen_bandwidth_is_chosen_on_validation():
    rng = np.random.default_rng(8)
    centers = rng.normal(size=(2000, 2))
    valid = rng.normal(size=(300, 2))
    sigmas = (0.01, 0.3, 5.0)
    best, curve = select_bandwidth(centers, valid, sigmas)
    assert best == 0.3 and set(curve) == set(sigmas)
    assert curve[0.3] > curve[0.01] and curve[0.3] > curve[5.0]
    assert parzen_evaluate(centers, valid, valid, sigmas).sigma == 0.3


# ---------------------------------------------------------------- precision / recall


def test_precision_recall_closed_cases():
    rng = np.random.default_rng(9)
    real = rng.normal(size=(400, 3))
    assert precision_recall(real, real, k=3) == (1.0, 1.0)
    far = real + 100.0
    assert precision_recall(real, far, k=3) == (0.0, 0.0)
    # half the fakes on the real manifold, half far away: precision 1/2; the near half covers part of real
    fake = np.concatenate([real[:200], far[:200]])
    p, r = precision_recall(real, fake, k=3)
    assert p == pytest.approx(0.5, abs=0.01) and 0.4 < r < 1.0


# ---------------------------------------------------------------- digit classifier


@pytest.fixture(scope="module")
def digits_model():
    train = load_packaged("digits", "train")
    return train_digit_classifier(train.images, train.labels, steps=300, seed=0, batch_size=64)


def test_digit_classifier_learns_and_is_deterministic(digits_model):
    test = load_packaged("digits", "test")
    assert accuracy(digits_model, test.images, test.labels) > 0.85
    train = load_packaged("digits", "train")
    again = train_digit_classifier(train.images, train.labels, steps=5, seed=0)
    same = train_digit_classifier(train.images, train.labels, steps=5, seed=0)
    for a, b in zip(again.state_dict().values(), same.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_classifier_save_load_roundtrip(digits_model, tmp_path):
    path = tmp_path / "lenet.pt"
    save_classifier(digits_model, path)
    loaded = load_classifier(path)
    x = load_packaged("digits", "valid").images
    assert np.array_equal(classifier_features(loaded, x), classifier_features(digits_model, x))


def test_lenet_metrics_behave(digits_model):
    test = load_packaged("digits", "test").images
    train = load_packaged("digits", "train").images
    assert classifier_features(digits_model, test).shape == (len(test), 128)
    assert fid_lenet(digits_model, test, test) == pytest.approx(0.0, abs=1e-6)
    noise = torch.rand(len(test), 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert fid_lenet(digits_model, noise, train) > 5 * fid_lenet(digits_model, test, train)
    is_real, _ = is_lenet(digits_model, test)
    assert 5.0 < is_real <= 10.0  # confident and balanced over 10 classes
    p, r = precision_recall_lenet(digits_model, test, train, k=3)
    assert p > 0.8 and r > 0.5
    # uint8 (N,H,W,C) samples are accepted as well
    u8 = (test.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    assert torch.allclose(as_images(u8), test, atol=0.5 / 255)


def test_inception_score_formula_closed_forms():
    onehot = np.eye(4)[np.arange(400) % 4]
    assert inception_score_from_probs(onehot)[0] == pytest.approx(4.0)
    assert inception_score_from_probs(np.full((10, 4), 0.25))[0] == pytest.approx(1.0)
    assert inception_score_from_probs(onehot, splits=4) == (pytest.approx(4.0), pytest.approx(0.0))


def test_classifier_rejects_wrong_shapes(digits_model):
    with pytest.raises(ValueError, match="expects images of shape"):
        classifier_features(digits_model, torch.zeros(2, 1, 28, 28))
