"""DDPM++ (positional embedding, no FIR, centred data) and score_sde's sub-VP conventions, against the fixture."""

from __future__ import annotations

import dataclasses
import math

import torch
from test_ncsnpp_progressive import assert_seeded_init_matches, fixture_config, per_sample_rel_err

from repro.diffusion.sde import SubVPSDE
from repro.nets.ncsnpp import NCSNpp, NCSNppConfig, cifar10_ddpmpp_continuous_config
from repro.nets.ncsnpp_layers import positional_embedding
from repro.nets.score_sde_checkpoint import load_score_sde_checkpoint
from repro.nets.score_sde_score import vp_continuous_score

NAME = "ddpmpp_subvp_tiny"
TOL = 1e-5


def _loaded(folder) -> tuple[NCSNpp, dict]:
    cfg, _ = fixture_config(folder, NAME)
    model = load_score_sde_checkpoint(NCSNpp(cfg), folder / f"{NAME}.pt", "model").eval()
    return model, torch.load(folder / f"{NAME}_io.pt", weights_only=True)


def test_config_is_the_cifar10_ddpmpp_config_scaled_down(official_fixtures):
    cfg, meta = fixture_config(official_fixtures, NAME)
    small = {"image_size": 16, "nf": 16, "ch_mult": (1, 2, 2), "num_res_blocks": 1, "attn_resolutions": (8,)}
    assert cfg == cifar10_ddpmpp_continuous_config(**small)
    assert meta["training"] == {"sde": "subvpsde", "continuous": True}


def test_loads_strictly_and_matches_official_raw_output(official_fixtures):
    model, io = _loaded(official_fixtures)
    with torch.no_grad():
        out = model(io["x"], io["cond"])
    assert per_sample_rel_err(out, io["output"]) <= TOL
    # The time label matters: the reversed labels give a clearly different output.
    with torch.no_grad():
        swapped = model(io["x"], io["cond"].flip(0))
    assert per_sample_rel_err(swapped, io["output"]) > 1e-3


def test_seeded_init_reproduces_the_official_weights(official_fixtures):
    assert_seeded_init_matches(official_fixtures, NAME)


def test_subvp_score_is_minus_output_over_marginal_std(official_fixtures):
    model, io = _loaded(official_fixtures)
    sde = SubVPSDE()
    t = io["cond"][1:] / 999.0  # label 0 is t = 0, where std = 0
    x = io["x"][1:]
    with torch.no_grad():
        score = vp_continuous_score(model, sde)(x, t)
    std = (-torch.expm1(-(0.5 * t.double() ** 2 * (20.0 - 0.1) + 0.1 * t.double()))).float()
    expected = -io["output"][1:] / std.reshape(-1, 1, 1, 1)
    assert per_sample_rel_err(score, expected) <= TOL


def test_positional_embedding_values():
    emb = positional_embedding(torch.tensor([0.0, 3.0]), 8)
    assert emb.shape == (2, 8)
    torch.testing.assert_close(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    freqs = torch.tensor([10000 ** (-i / 3) for i in range(4)])
    torch.testing.assert_close(emb[1], torch.cat([torch.sin(3 * freqs), torch.cos(3 * freqs)]))
    assert positional_embedding(torch.tensor([1.0]), 7).shape == (1, 7)


def test_positional_model_with_scale_by_sigma_divides_by_the_sigma_table():
    cfg = NCSNppConfig(
        nf=8,
        ch_mult=(1, 2),
        num_res_blocks=1,
        attn_resolutions=(),
        image_size=8,
        init_scale=1.0,
        embedding_type="positional",
        fir=False,
        progressive_input="none",
        num_scales=10,
    )
    torch.manual_seed(0)
    model = NCSNpp(cfg).eval()
    x, labels = torch.rand(2, 3, 8, 8), torch.tensor([2.0, 7.0])
    with torch.no_grad():
        scaled = model(x, labels)
        model.cfg = dataclasses.replace(cfg, scale_by_sigma=False)
        raw = model(x, labels)
    sigmas = torch.tensor([math.exp(v) for v in torch.linspace(math.log(50), math.log(0.01), 10).tolist()])
    torch.testing.assert_close(scaled, raw / sigmas[[2, 7]].reshape(-1, 1, 1, 1))
