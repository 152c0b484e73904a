"""Probability-flow ODE likelihood (repro.diffusion.likelihood) against analytic answers."""

from __future__ import annotations

import math

import pytest
import torch

from repro.diffusion.likelihood import (
    bits_per_dim,
    dequantize,
    divergence_estimate,
    hutchinson_noise,
    ode_log_likelihood,
    prior_log_prob,
)
from repro.diffusion.sde import VESDE, SubVPSDE

S = 0.5  # std of the Gaussian data law N(0, S^2 I)


def _marginal_var(sde, t: torch.Tensor) -> torch.Tensor:
    alpha = sde.alpha(t).double()
    std = sde.sigma(t).double() * alpha  # sigma(t) = std / alpha
    return alpha**2 * S**2 + std**2


def _exact_score(sde):
    return lambda x, t: -x / _marginal_var(sde, t).to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


def _gauss_log_prob(x: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    d = x[0].numel()
    return -0.5 * d * torch.log(2 * math.pi * var) - 0.5 * x.flatten(1).square().sum(1) / var


@pytest.mark.parametrize("sde", [VESDE(0.01, 50.0), SubVPSDE(0.1, 20.0)], ids=["ve", "subvp"])
def test_ode_likelihood_of_a_gaussian_is_its_log_density(sde):
    """With the exact score of N(0, S^2 I) the ODE maps p_eps to p_1 exactly, so the estimate equals
    log p_eps(x) + log prior(x_1) - log p_1(x_1) (Rademacher probes give the exact trace of an isotropic drift)."""
    eps = 1e-5
    x = S * torch.randn(5, 2, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = ode_log_likelihood(sde, _exact_score(sde), x, eps=eps, generator=torch.Generator().manual_seed(1))
    t_eps, t_one = torch.full((5,), eps, dtype=torch.float64), torch.ones(5, dtype=torch.float64)
    expected = (
        _gauss_log_prob(x, _marginal_var(sde, t_eps))
        + prior_log_prob(sde, out.prior_sample)
        - _gauss_log_prob(out.prior_sample, _marginal_var(sde, t_one))
    )
    torch.testing.assert_close(out.log_prob, expected, atol=2e-3, rtol=0)
    assert out.nfe > 10


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_hutchinson_divergence_is_unbiased(kind):
    """Mean of e^T J e over many probes equals the exact trace of the Jacobian of a nonlinear map (3 stderr)."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, 6, generator=g, dtype=torch.float64)

    def fn(v):
        return torch.tanh(v.flatten(1) @ w).reshape(v.shape) + v**3

    x = torch.randn(1, 6, generator=g, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: fn(v[None])[0], x[0])
    exact = torch.trace(jac)
    xs = x.expand(4000, 6)
    out, est = divergence_estimate(fn, xs, hutchinson_noise(xs, kind, g))
    torch.testing.assert_close(out, fn(xs))
    assert abs(float(est.mean() - exact)) < 3 * float(est.std() / math.sqrt(len(est)))
    assert float(est.std()) > 0  # the estimate is random: this is not the exact trace by accident


def test_rademacher_probes_are_signs():
    e = hutchinson_noise(torch.zeros(100, 3), "rademacher", torch.Generator().manual_seed(0))
    assert set(e.unique().tolist()) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="hutchinson"):
        hutchinson_noise(torch.zeros(1, 3), "sphere")


def test_prior_log_prob_is_the_standard_prior():
    z = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for sde, std in [(VESDE(0.01, 50.0), 50.0), (SubVPSDE(0.1, 20.0), 1.0)]:
        want = torch.distributions.Normal(0.0, std).log_prob(z).flatten(1).sum(1)
        torch.testing.assert_close(prior_log_prob(sde, z), want)


def test_bits_per_dim_of_uniform_densities_is_eight():
    """A uniform density over the data cube is 8 bits per 8-bit pixel in either coordinate system."""
    d = 3072
    centred = torch.tensor([-d * math.log(2.0)])  # uniform on [-1, 1]^d
    plain = torch.tensor([0.0])  # uniform on [0, 1]^d
    torch.testing.assert_close(bits_per_dim(centred, d, centred=True), torch.tensor([8.0]))
    torch.testing.assert_close(bits_per_dim(plain, d, centred=False), torch.tensor([8.0]))


def test_dequantize_stays_in_the_pixel_bin():
    pixels = torch.arange(256, dtype=torch.uint8).repeat(20)
    x = dequantize(pixels, torch.Generator().manual_seed(0))
    assert torch.equal(torch.floor(x * 256).to(torch.uint8), pixels)
    assert 0.4 < float((x * 256 - pixels.double()).mean()) < 0.6
    with pytest.raises(ValueError, match="uint8"):
        dequantize(pixels.float())
