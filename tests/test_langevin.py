"""Langevin samplers against the update formulas and against exact Gaussian answers."""

from __future__ import annotations

import math

import pytest
import torch

from repro.diffusion.nfe import CountingScore
from repro.diffusion.samplers.langevin import annealed_langevin, annealed_langevin_inpaint, langevin, step_sizes


class Replay:
    """Noise from a fixed list of draws (each call returns the next one), so a step can be recomputed by hand."""

    def __init__(self, draws: list[torch.Tensor]) -> None:
        self.draws = draws
        self.calls = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.draws[self.calls - 1].clone()


class Recorder:
    """Gaussian noise that remembers the draw of call number `keep` (0-based)."""

    def __init__(self, keep: int) -> None:
        self.keep, self.calls, self.kept = keep, 0, None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.randn_like(x)
        if self.calls == self.keep:
            self.kept = z.clone()
        self.calls += 1
        return z


def linear_score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """An arbitrary score that uses sigma, so a wrong sigma per level shows up."""
    return -x / (1.0 + sigma[:, None] ** 2) + 0.3


@pytest.mark.parametrize("convention", ["code", "paper"])
def test_one_step_per_level_matches_formula(convention):
    torch.manual_seed(0)
    x0 = torch.randn(5, 3)
    sigmas, eps = [2.0, 0.5], 1e-2
    draws = [torch.randn(5, 3) for _ in range(2)]
    got = annealed_langevin(linear_score, x0, sigmas, n_steps=1, eps=eps, convention=convention, noise=Replay(draws))
    x = x0
    for sigma, z in zip(sigmas, draws, strict=True):
        s = linear_score(x, torch.full((5,), sigma))
        if convention == "code":
            step = eps * (sigma / sigmas[-1]) ** 2
            x = x + step * s + math.sqrt(2 * step) * z
        else:
            alpha = eps * sigma**2 / sigmas[-1] ** 2
            x = x + alpha / 2 * s + math.sqrt(alpha) * z
    torch.testing.assert_close(got, x, rtol=1e-6, atol=1e-6)


def test_code_convention_is_paper_convention_with_twice_eps():
    code, paper = step_sizes([1.0, 0.1], 2e-5, "code"), step_sizes([1.0, 0.1], 4e-5, "paper")
    assert [a for pair in code for a in pair] == pytest.approx([a for pair in paper for a in pair], rel=1e-12)
    assert code[0] == pytest.approx((2e-5 * 100, math.sqrt(4e-5 * 100)))
    with pytest.raises(ValueError, match="convention"):
        step_sizes([1.0], 1e-3, "official")
    with pytest.raises(ValueError, match="eps"):
        step_sizes([1.0], 0.0)


def test_plain_langevin_formula_and_nfe():
    torch.manual_seed(1)
    x0 = torch.randn(4, 2)
    draws = [torch.randn(4, 2) for _ in range(3)]
    score = CountingScore(linear_score)
    got = langevin(score, x0, 0.7, n_steps=3, eps=0.1, convention="paper", noise=Replay(draws))
    x = x0
    for z in draws:
        x = x + 0.05 * linear_score(x, torch.full((4,), 0.7)) + math.sqrt(0.1) * z
    torch.testing.assert_close(got, x, rtol=1e-6, atol=1e-6)
    assert score.nfe == 3


def _expected_moments(s2: float, sigmas: list[float], eps: float, n_steps: int, m0: float, v0: float):
    """Exact mean/variance of the linear-Gaussian chain driven by the exact score -x/(s^2 + sigma^2)."""
    m, v = m0, v0
    for (drift, scale), sigma in zip(step_sizes(sigmas, eps, "code"), sigmas, strict=True):
        c = 1 - drift / (s2 + sigma**2)
        for _ in range(n_steps):
            m, v = c * m, c * c * v + scale**2
    return m, v


def test_annealed_langevin_recovers_gaussian_with_exact_score():
    """Data N(0, s^2 I): paper schedule (L=10, 1 -> 0.01, T=100, eps=2e-5, code form) from U[0,1] init."""
    torch.manual_seed(2)
    s = 0.03
    sigmas = torch.exp(torch.linspace(0.0, math.log(0.01), 10)).tolist()
    x0 = torch.rand(1000, 100)

    def exact(x, sigma):
        return -x / (s**2 + sigma[:, None] ** 2)

    score = CountingScore(exact)
    x = annealed_langevin(score, x0, sigmas, n_steps=100, eps=2e-5)
    assert score.nfe == 1000
    m, v = _expected_moments(s**2, sigmas, 2e-5, 100, 0.5, 1 / 12)
    n = x.numel()
    assert abs(x.mean().item() - m) < 4 * math.sqrt(v / n)
    assert abs(x.var().item() / v - 1) < 4 * math.sqrt(2 / n)
    # ... and the chain has reached the target N(0, s^2 + sigma_L^2) up to ~1.4 % (mixing + step bias)
    assert abs(m) < 1e-3
    assert abs(x.var().item() / (s**2 + sigmas[-1] ** 2) - 1) < 0.03


def test_inpainting_resets_known_pixels_and_samples_the_conditional():
    """2-D Gaussian with correlation rho; coordinate 0 known. The free coordinate's stationary law is exact."""
    torch.manual_seed(3)
    rho, c, n = 0.8, 2.0, 20000
    cov = torch.tensor([[1.0, rho], [rho, 1.0]])
    sigmas, eps, steps = [1.0, 0.3, 0.1], 0.01, 400

    def exact(x, sigma):  # -(cov + sigma^2 I)^-1 x, with the 2x2 inverse written out
        d = 1.0 + sigma**2
        det = d * d - rho**2
        return -torch.stack([d * x[:, 0] - rho * x[:, 1], d * x[:, 1] - rho * x[:, 0]], dim=1) / det[:, None]

    known = torch.tensor([c, 0.0]).expand(n, 2).clone()
    mask = torch.tensor([True, False])
    last_level_start = (len(sigmas) - 1) * (steps + 1)
    noise = Recorder(keep=last_level_start)
    x = annealed_langevin_inpaint(
        exact, torch.rand(n, 2), sigmas, known=known, mask=mask, n_steps=steps, eps=eps, convention="paper", noise=noise
    )
    assert noise.calls == len(sigmas) * (steps + 1)  # one draw for the known pixels per level, one per step
    last_level_target = noise.kept
    torch.testing.assert_close(x[:, 0], c + sigmas[-1] * last_level_target[:, 0], rtol=0, atol=1e-6)
    # free coordinate: AR(1) given y = x[:, 0]; mean -P01 y / P11, variance alpha / (1 - (1 - alpha P11 / 2)^2)
    prec = torch.linalg.inv(cov + sigmas[-1] ** 2 * torch.eye(2))
    alpha = eps  # sigma_L / sigma_L = 1 at the last level
    resid = x[:, 1] + prec[0, 1] / prec[1, 1] * x[:, 0]
    var = alpha / (1 - (1 - alpha * prec[1, 1].item() / 2) ** 2)
    assert abs(resid.mean().item()) < 4 * math.sqrt(var / n)
    assert abs(resid.var().item() / var - 1) < 4 * math.sqrt(2 / n)
