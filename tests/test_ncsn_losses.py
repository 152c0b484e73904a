"""NCSN objectives: DSM against a hand computation and its analytic minimum; sliced score matching's expectation."""

from __future__ import annotations

import math

import torch

from repro.diffusion.losses import dsm_loss, sliced_score_matching_vr


def test_dsm_matches_hand_computation():
    x = torch.tensor([[1.0, 2.0], [0.5, -1.0]])
    z = torch.tensor([[0.2, -0.4], [1.0, 0.0]])
    sigmas = torch.tensor([2.0, 0.5])
    labels = torch.tensor([0, 1])

    def net(xt, lab):  # s = 3 * x~ - label
        return 3 * xt - lab[:, None].float()

    # sample 0: sigma 2, x~ = (1.4, 1.2), s = (4.2, 3.6), target -z/sigma = (-0.1, 0.2)
    #   1/2 * ((4.3)^2 + (3.4)^2) * 4 = 2 * (18.49 + 11.56) = 60.1
    # sample 1: sigma 0.5, x~ = (1.0, -1.0), s = (2, -4), target = (-2, 0)
    #   1/2 * (16 + 16) * 0.25 = 4
    want = (60.1 + 4.0) / 2
    got = dsm_loss(net, x, sigmas, labels=labels, noise=z)
    assert abs(got.item() - want) < 1e-5
    # anneal_power 0 drops the sigma^2 weight: 1/2 * 30.05 and 1/2 * 32
    assert abs(dsm_loss(net, x, sigmas, labels=labels, noise=z, anneal_power=0.0).item() - (15.025 + 16) / 2) < 1e-5


def test_dsm_minimum_for_gaussian_data():
    """Data N(0, s^2 I_d), exact perturbed score -x~/(s^2+sigma^2): E[loss at sigma] = d s^2 / (2 (s^2 + sigma^2))."""
    torch.manual_seed(0)
    d, s, n = 8, 0.7, 200_000
    sigmas = torch.tensor([1.0, 0.1])
    x = s * torch.randn(n, d)

    def exact(xt, lab):
        return -xt / (s**2 + sigmas[lab][:, None] ** 2)

    for level in (0, 1):
        labels = torch.full((n,), level)
        want = d * s**2 / (2 * (s**2 + sigmas[level].item() ** 2))
        got = dsm_loss(exact, x, sigmas, labels=labels).item()
        assert abs(got / want - 1) < 0.01
    # a wrong score (the unperturbed one) scores worse at the large level
    wrong = dsm_loss(lambda xt, lab: -xt / s**2, x, sigmas, labels=torch.zeros(n, dtype=torch.long)).item()
    assert wrong > 1.5 * d * s**2 / (2 * (s**2 + 1.0))


def test_dsm_draws_levels_uniformly():
    torch.manual_seed(1)
    seen = []

    def net(xt, lab):
        seen.append(lab)
        return xt

    dsm_loss(net, torch.zeros(20_000, 1), torch.exp(torch.linspace(0, math.log(0.01), 10)))
    counts = torch.bincount(seen[0], minlength=10).float()
    assert counts.shape == (10,) and (counts / 2000 - 1).abs().max() < 0.1


def test_sliced_score_matching_expectation_and_gradient():
    """For s(x) = A x and x ~ N(0, I): E[SSM-VR] = 1/2 tr(A^T A) + tr(A); the minimiser over A is -I."""
    torch.manual_seed(2)
    A = torch.tensor([[-0.5, 0.3], [0.1, -2.0]], requires_grad=True)
    x = torch.randn(400_000, 2)
    loss = sliced_score_matching_vr(lambda y: y @ A.T, x)
    want = 0.5 * (A.detach() ** 2).sum() + A.detach().trace()
    assert abs(loss.item() - want.item()) < 0.02
    loss.backward()
    # d/dA [1/2 tr(A^T A) + tr(A)] = A + I
    torch.testing.assert_close(A.grad, A.detach() + torch.eye(2), atol=0.03, rtol=0)


def test_continuous_ve_dsm_loss_matches_its_expectation_for_the_exact_gaussian_score():
    """For x ~ N(0, s^2 I) and the exact score -x~/(s^2 + sigma^2), E||sigma s + z||^2 = d s^2 / (s^2 + sigma^2)."""
    import math

    from repro.diffusion.losses import ve_dsm_loss
    from repro.diffusion.sde import VESDE

    s2, d, lo, hi = 0.25, 4, 0.01, 50.0
    torch.manual_seed(0)
    x = math.sqrt(s2) * torch.randn(200_000, d)
    loss = ve_dsm_loss(VESDE(lo, hi), eps=1e-5)(lambda y, sigma: -y / (s2 + sigma.view(-1, 1) ** 2), x)
    t = torch.linspace(1e-5, 1, 100_001, dtype=torch.float64)
    sigma2 = (lo * (hi / lo) ** t) ** 2
    expected = d * torch.trapezoid(s2 / (s2 + sigma2), t) / (1 - 1e-5)
    assert abs(loss.item() - expected.item()) < 0.01 * expected.item()
