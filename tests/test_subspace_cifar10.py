"""subspace CIFAR-10 experiments with a sub-VP DDPM++ full model: data coordinates, offsets, time scores."""

from __future__ import annotations

import pytest
import torch

from papers.subspace import cifar10
from papers.subspace.method import implicit_score
from papers.subspace.operators import down, up
from repro.config import load
from repro.diffusion.sde import SubVPSDE, sigma_score, time_score
from repro.typed import ConfigTypeError, build


def _cfg(experiment: str) -> cifar10.Config:
    return build(cifar10.Config, load("subspace", experiment, "smoke"), "test")


def test_offset_maps_the_projected_centred_data_onto_the_subspace_models_data():
    """Sheet §2.5: down^k(2x − 1) + (2^k − 1) = 2·down^k(x) − 1, the subspace model's centred training data."""
    cfg = _cfg("cifar10ddpmppdeep")
    x = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    for level in (1, 2):
        projected = down(cifar10._data(cfg, x), level)
        torch.testing.assert_close(projected + cifar10._offset(cfg, level), cifar10._data(cfg, x, level))
    assert cifar10._offset(_cfg("cifar10deep"), 2) == 0.0  # VE data in [0, 1]: no offset


def test_time_score_inverts_sigma_score():
    sde = SubVPSDE(0.1, 20.0)

    def score_t(x, t):
        return -x * (1 + t.reshape(-1, 1, 1, 1)) + torch.sin(x)

    x = torch.randn(4, 3, 2, 2, dtype=torch.float64)
    t = torch.tensor([1e-3, 0.2, 0.5, 0.99], dtype=torch.float64)
    torch.testing.assert_close(time_score(sde, sigma_score(sde, score_t))(x, t), score_t(x, t))


def test_implicit_score_with_offset_is_the_official_sub_vp_form():
    """In x_t coordinates the official SubspaceScore gives up(s_sub(down x + c α)) + (P x − x)/(α²σ⊥² + std²) (as a
    score, −output/std); ours is the VE-coordinate form with offset c, mapped back with `time_score`."""
    sde, c, sp = SubVPSDE(0.1, 20.0), 1.0, 0.15

    def sub_t(y, t):  # a sub-VP time score in the subspace model's coordinates
        return -(y - 0.3) / (1 + t.reshape(-1, 1, 1, 1))

    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    t = torch.tensor([0.4, 0.4], dtype=torch.float64)
    alpha, std = sde.alpha(t).reshape(-1, 1, 1, 1), sde.std(t).reshape(-1, 1, 1, 1)
    px = up(down(x, 1), 1)
    official = up(sub_t(down(x, 1) + c * alpha, t), 1) + (px - x) / (alpha**2 * sp**2 + std**2)
    ours = time_score(sde, implicit_score(sigma_score(sde, sub_t), 1, sp, offset=c))(x, t)
    torch.testing.assert_close(ours, official)


def test_fid_against_a_stats_file_is_named_in_the_arms_protocol(tmp_path, monkeypatch):
    """`fid_stats`: score_sde's statistics file (not the train split) is the FID reference, named in the protocol."""
    import dataclasses

    import numpy as np

    import repro.metrics.fidelity as fidelity
    from repro.metrics.fid_stats import FidStats
    from repro.run import Run

    features = np.random.default_rng(0).normal(size=(50, 2048))
    np.savez(tmp_path / "cifar10_stats.npz", pool_3=features)
    cfg = dataclasses.replace(_cfg("cifar10"), fid_stats="cifar10_stats.npz")
    run = Run("subspace", "cifar10", "paper", cfg, runs_root=tmp_path / "runs", data_root=tmp_path)
    seen = {}

    def fake_metrics(samples, reference, **kw):
        seen["reference"] = reference
        return [{"metric": "fid", "value": 1.0, "stderr": None}]

    monkeypatch.setattr(fidelity, "fidelity_metrics", fake_metrics)
    quality, protocol = cifar10._fidelity(run)
    assert quality(np.zeros((2, 32, 32, 3), np.uint8)) == {"fid": (1.0, None)}
    assert isinstance(seen["reference"], FidStats) and seen["reference"].source == "score_sde"
    assert protocol == {"reference": seen["reference"].name}


def test_a_bpd_rule_without_arms_fails_at_load_naming_the_key():
    """`bpd_rules` must name a rule of the config's cuts (`div<threshold>` or `fixed`): a misspelt one would leave
    the bits/dim of the subspace arms unmeasured without a word."""
    raw = {**load("subspace", "cifar10ddpmppdeep", "smoke"), "bpd_rules": ["div0.005"]}
    with pytest.raises(ConfigTypeError, match=r"test: bpd_rules: \['div0.005'\] name no arm rule .*'div0.003'"):
        build(cifar10.Config, raw, "test")
    assert build(cifar10.Config, {**raw, "bpd_rules": ["div0.003", "fixed"]}, "test").bpd_rules == ("div0.003", "fixed")
