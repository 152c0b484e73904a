"""VE / sub-VP SDE formulas and the sigma schedules against closed forms and the papers' constants."""

import math

import pytest
import torch

from repro.diffusion.sde import VESDE, SubVPSDE, append_zero, dlg_level_grid, geometric_sigmas, karras_sigmas


def test_ve_sigma_diffusion_and_inverse():
    sde = VESDE(0.01, 50.0)
    t = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    sig = sde.sigma(t)
    torch.testing.assert_close(sig, 0.01 * 5000.0**t)
    torch.testing.assert_close(sde.t_of_sigma(sig), t)
    # g(t)^2 = d sigma^2 / dt
    h = 1e-6
    dsig2 = (sde.sigma(t + h) ** 2 - sde.sigma(t - h) ** 2) / (2 * h)
    _, g = sde.sde(torch.zeros(3, 2, dtype=torch.float64), t)
    torch.testing.assert_close(g**2, dsig2, rtol=1e-6, atol=0)
    assert sde.prior_sampling((20000,), torch.Generator().manual_seed(0)).std().sub(50).abs() < 1.0


def test_ve_discretize_uses_adjacent_levels():
    sde = VESDE(0.01, 50.0, n=10)
    levels = sde.discrete_sigmas()
    _, G = sde.discretize(torch.zeros(3, 1, dtype=torch.float64), torch.tensor([0.0, 0.6, 1.0]))
    expected = torch.stack(
        [levels[0], (levels[5] ** 2 - levels[4] ** 2).sqrt(), (levels[9] ** 2 - levels[8] ** 2).sqrt()]
    )
    torch.testing.assert_close(G, expected)


def test_subvp_marginals_match_its_sde():
    sde = SubVPSDE()
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    big_b = 0.5 * t**2 * 19.9 + 0.1 * t
    torch.testing.assert_close(sde.alpha(t), torch.exp(-big_b / 2))
    torch.testing.assert_close(sde.std(t), 1 - torch.exp(-big_b))
    torch.testing.assert_close(sde.t_of_std(sde.std(t)), t)
    # the variance of x_t = alpha x_0 + std z with x_0 = 0 solves d var/dt = -beta var + g^2 (sub-VP: var = std^2)
    h = 1e-6
    dvar = (sde.std(t + h) ** 2 - sde.std(t - h) ** 2) / (2 * h)
    _, g = sde.sde(torch.zeros(3, 1, dtype=torch.float64), t)
    torch.testing.assert_close(dvar, -sde.beta(t) * sde.std(t) ** 2 + g**2, rtol=1e-6, atol=1e-9)


def test_dlg_level_grid_constants():
    grid = dlg_level_grid(0.01, 50.0)
    assert grid.shape == (1000,)
    assert math.isclose(float(grid[0]), 50.0)
    assert abs(float(grid[-1]) - 0.010086) < 1e-6
    assert abs(float(dlg_level_grid(0.01, 348.0)[-1]) - 0.010105) < 1e-6
    assert (grid[1:] < grid[:-1]).all()


def test_karras_schedule_per_sample():
    starts = torch.tensor([50.0, 2.0])
    grid = karras_sigmas(7, starts, 0.01)
    assert grid.shape == (2, 7)
    torch.testing.assert_close(grid[:, 0], starts.double())
    torch.testing.assert_close(grid[:, -1], torch.full((2,), 0.01, dtype=torch.float64))
    i = 3
    expected = (2.0 ** (1 / 7) + i / 6 * (0.01 ** (1 / 7) - 2.0 ** (1 / 7))) ** 7
    assert math.isclose(float(grid[1, i]), expected, rel_tol=1e-12)
    with pytest.raises(ValueError, match="n >= 2"):
        karras_sigmas(1, 1.0)


def test_geometric_and_time_grids():
    g = geometric_sigmas(5, 16.0, 1.0)
    torch.testing.assert_close(g, torch.tensor([16.0, 8.0, 4.0, 2.0, 1.0], dtype=torch.float64))
    sde = VESDE(0.01, 50.0)
    tg = sde.time_sigmas(11)
    torch.testing.assert_close(tg, sde.sigma(torch.linspace(1, 1e-5, 11, dtype=torch.float64)))
    assert append_zero(tg)[-1] == 0 and append_zero(tg).shape == (12,)
    assert sde.time_sigmas(4, torch.tensor([1.0, 3.0])).shape == (2, 4)
