"""The sampler table: each entry's NFE rule is what CountingScore counts, and its grid is what the sampler walks."""

import pytest
import torch

from repro.diffusion.nfe import CountingScore
from repro.diffusion.samplers import table


def gauss_score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Exact score of N(0, I) data noised to sigma."""
    return -x / (1 + sigma.view(-1, *([1] * (x.ndim - 1))) ** 2)


FIXED = [name for name, spec in table.SAMPLERS.items() if not spec.adaptive]


@pytest.mark.parametrize("name", FIXED)
@pytest.mark.parametrize("n", [3, 4, 9])
def test_the_nfe_rule_is_what_is_counted(name, n):
    spec = table.get(name)
    x = 20 * torch.randn(5, 2, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    starts = torch.tensor([20.0, 5.0, 1.0, 0.5, 20.0], dtype=torch.float64)
    counted = CountingScore(gauss_score)
    out = spec.fn(counted, x, spec.sigmas(n, starts, 0.01))
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert counted.nfe == spec.nfe(n)
    assert spec.n_for_nfe(spec.nfe(n)) == n and spec.n_for_nfe(spec.nfe(n) + 1) in (n, n + 1)


@pytest.mark.parametrize("name", list(table.SAMPLERS))
def test_grids_start_at_each_sample_and_descend_to_about_sigma_min_or_zero(name):
    spec = table.get(name)
    starts = torch.tensor([30.0, 2.0], dtype=torch.float64)
    grid = spec.sigmas(6, starts, 0.01)
    assert grid.shape[0] == 2 and grid.dtype == torch.float64
    torch.testing.assert_close(grid[:, 0], starts)
    assert (grid[:, 1:] < grid[:, :-1]).all()
    assert float(grid[:, -1].max()) <= 0.01 * (1 + 1e-3)  # time grids end at sigma(eps), just above sigma_min


def test_adaptive_and_unknown_samplers_say_so():
    with pytest.raises(ValueError, match="adaptive"):
        table.get("rk45").nfe(10)
    with pytest.raises(ValueError, match="unknown sampler 'heun2'; known: karras_heun"):
        table.get("heun2")
    with pytest.raises(ValueError, match="below the minimum of 3"):
        table.get("karras_heun").n_for_nfe(2)
