"""Predictor-corrector sampler: corrector step formula, projection, batch independence, NFE, exact-score accuracy."""

from __future__ import annotations

import pytest
import torch

from papers.subspace.operators import orthogonal, project
from repro.diffusion.nfe import CountingScore
from repro.diffusion.samplers.pc import langevin_corrector, langevin_corrector_step, pc_sampler
from repro.diffusion.sde import append_zero, geometric_sigmas
from repro.diffusion.toy.gmm import GaussianMixture


def gauss_score(v0: float):
    """Exact score of N(0, v0 I) perturbed by VE noise sigma."""
    return lambda x, s: -x / (v0 + s.reshape(-1, *([1] * (x.ndim - 1))) ** 2)


def fixed_noise(z: torch.Tensor):
    return lambda x: z[: x.shape[0]].reshape(x.shape)


def test_corrector_step_formula() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    z = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    sigma = torch.full((3,), 0.5, dtype=torch.float64)
    score = gauss_score(1.0)
    out = langevin_corrector_step(score, x, sigma, snr=0.16, noise=fixed_noise(z), norms="sample")
    s = score(x, sigma)
    for b in range(3):
        eps = 2 * (0.16 * z[b].norm() / s[b].norm()) ** 2
        torch.testing.assert_close(out[b], x[b] + eps * s[b] + (2 * eps).sqrt() * z[b])
    # score_sde's batch-averaged norms (the default)
    out_b = langevin_corrector_step(score, x, sigma, snr=0.16, noise=fixed_noise(z))
    eps_b = 2 * (0.16 * z.flatten(1).norm(dim=1).mean() / s.flatten(1).norm(dim=1).mean()) ** 2
    torch.testing.assert_close(out_b, x + eps_b * s + (2 * eps_b).sqrt() * z)


def test_per_sample_norms_make_samples_batch_independent() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 1, 4, 4, generator=g, dtype=torch.float64)
    z = torch.randn(4, 1, 4, 4, generator=g, dtype=torch.float64)
    sigma = torch.full((4,), 0.3, dtype=torch.float64)
    score = gauss_score(0.5)
    full = langevin_corrector_step(score, x, sigma, snr=0.2, noise=fixed_noise(z), norms="sample")
    alone = langevin_corrector_step(score, x[:1], sigma[:1], snr=0.2, noise=fixed_noise(z), norms="sample")
    torch.testing.assert_close(full[:1], alone)
    full_b = langevin_corrector_step(score, x, sigma, snr=0.2, noise=fixed_noise(z), norms="batch")
    alone_b = langevin_corrector_step(score, x[:1], sigma[:1], snr=0.2, noise=fixed_noise(z), norms="batch")
    assert not torch.allclose(full_b[:1], alone_b)


def test_projected_corrector_leaves_subspace_component_unchanged() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, 2, 8, 8, generator=g, dtype=torch.float64)
    sigma = torch.full((5,), 0.4, dtype=torch.float64)
    out = langevin_corrector(
        gauss_score(1.0),
        x,
        sigma,
        snr=0.22,
        n_steps=3,
        project=lambda v: orthogonal(v, 2),
        noise=lambda v: torch.randn(v.shape, generator=g, dtype=v.dtype),
    )
    torch.testing.assert_close(project(out, 2), project(x, 2))
    assert (orthogonal(out, 2) - orthogonal(x, 2)).abs().max() > 1e-3


def test_corrector_one_step_second_moment_is_exact() -> None:
    """Per-sample norms: for x ~ N(0, v I_D) with exact score, eps = 2 snr² v² ‖z‖²/‖x‖², and Gaussian moments
    (E‖z‖⁴ = D(D+2), E 1/‖x‖² = 1/(v(D−2))) give E‖x'‖²/(vD) = 1 + 4 snr⁴ (D+2)/(D−2) + 16 snr²/(D−2)."""
    g = torch.Generator().manual_seed(3)
    v, n, d, snr = 0.7, 4000, 64, 0.3
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * v**0.5
    out = langevin_corrector(
        gauss_score(0.0),
        x,
        torch.full((n,), v**0.5, dtype=torch.float64),
        snr=snr,
        n_steps=1,
        noise=lambda t: torch.randn(t.shape, generator=g, dtype=t.dtype),
        norms="sample",
    )
    expected = 1 + 4 * snr**4 * (d + 2) / (d - 2) + 16 * snr**2 / (d - 2)  # 1.058; naive 1 + 4 snr⁴ would be 1.032
    assert float(out.square().mean() / v) == pytest.approx(expected, abs=0.01)  # std error ≈ 0.003


def test_predictor_only_matches_exact_variance_recursion() -> None:
    """With n_corrector = 0 and a Gaussian target the chain is linear: Var' = Var (1 − Δ/v)² + Δ, Δ = σ² − σ'²."""
    g = torch.Generator().manual_seed(4)
    v0, n = 0.25, 20000
    sigmas = append_zero(geometric_sigmas(30, 20.0, 0.01))
    x = 20.0 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    out = pc_sampler(
        gauss_score(v0), x, sigmas, n_corrector=0, noise=lambda t: torch.randn(t.shape, generator=g, dtype=t.dtype)
    )
    var = 400.0
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        delta = s**2 - s_next**2
        var = var * (1 - delta / (v0 + s**2)) ** 2 + delta
    assert float(out.var()) == pytest.approx(var, rel=0.03)


@pytest.mark.parametrize("dim,norms", [(16, "sample"), (2, "batch")])
def test_nfe_and_mixture_weights_with_exact_score(dim: int, norms: str) -> None:
    """PC with the exact score recovers mixture weights 0.2 / 0.8. Per-sample corrector norms need a few dimensions
    for ‖z‖/‖s‖ to concentrate: in 2-d they overshoot near the saddle (weight ≈ 0.32), hence "batch" there."""
    means = torch.zeros(2, dim, dtype=torch.float64)
    means[:, 0] = torch.tensor([-1.0, 1.0])
    gmm = GaussianMixture([0.2, 0.8], means, stds=0.1)
    score = CountingScore(gmm.score)
    g = torch.Generator().manual_seed(5)
    n_steps = 100
    x = 10.0 * torch.randn(2000, dim, generator=g, dtype=torch.float64)
    out = pc_sampler(
        score,
        x,
        append_zero(geometric_sigmas(n_steps, 10.0, 0.01)),
        norms=norms,
        noise=lambda t: torch.randn(t.shape, generator=g, dtype=t.dtype),
    )
    assert score.nfe == n_steps * 2
    frac = float((out[:, 0] < 0).double().mean())
    assert frac == pytest.approx(0.2, abs=0.03)  # binomial std ≈ 0.009, plus discretisation bias
    assert float(out[out[:, 0] > 0, 1].std()) == pytest.approx(0.1, rel=0.15)


@pytest.mark.parametrize("dim", [4, 16])
def test_default_batch_norms_keep_a_gaussian_unbiased_where_per_sample_norms_inflate_it(dim: int) -> None:
    """score_sde's batch-averaged norms are the default: with the exact score of N(0, v0 I) the sample std stays
    within 3 % of the truth; per-sample norms overshoot (the ratio of two norms is biased upwards at few dimensions)."""
    v0, n_steps = 0.25, 200
    stds = {}
    for norms in ("batch", "sample"):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(2000, dim, generator=g, dtype=torch.float64)
        sigmas = append_zero(geometric_sigmas(n_steps, 1.0, 0.01))
        kwargs = {} if norms == "batch" else {"norms": "sample"}
        out = pc_sampler(
            gauss_score(v0), x, sigmas, noise=lambda t, g=g: torch.randn(t.shape, generator=g, dtype=t.dtype), **kwargs
        )
        stds[norms] = float(out.std()) / v0**0.5
    assert stds["batch"] == pytest.approx(1.0, abs=0.03)  # std error of the std ≈ 0.004 at 2000 x dim draws
    assert stds["sample"] > 1.1


def test_pc_rejects_bad_arguments() -> None:
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="snr"):
        langevin_corrector_step(gauss_score(1.0), x, torch.ones(2), snr=0.0)
    with pytest.raises(ValueError, match="norms"):
        langevin_corrector_step(gauss_score(1.0), x, torch.ones(2), snr=0.1, norms="mean")
