"""The SDE base: for N(0, I) data the probability-flow drift carries exactly the marginal variance's change."""

import pytest
import torch

from repro.diffusion.sde import SDE, VESDE, SubVPSDE, sigma_score


def _variance(sde: SDE, t: torch.Tensor) -> torch.Tensor:
    """Var x_t for x_0 ~ N(0, 1): alpha^2 + std^2, from the marginal of x_0 = 1 and x_0 = 0."""
    one = torch.ones(len(t), 1, dtype=torch.float64)
    mean, std = sde.marginal_prob(one, t)
    return mean.flatten() ** 2 + std**2


@pytest.mark.parametrize("sde", [VESDE(0.01, 50.0), SubVPSDE(0.1, 20.0)], ids=["ve", "subvp"])
def test_probability_flow_moves_the_variance_as_the_marginal_does(sde):
    t = torch.linspace(0.05, 0.95, 7, dtype=torch.float64)

    def score(x, t):  # the exact score of N(0, Var x_t)
        return -x / _variance(sde, t).view(-1, 1)

    x = torch.ones(len(t), 1, dtype=torch.float64)
    drift, diffusion = sde.reverse(score, probability_flow=True)(x, t)
    assert torch.equal(diffusion, torch.zeros_like(diffusion))
    h = 1e-6
    dlogvar = (torch.log(_variance(sde, t + h)) - torch.log(_variance(sde, t - h))) / (2 * h)
    torch.testing.assert_close(2 * drift.flatten(), dlogvar, rtol=1e-5, atol=1e-8)  # dx/dt = a x => dv/dt = 2 a v


@pytest.mark.parametrize("sde", [VESDE(0.01, 50.0), SubVPSDE(0.1, 20.0)], ids=["ve", "subvp"])
def test_sigma_is_the_noise_level_of_x_over_alpha(sde):
    t = torch.tensor([0.1, 0.5, 1.0], dtype=torch.float64)
    mean, std = sde.marginal_prob(torch.ones(3, 1, dtype=torch.float64), t)
    torch.testing.assert_close(sde.sigma(t), std / mean.flatten())


def test_reverse_sde_drift_is_f_minus_g2_score():
    sde = SubVPSDE()
    x, t = torch.randn(4, 3, dtype=torch.float64), torch.full((4,), 0.3, dtype=torch.float64)
    drift, g = sde.reverse(lambda x, t: 2 * x)(x, t)
    f, g0 = sde.sde(x, t)
    torch.testing.assert_close(drift, f - g0.view(-1, 1) ** 2 * 2 * x)
    torch.testing.assert_close(g, g0)


@pytest.mark.parametrize("sde", [VESDE(0.01, 50.0), SubVPSDE(0.1, 20.0)], ids=["ve", "subvp"])
def test_t_of_sigma_inverts_sigma(sde):
    t = torch.linspace(0.01, 1.0, 11, dtype=torch.float64)
    torch.testing.assert_close(sde.t_of_sigma(sde.sigma(t)), t, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sde", [VESDE(0.01, 50.0), SubVPSDE(0.1, 20.0)], ids=["ve", "subvp"])
def test_a_time_score_becomes_the_score_of_x_over_alpha(sde):
    """N(0, I) data: x_t has variance alpha^2 + std^2, so y = x / alpha has 1 + sigma^2 at every t."""
    y = torch.randn(5, 3, dtype=torch.float64)
    sigma = torch.tensor([0.05, 0.3, 1.0, 4.0, 9.0], dtype=torch.float64)
    score_t = lambda x, t: -x / _variance(sde, t).view(-1, 1)  # noqa: E731
    torch.testing.assert_close(sigma_score(sde, score_t)(y, sigma), -y / (1 + sigma.view(-1, 1) ** 2))
