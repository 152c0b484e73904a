"""ncsn/gmm (Fig. 3) at reduced particle count: annealed Langevin recovers the 0.2 / 0.8 weights, plain does not."""

from __future__ import annotations

import math

import numpy as np
import torch

from papers.ncsn.gmm import MEANS, WEIGHTS, Config, _mixtures, mode_a_weights, run_sampler, samplers
from repro import config, typed
from repro.diffusion.sde import geometric_sigmas

CFG = typed.build(Config, config.load("ncsn", "gmm", "paper"), "paper")  # T = 1000 plain, 10 x 100 annealed


def test_toy_score_uses_component_variance_sigma_squared():
    """The official toy convention: components N(mu_k, sigma^2 I), so sigma = 1 is the data score itself."""
    toy, data = _mixtures()
    x = torch.tensor([[0.5, -1.0], [3.0, 4.0], [-7.0, 2.0]], dtype=torch.float64)
    for sigma in (20.0, 3.0):
        logits = torch.log(torch.tensor(WEIGHTS, dtype=torch.float64)) - torch.cdist(
            x, torch.tensor(MEANS, dtype=torch.float64)
        ).square() / (2 * sigma**2)
        r = torch.softmax(logits, dim=1)
        want = (r @ torch.tensor(MEANS, dtype=torch.float64) - x) / sigma**2
        torch.testing.assert_close(toy.score(x, torch.full((3,), sigma, dtype=torch.float64)), want)
    torch.testing.assert_close(toy.score(x, torch.ones(3, dtype=torch.float64)), data.score(x, 0.0))


def test_geometric_levels_match_the_official_grid():
    """The annealed levels 20 -> 1 are the official np.exp(np.linspace(log b, log e, n)) to the bit."""
    s = geometric_sigmas(10, 20.0, 1.0).tolist()
    assert s == np.exp(np.linspace(math.log(20.0), math.log(1.0), 10)).tolist()
    assert len(s) == 10 and abs(s[0] - 20) < 1e-12 and abs(s[-1] - 1) < 1e-12
    assert max(abs(s[i + 1] / s[i] - 20 ** (-1 / 9)) for i in range(9)) < 1e-12


def test_weight_claim_at_reduced_particle_count():
    """600 particles, one seed: binomial s.e. ~0.016, so 0.06 is ~4 s.e.; plain Langevin sits near 0.5."""
    n = 600
    x0 = torch.rand(n, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 16 - 8
    variants = samplers(CFG)
    weights, nfes = {}, {}
    for k, name in enumerate(("langevin", "annealed")):
        x, nfes[name] = run_sampler(name, variants[name], x0, torch.Generator().manual_seed(10 + k))
        weights[name] = mode_a_weights(x.numpy()[None])[0]
    assert nfes == {"langevin": 1000, "annealed": 1000}
    assert abs(weights["annealed"] - 0.2) < 0.06
    assert abs(weights["langevin"] - 0.2) > 0.15
