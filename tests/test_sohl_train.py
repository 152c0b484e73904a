"""Sohl-Dickstein 2015: trained models' bound K against exact log-likelihoods (Gaussian and Gaussian mixture)."""

from __future__ import annotations

import math

import pytest
import torch

from papers.sohl.gaussian import GaussianDiffusion, Schedule
from papers.sohl.nets import MLP, VectorReverseNet
from repro.data.batches import TensorBatches
from repro.run import Run
from repro.train import TrainConfig, train

LN2 = math.log(2)


pytestmark = pytest.mark.usefixtures("one_thread")


def gmm_log_prob(x: torch.Tensor, means: torch.Tensor, std: float) -> torch.Tensor:
    """Equal-weight isotropic mixture, nats per example."""
    d = x.shape[1]
    sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    comp = -0.5 * sq / std**2 - 0.5 * d * math.log(2 * math.pi * std**2)
    return torch.logsumexp(comp, 1) - math.log(len(means))


def fit_and_bound(tmp_path, x_train, x_test, hidden, steps, lr, name):
    T = 8
    torch.manual_seed(0)
    net = VectorReverseNet(MLP(2, hidden, "tanh"), 2, T, 2, "per_step")
    model = GaussianDiffusion(net, Schedule(T, 1e-3, learned=False))
    torch.manual_seed(1)
    untrained = model.bound(x_test)
    run = Run("sohl", name, "smoke", {"seed": 0}, runs_root=tmp_path)
    cfg = TrainConfig(steps=steps, lr=lr, batch_size=1024, ckpt_every=steps, log_every=steps, name=name)
    model = train(run, model, lambda m, b: m.loss(b), TensorBatches(x_train, 1024, seed=0), cfg)
    torch.manual_seed(1)
    return untrained, model.bound(x_test.to(run.device)).cpu()  # trained on the run's device


def check(untrained, k, true_ll):
    gap = (k - true_ll) / LN2  # paired per example, bits
    se = gap.std().item() / math.sqrt(len(gap))
    assert gap.mean().item() <= 3 * se, f"bound above the true log-likelihood: {gap.mean():.4f} bits (se {se:.4f})"
    assert gap.mean().item() >= -0.1, f"bound {gap.mean():.4f} bits below the true log-likelihood"
    assert torch.isfinite(untrained).all()
    assert (untrained.mean() - k.mean()).item() / LN2 < -0.1  # training raised K by a clear margin


def test_gaussian_data_bound_is_tight_and_below_truth(tmp_path):
    gen = torch.Generator().manual_seed(0)
    std = torch.tensor([1.5, 0.3])
    x_train, x_test = torch.randn(5000, 2, generator=gen) * std, torch.randn(10000, 2, generator=gen) * std
    true_ll = (-0.5 * (x_test / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(1)
    untrained, k = fit_and_bound(tmp_path, x_train, x_test, [], 600, 0.05, "gauss")
    check(untrained, k, true_ll)


def test_mixture_data_bound_is_tight_and_below_truth(tmp_path):
    gen = torch.Generator().manual_seed(0)
    means, std = torch.tensor([[-0.7, 0.0], [0.7, 0.0]]), 0.6

    def draw(n):
        return means[torch.randint(0, 2, (n,), generator=gen)] + std * torch.randn(n, 2, generator=gen)

    x_train, x_test = draw(5000), draw(10000)
    untrained, k = fit_and_bound(tmp_path, x_train, x_test, [32, 32], 600, 0.01, "gmm")
    check(untrained, k, gmm_log_prob(x_test, means, std))


@pytest.mark.parametrize("bad", [{"T": 1}, {"beta1": 0.0}])
def test_schedule_rejects_bad_input(bad):
    kw = {"T": 5, "beta1": 0.01, **bad}
    with pytest.raises(ValueError, match="T >= 2"):
        Schedule(kw["T"], kw["beta1"], learned=False)
