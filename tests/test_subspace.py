"""Subspace diffusion math: operators, σ⊥, boundary marginal, implicit score, Fisher divergence, cut-off search."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from papers.subspace.divergence import cut_time, divergence_curve, orthogonal_fisher_divergence
from papers.subspace.method import boundary_std, implicit_score, lift, split_steps
from papers.subspace.operators import (
    PCASubspace,
    down,
    downsampling_rmsd,
    orthogonal,
    orthogonal_dim,
    project,
    up,
)
from papers.subspace.toy import SubspaceMixture, subspace_score


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("channels,levels", [(1, 1), (3, 2), (2, 3)])
def test_operator_identities(channels: int, levels: int) -> None:
    x = torch.randn(5, channels, 16, 16, generator=gen(), dtype=torch.float64)
    y = torch.randn(5, channels, 16 >> levels, 16 >> levels, generator=gen(1), dtype=torch.float64)
    torch.testing.assert_close(down(up(y, levels), levels), y)  # down∘up = I
    p = project(x, levels)
    torch.testing.assert_close(project(p, levels), p)  # idempotent
    z = torch.randn_like(x)
    torch.testing.assert_close((project(z, levels) * x).sum(), (z * project(x, levels)).sum())  # symmetric
    torch.testing.assert_close((down(x, levels) * y).sum(), (x * up(y, levels)).sum())  # up = downᵀ
    torch.testing.assert_close(up(y, levels).norm(), y.norm())  # isometry
    torch.testing.assert_close(p.norm() ** 2 + orthogonal(x, levels).norm() ** 2, x.norm() ** 2)  # Pythagoras
    # P maps onto block-constant images, and the ×2-per-level scaling of the paper (sum / 2 per level)
    f = 2**levels
    torch.testing.assert_close(
        p, x.unfold(-2, f, f).unfold(-2, f, f).mean((-1, -2)).repeat_interleave(f, -1).repeat_interleave(f, -2)
    )
    ones = torch.ones(1, channels, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(down(ones, levels), torch.full_like(down(ones, levels), float(f)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("levels", [0, 1, 2, 3])
def test_projection_is_up_of_down_bit_for_bit(levels: int, dtype: torch.dtype) -> None:
    """`project` skips down's ×2 and up's /2 per level (exact powers of two): the same bits as up(down(x))."""
    x = 1e3 * torch.randn(2, 3, 4, 16, 16, generator=gen(), dtype=dtype)  # two leading dims
    assert torch.equal(project(x, levels), up(down(x, levels), levels))


def test_operator_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="cannot be halved"):
        down(torch.zeros(1, 1, 6, 6), 2)


def test_orthogonal_dim() -> None:
    assert orthogonal_dim((3, 32, 32), 1) == 3 * 32 * 32 * 3 // 4
    assert orthogonal_dim((1, 28, 28), 2) == 784 - 49


def test_rmsd_known_answer() -> None:
    """Data = block-constant image + N(0, s²) noise: σ⊥ = s exactly in expectation; PCA of matching dim finds it."""
    s, n = 0.3, 4000
    base = up(torch.randn(n, 1, 4, 4, generator=gen(), dtype=torch.float64) * 3, 1)
    x = base + s * torch.randn(n, 1, 8, 8, generator=gen(2), dtype=torch.float64)
    # E‖(I−P)ε‖² = s²·D⊥, so the estimate has relative sampling error ~ 1/sqrt(2 n D⊥)
    assert downsampling_rmsd(x, 1) == pytest.approx(s, rel=0.01)
    pca = PCASubspace.fit(x, 16)
    assert pca.rmsd(x) == pytest.approx(s, rel=0.03)  # PCA finds the same 16-dim subspace (minus overfitting)
    assert pca.rmsd(x) <= downsampling_rmsd(x, 1) + 1e-12  # PCA minimises the squared residual


def test_split_steps_always_sums_to_n() -> None:
    assert split_steps(1000, 0.558) == (442, 558)  # official floors both parts: 441 + 558 = 999
    assert split_steps(1000, 0.516) == (484, 516)
    assert split_steps(10, 0.0) == (10, 0) and split_steps(10, 1.0) == (0, 10)
    for t in np.linspace(0, 1, 97):
        assert sum(split_steps(1000, float(t))) == 1000
    with pytest.raises(ValueError):
        split_steps(10, 1.5)


def test_boundary_std_ve_and_subvp() -> None:
    assert boundary_std(1.0, 0.3, 0.4) == pytest.approx(0.5)
    # sub-VP: in the scaled variable x/α the orthogonal variance is σ̃² + σ⊥², i.e. α²(σ̃² + σ⊥²) in x
    alpha, sigma, sp = 0.6, 0.45, 0.11
    assert boundary_std(alpha, sigma, sp) == pytest.approx(alpha * math.sqrt((sigma / alpha) ** 2 + sp**2))
    with pytest.raises(ValueError):
        boundary_std(0.0, 1.0, 0.1)


def gaussian_law(levels: int = 1, orth_means: torch.Tensor | None = None, m: int = 1) -> SubspaceMixture:
    g = gen(5)
    means = torch.rand(m, 1, 8 >> levels, 8 >> levels, generator=g, dtype=torch.float64) * 4
    b = torch.zeros(m, 1, 8, 8, dtype=torch.float64) if orth_means is None else orth_means
    return SubspaceMixture(torch.full((m,), 1.0 / m, dtype=torch.float64), means, 0.5, b, 0.2, levels)


def test_boundary_step_gives_exact_marginal() -> None:
    """Subspace sample of p_σ, lifted with std sqrt(σ² + σ⊥²), has the full-space marginal's mean and covariance."""
    law, sigma, n = gaussian_law(), 0.7, 20000
    g = gen(7)
    x0 = law.sample(n, g)
    direct = x0 + sigma * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    y = down(law.sample(n, g), 1) + sigma * torch.randn(n, 1, 4, 4, generator=g, dtype=torch.float64)
    lifted = lift(
        y, 1, boundary_std(1.0, sigma, law.orth_std), lambda v: torch.randn(v.shape, generator=g, dtype=v.dtype)
    )
    mean_exact = up(law.sub_means[0], 1).flatten()
    eye = torch.eye(64, dtype=torch.float64)
    proj = project(eye.reshape(64, 1, 8, 8), 1).reshape(64, 64)
    cov_exact = (law.sub_std**2 + sigma**2) * proj + (law.orth_std**2 + sigma**2) * (eye - proj)
    for sample in (lifted, direct):
        flat = sample.flatten(1)
        # std error of a mean is sqrt(var/n) <= sqrt(0.74/2e4) ≈ 0.006; of a covariance entry ≈ 0.74·sqrt(2/n) ≈ 0.007
        assert (flat.mean(0) - mean_exact).abs().max() < 0.03
        assert (torch.cov(flat.T) - cov_exact).abs().max() < 0.04
    # forgetting σ⊥ (the pitfall) is detected by the same check
    wrong = lift(y, 1, sigma, lambda v: torch.randn(v.shape, generator=g, dtype=v.dtype))
    assert (torch.cov(wrong.flatten(1).T) - cov_exact).abs().max() > 0.03


@pytest.mark.parametrize("sigma", [0.01, 0.3, 5.0])
def test_implicit_score_is_exact_when_assumption_holds(sigma: float) -> None:
    law = gaussian_law(m=3)
    x = law.sample(64, gen(3)) + sigma * torch.randn(64, 1, 8, 8, generator=gen(4), dtype=torch.float64)
    sig = torch.full((64,), sigma, dtype=torch.float64)
    implied = implicit_score(subspace_score(law.subspace_mixture(1), (1, 4, 4)), 1, law.orth_std)
    torch.testing.assert_close(implied(x, sig), law.score(x, sig))


def test_exact_score_against_autograd() -> None:
    """The toy's closed-form score is ∇ log p, checked against autograd of the log-density it implies."""
    b = orthogonal(torch.randn(2, 1, 8, 8, generator=gen(9), dtype=torch.float64), 1) * 0.5
    law = gaussian_law(orth_means=b, m=2)
    x = law.sample(8, gen(1)).requires_grad_(True)
    sig = torch.full((8,), 0.4, dtype=torch.float64)
    va, vb = law.sub_std**2 + 0.16, law.orth_std**2 + 0.16
    comps = []
    for k in range(2):
        da = (down(x, 1) - law.sub_means[k]).flatten(1).square().sum(1)
        db = (orthogonal(x, 1) - law.orth_means[k]).flatten(1).square().sum(1)
        comps.append(math.log(0.5) - 0.5 * da / va - 0.5 * db / vb)
    logp = torch.logsumexp(torch.stack(comps, 1), 1).sum()
    (grad,) = torch.autograd.grad(logp, x)
    torch.testing.assert_close(law.score(x.detach(), sig), grad)


def test_fisher_divergence_zero_when_orthogonal_part_is_gaussian() -> None:
    law = gaussian_law(m=3)
    x0 = law.sample(256, gen(2))
    curve = divergence_curve(
        law.score,
        x0,
        1,
        law.orth_std,
        [0.01, 0.1, 1.0, 10.0],
        lambda i: torch.randn(x0.shape, generator=gen(10 + i), dtype=torch.float64),
    )
    assert max(curve) < 1e-20
    # a zero score has divergence 1 in expectation (the normalisation is E‖g‖² under the Gaussian model)
    zero = orthogonal_fisher_divergence(
        lambda x, s: torch.zeros_like(x),
        x0,
        1,
        law.orth_std,
        0.3,
        torch.randn(x0.shape, generator=gen(1), dtype=torch.float64),
    )
    assert float(zero.mean()) == pytest.approx(1.0, abs=0.03)


def test_fisher_divergence_positive_and_decaying_when_violated() -> None:
    b = orthogonal(torch.randn(3, 1, 8, 8, generator=gen(9), dtype=torch.float64), 1) * 0.3
    law = gaussian_law(orth_means=b, m=3)
    x0 = law.sample(512, gen(2))
    sp = law.orth_std_to(1)
    assert downsampling_rmsd(x0, 1) == pytest.approx(sp, rel=0.02)
    curve = divergence_curve(
        law.score,
        x0,
        1,
        sp,
        [0.01, 0.3, 3.0, 30.0],
        lambda i: torch.randn(x0.shape, generator=gen(10 + i), dtype=torch.float64),
    )
    assert curve[0] > 0.1 and curve[-1] < 1e-3 and all(a > b for a, b in zip(curve[:-1], curve[1:], strict=True))


def test_cut_time_reproduces_known_crossing() -> None:
    """log D(t) linear in t: the crossing of 3e-3 is known in closed form; grid resolution is 1e-3."""
    times = np.linspace(0, 1, 21)
    curve = 10 ** (1.0 - 8.0 * times)  # 10 at t=0, 1e-7 at t=1
    t_star = (1.0 - math.log10(3e-3)) / 8.0
    got = cut_time(times, curve, 3e-3)
    assert t_star <= got < t_star + 1e-3 + 1e-12
    assert cut_time(times, curve, 1e-9) == 1.0  # never below: no subspace stage
    # smallest t below the threshold even if the curve rises again later
    bumpy = curve.copy()
    bumpy[-3:] = 1.0
    assert cut_time(times, bumpy, 3e-3) == got
    with pytest.raises(ValueError):
        cut_time(times[::-1], curve, 3e-3)


def test_subspace_sampler_matches_exact_law_and_counts_evaluations() -> None:
    """Assumption holds + exact scores: the two-stage sampler reproduces the data law; NFE split as designed."""
    from papers.subspace.sampler import PCSettings, subspace_sample
    from repro.diffusion.nfe import CountingScore
    from repro.diffusion.samplers.pc import pc_sampler
    from repro.diffusion.sde import append_zero, geometric_sigmas

    law = gaussian_law(m=2)
    full = CountingScore(law.score)
    sub = CountingScore(subspace_score(law.subspace_mixture(1), (1, 4, 4)))
    g = gen(11)
    n, steps, n_sub = 1500, 40, 26
    sigmas = append_zero(geometric_sigmas(steps, 20.0, 0.01))
    y = 20.0 * torch.randn(n, 1, 4, 4, generator=g, dtype=torch.float64)
    x = subspace_sample(
        full,
        sub,
        y,
        sigmas,
        n_sub=n_sub,
        levels=1,
        sigma_perp=law.orth_std,
        noise=lambda v: torch.randn(v.shape, generator=g, dtype=v.dtype),
        pc=PCSettings(),
    )
    assert sub.nfe == 2 * n_sub and full.nfe == 2 * (steps - n_sub) + 2
    exact = law.sample(n, gen(12))
    ref = pc_sampler(
        law.score,
        20.0 * torch.randn(n, 1, 8, 8, generator=g, dtype=torch.float64),
        sigmas,
        noise=lambda v: torch.randn(v.shape, generator=g, dtype=v.dtype),
    )
    torch.testing.assert_close(x.mean(0), exact.mean(0), atol=0.12, rtol=0)  # component means 0..4, 2 modes
    # σ⊥ of the samples: the subspace sampler matches the full-space PC sampler on the same grid (both carry the
    # same few-% PC discretisation bias against the exact 0.2)
    assert downsampling_rmsd(x, 1) == pytest.approx(downsampling_rmsd(ref, 1), rel=0.02)
    assert downsampling_rmsd(x, 1) == pytest.approx(law.orth_std, rel=0.08)
    assert float(down(x, 1).flatten(1).var(0).mean()) == pytest.approx(
        float(down(exact, 1).flatten(1).var(0).mean()), rel=0.1
    )


def test_implicit_likelihood_exact_when_assumption_holds_and_lower_when_violated() -> None:
    from papers.subspace.method import implicit_log_prob

    sig = torch.full((400,), 0.05, dtype=torch.float64)
    holds = gaussian_law(m=3)
    x = holds.sample(400, gen(3)) + 0.05 * torch.randn(400, 1, 8, 8, generator=gen(4), dtype=torch.float64)
    mix = holds.subspace_mixture(1)
    lp = implicit_log_prob(lambda y, s: mix.log_prob(y.flatten(1), s), x, 1, holds.orth_std, sig)
    torch.testing.assert_close(lp, holds.log_prob(x, sig))
    # log-density gradient of the implicit model is the implicit score (autograd), tying likelihood and sampling
    xr = x[:4].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(
        implicit_log_prob(lambda y, s: mix.log_prob(y.flatten(1), s), xr, 1, holds.orth_std, sig[:4]).sum(), xr
    )
    torch.testing.assert_close(grad, implicit_score(subspace_score(mix, (1, 4, 4)), 1, holds.orth_std)(x[:4], sig[:4]))
    # violated: the implicit model (Gaussian orthogonal part with the measured σ⊥) is worse on data (KL > 0)
    b = orthogonal(torch.randn(3, 1, 8, 8, generator=gen(9), dtype=torch.float64), 1) * 0.3
    bad = gaussian_law(orth_means=b, m=3)
    xv = bad.sample(400, gen(5)) + 0.05 * torch.randn(400, 1, 8, 8, generator=gen(6), dtype=torch.float64)
    lpv = implicit_log_prob(
        lambda y, s: bad.subspace_mixture(1).log_prob(y.flatten(1), s), xv, 1, bad.orth_std_to(1), sig
    )
    assert float((bad.log_prob(xv, sig) - lpv).mean()) > 1.0


def test_small_score_net_skip_is_the_gaussian_score_so_high_noise_needs_no_learning() -> None:
    from papers.subspace.nets import SmallScoreNet

    torch.manual_seed(0)
    x0 = torch.rand(32, 1, 28, 28) * (torch.rand(32, 1, 28, 28) < 0.2)
    sd = float(x0.std())
    net = SmallScoreNet(1, 16, sd).eval()
    sigma = torch.full((32,), 3.0)
    xt = x0 + 3.0 * torch.randn_like(x0)
    with torch.no_grad():
        untrained_div = orthogonal_fisher_divergence(net, x0, 1, 0.2, 20.0, torch.randn_like(x0)).mean()
        torch.nn.init.zeros_(net.out.weight)
        torch.nn.init.zeros_(net.out.bias)
        assert torch.allclose(net(xt, sigma), -xt / (9.0 + sd**2), rtol=1e-6, atol=0)
    assert untrained_div < 1e-3  # an untrained net is already near-Gaussian at sigma_max = 20
