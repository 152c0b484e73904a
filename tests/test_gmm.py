"""The Gaussian mixture's densities, scores and samples against closed forms and finite differences."""

import math

import pytest
import torch

from repro.diffusion.toy.gmm import GaussianMixture


def mixture(d: int = 3) -> GaussianMixture:
    g = torch.Generator().manual_seed(0)
    means = 3 * torch.randn(4, d, generator=g, dtype=torch.float64)
    return GaussianMixture([0.1, 0.2, 0.3, 0.4], means, stds=torch.tensor([0.5, 1.0, 0.2, 0.0]))


def test_single_component_log_prob_is_the_convolved_normal():
    mu = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    g = GaussianMixture([1.0], mu, stds=0.7)
    x = torch.randn(6, 3, dtype=torch.float64)
    for sigma in (0.0, 0.3, 5.0):
        ref = torch.distributions.Normal(mu[0], math.sqrt(0.49 + sigma**2)).log_prob(x).sum(-1)
        torch.testing.assert_close(g.log_prob(x, sigma), ref)


def test_log_prob_is_the_weighted_sum_of_components():
    g = mixture()
    x = torch.randn(5, 3, dtype=torch.float64)
    sigma = 0.8
    dens = sum(
        w * torch.distributions.Normal(mu, torch.sqrt(s**2 + sigma**2)).log_prob(x).sum(-1).exp()
        for w, mu, s in zip(g.weights, g.means, g.stds, strict=True)
    )
    torch.testing.assert_close(g.log_prob(x, sigma), dens.log())


def test_score_matches_finite_differences_with_per_sample_sigma():
    g = mixture()
    x = 2 * torch.randn(7, 3, dtype=torch.float64)
    sigma = torch.linspace(0.05, 4.0, 7, dtype=torch.float64)
    h = 1e-5
    fd = torch.stack(
        [(g.log_prob(x + h * e, sigma) - g.log_prob(x - h * e, sigma)) / (2 * h) for e in torch.eye(3, dtype=x.dtype)],
        dim=-1,
    )
    torch.testing.assert_close(g.score(x, sigma), fd, rtol=1e-6, atol=1e-6)


def test_score_keeps_input_dtype():
    g = mixture()
    x = torch.randn(4, 3)
    assert g.score(x, 1.0).dtype == torch.float32


def test_zero_std_gives_ncsn_toy_convention():
    means = torch.tensor([[-5.0, -5.0], [5.0, 5.0]], dtype=torch.float64)
    g = GaussianMixture([0.2, 0.8], means, stds=0.0)
    x = torch.tensor([[0.3, -1.0], [4.0, 6.0]], dtype=torch.float64)
    sigma = 2.0
    logp = torch.log(torch.tensor([0.2, 0.8], dtype=torch.float64)) - ((x[:, None] - means) ** 2).sum(-1) / (
        2 * sigma**2
    )
    r = torch.softmax(logp, -1)
    expected = (r[:, :, None] * (means[None] - x[:, None]) / sigma**2).sum(1)
    torch.testing.assert_close(g.responsibilities(x, sigma), r)
    torch.testing.assert_close(g.score(x, sigma), expected)


def test_log_prob_levels_equals_log_prob_per_level():
    g = mixture()
    x = torch.randn(5, 3, dtype=torch.float64)
    sigmas = torch.tensor([0.1, 1.0, 10.0], dtype=torch.float64)
    grid = g.log_prob_levels(x, sigmas)
    for k, s in enumerate(sigmas):
        torch.testing.assert_close(grid[:, k], g.log_prob(x, s))


def test_samples_have_the_mixture_weights_means_and_variances():
    g = mixture(d=2)
    n = 40000
    x, labels = g.sample(n, torch.Generator().manual_seed(1), return_labels=True)
    freq = torch.bincount(labels, minlength=4).double() / n
    se = torch.sqrt(g.weights * (1 - g.weights) / n)
    assert ((freq - g.weights).abs() < 5 * se).all()
    for m in range(4):
        xm = x[labels == m]
        torch.testing.assert_close(xm.mean(0), g.means[m], atol=0.05, rtol=0)
        assert abs(float(xm.var(0).mean()) - float(g.stds[m]) ** 2) < 0.05


def test_transform_chooses_components_by_the_cumulative_weights():
    g = mixture(d=2)
    u = torch.tensor([0.05, 0.15, 0.35, 0.99])
    _, labels = g.transform(u, torch.zeros(4, 2))
    assert labels.tolist() == [0, 1, 2, 3]


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixture([0.5, 0.6], torch.zeros(2, 2))
    with pytest.raises(ValueError, match="weights must be"):
        GaussianMixture([1.0], torch.zeros(2, 2))
    g = GaussianMixture([1.0], torch.zeros(1, 2), stds=0.0)
    with pytest.raises(ValueError, match="zero variance"):
        g.log_prob(torch.zeros(1, 2), 0.0)
    with pytest.raises(ValueError, match="sigma must be"):
        g.score(torch.zeros(3, 2), torch.ones(2))


def test_log_prob_levels_matches_torch_logsumexp_when_terms_underflow():
    """Far-apart modes at small sigma make most terms e^-1000s (float32 subnormals if not clamped): the result must
    stay torch's logsumexp of the component terms (up to the rounding of the terms themselves)."""
    means = torch.tensor([[0.0] * 8, [40.0] * 8, [-40.0] * 8], dtype=torch.float64)
    z = torch.randn(8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = torch.cat([means + 0.3 * z[:3], 20 * z[3:]])
    sigmas = torch.logspace(-2, 2, 50, dtype=torch.float64)
    for dtype in (torch.float32, torch.float64):
        g = GaussianMixture([0.2, 0.3, 0.5], means, stds=0.1, dtype=dtype)
        ref = torch.stack([torch.logsumexp(g._component_log_probs(x, s), -1) for s in sigmas], -1)
        got = g.log_prob_levels(x, sigmas)
        assert got.dtype == dtype and torch.isfinite(got).all()
        torch.testing.assert_close(got, ref, rtol=1e-6 if dtype == torch.float32 else 1e-13, atol=0)
