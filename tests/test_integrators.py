"""The six integrators: single steps against their formulas, exact Gaussian scores, NFE accounting."""

import math

import pytest
import torch

from repro.diffusion.nfe import CountingScore
from repro.diffusion.samplers import integrators as I
from repro.diffusion.sde import VESDE, append_zero, geometric_sigmas, karras_sigmas

S = 1.5  # data std of the Gaussian target


def gauss_score(x, sigma):
    return -x / (S**2 + sigma.reshape(-1, *([1] * (x.ndim - 1))) ** 2)


def test_single_steps_follow_their_formulas():
    x = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    s = torch.tensor([[0.5, 0.25]], dtype=torch.float64)
    z = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    sig, nxt = torch.tensor([2.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    xn, xm = I.reverse_diffusion_step(x, s, sig, nxt, z)
    torch.testing.assert_close(xm, x + 3 * s)
    torch.testing.assert_close(xn, x + 3 * s + math.sqrt(3) * z)
    xn, xm = I.euler_maruyama_step(x, s, sig, nxt, z)
    v = 2 * 4 * math.log(2)
    torch.testing.assert_close(xn, x + v * s + math.sqrt(v) * z)
    torch.testing.assert_close(I.probability_flow_step(x, s, sig, nxt), x + 1.5 * s)
    # Heun on the Gaussian score: d = sigma x / (S^2 + sigma^2)
    d0 = 2 * x / (S**2 + 4)
    xe = x - d0
    d1 = 1 * xe / (S**2 + 1)
    torch.testing.assert_close(I.heun_step(gauss_score, x, sig, nxt), x - 0.5 * (d0 + d1))
    xh, sh = I.churn(x, sig, torch.tensor([0.5], dtype=torch.float64), z, s_noise=1.007)
    torch.testing.assert_close(sh, torch.tensor([3.0], dtype=torch.float64))
    torch.testing.assert_close(xh, x + math.sqrt(5) * 1.007 * z)


def test_churn_gamma_cap_and_window():
    sig = torch.tensor([0.01, 0.05, 0.5, 1.0, 2.0])
    assert I.churn_gamma(sig, 20).tolist() == pytest.approx(
        [0, math.sqrt(2) - 1, math.sqrt(2) - 1, math.sqrt(2) - 1, 0]
    )
    assert I.churn_gamma(sig, 1000)[2] == pytest.approx(0.08)


def exact_flow(x0, sigma0, sigma1):
    """The probability-flow ODE of N(0, S^2) under VE noise scales x by sqrt((S^2 + s1^2) / (S^2 + s0^2))."""
    return x0 * ((S**2 + sigma1**2) / (S**2 + torch.as_tensor(sigma0, dtype=x0.dtype) ** 2)).sqrt()


def test_deterministic_integrators_follow_the_exact_flow():
    x0 = 20.0 * torch.randn(16, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    target = exact_flow(x0, 20.0, 0.01)
    heun = I.karras_heun(gauss_score, x0, karras_sigmas(60, 20.0, 0.01))
    torch.testing.assert_close(heun, target, rtol=2e-3, atol=2e-3)
    pf = I.probability_flow(gauss_score, x0, geometric_sigmas(2000, 20.0, 0.01))
    torch.testing.assert_close(pf, target, rtol=1e-2, atol=1e-2)
    out = I.rk45(gauss_score, x0, torch.tensor([20.0, 0.01]), rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(out, target, rtol=1e-4, atol=1e-4)


def test_per_sample_start_equals_separate_runs():
    x = torch.randn(2, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * torch.tensor(
        [[30.0], [2.0]]
    )
    grid = karras_sigmas(40, torch.tensor([30.0, 2.0]), 0.01)
    both = I.karras_heun(gauss_score, x, grid)
    for b in range(2):
        torch.testing.assert_close(both[b : b + 1], I.karras_heun(gauss_score, x[b : b + 1], grid[b]))
    torch.testing.assert_close(both, exact_flow(x, torch.tensor([[30.0], [2.0]]), 0.01), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("name", ["euler_maruyama", "reverse_diffusion", "karras_stochastic"])
def test_stochastic_integrators_recover_the_gaussian(name):
    gen = torch.Generator().manual_seed(2)
    n, d, smax = 4000, 4, 20.0
    x = smax * torch.randn(n, d, generator=gen, dtype=torch.float64)
    grids = {
        "euler_maruyama": VESDE(0.01, smax).time_sigmas(201),
        "reverse_diffusion": append_zero(geometric_sigmas(200, smax, 0.01)),
        "karras_stochastic": karras_sigmas(100, smax, 0.01),
    }
    out = getattr(I, name)(
        gauss_score, x, grids[name], noise=lambda t: torch.randn(t.shape, generator=gen, dtype=t.dtype)
    )
    se_var = S**2 * math.sqrt(2 / (n * d))
    assert abs(float(out.mean())) < 5 * S / math.sqrt(n * d)
    assert abs(float(out.var()) - S**2) < 5 * se_var + 0.03 * S**2


def test_karras_nfe_is_2_times_steps_minus_1():
    x = torch.randn(4, 2)
    for fn in (I.karras_heun, I.karras_stochastic):
        for n in (2, 5, 20):
            counted = CountingScore(gauss_score)
            fn(counted, x, karras_sigmas(n, 10.0, 0.01))
            assert counted.nfe == 2 * (n - 1) - 1


def test_fixed_step_nfe_is_the_number_of_steps():
    x = torch.randn(4, 2)
    for fn in (I.euler_maruyama, I.reverse_diffusion, I.probability_flow):
        counted = CountingScore(gauss_score)
        fn(counted, x, geometric_sigmas(11, 10.0, 0.01))
        assert counted.nfe == 10


def test_rk45_returns_x_and_its_evaluations_are_counted_like_every_sampler():
    x = 10 * torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    counts = []
    for tol in (1e-2, 1e-6):
        counted = CountingScore(gauss_score)
        out = I.rk45(counted, x, torch.tensor([10.0, 0.01]), rtol=tol, atol=tol)
        assert out.shape == x.shape
        counts.append(counted.nfe)
    assert 6 <= counts[0] < counts[1]  # one RK45 step is six evaluations; a tighter tolerance takes more steps


def test_bad_grid_is_rejected():
    with pytest.raises(ValueError, match="sigmas must be"):
        I.karras_heun(gauss_score, torch.zeros(3, 2), torch.ones(2, 4))


@pytest.mark.parametrize("tol", [1e-2, 1e-4, 1e-7])
def test_dormand_prince_takes_scipys_rk45_steps(tol):
    """Same evaluations and the same solution (to float rounding) as scipy's solve_ivp RK45, on a stiff-ish system."""
    from scipy.integrate import solve_ivp

    from repro.diffusion.samplers.dopri import dormand_prince

    rates = torch.tensor([0.5, 3.0, -1.0, 8.0], dtype=torch.float64)
    calls = []

    def fun(t, y):
        calls.append(t)
        return -rates * y * (1 + t) + torch.sin(torch.as_tensor(5 * t, dtype=torch.float64))

    y0 = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    ours = dormand_prince(lambda t, y, out: out.copy_(fun(t, y)), 1.0, y0, 0.0, tol, tol)
    ref = solve_ivp(lambda t, y: fun(t, torch.from_numpy(y)).numpy(), (1.0, 0.0), y0.numpy(), rtol=tol, atol=tol)
    assert len(calls) - ref.nfev == ref.nfev  # our calls, then scipy's through the same function
    torch.testing.assert_close(ours, torch.from_numpy(ref.y[:, -1]), rtol=1e-12, atol=1e-12)
