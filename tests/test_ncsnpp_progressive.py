"""NCSN++ with progressive skip paths (score_sde's CelebA-HQ-256 layout) against the official fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from repro.nets.ncsnpp import NCSNpp, NCSNppConfig, celebahq_256_ve_continuous_config, config_from_dict
from repro.nets.ncsnpp_layers import fir_conv_downsample_2d, fir_downsample_2d, fir_upsample_2d, fir_upsample_conv_2d
from repro.nets.score_sde_checkpoint import load_score_sde_checkpoint, strip_module_prefix

NAME = "ncsnpp_progressive_tiny"
TOL = 1e-5  # per sample: max |ours - ref| <= TOL * max |ref| (fixture README)


def fixture_config(folder: Path, name: str) -> tuple[NCSNppConfig, dict]:
    """Our config from a fixture's JSON (its model config plus the data fields the network reads)."""
    meta = json.loads((folder / f"{name}.json").read_text())
    data = meta["data"]
    values = {**meta["model_config"], "image_size": data["image_size"], "num_channels": data["num_channels"]}
    return config_from_dict({**values, "centered": data["centered"]}), meta


def per_sample_rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    diff = (ours - ref).flatten(1).abs().amax(1)
    return (diff / ref.flatten(1).abs().amax(1)).max().item()


def seeded_perturbed_state(cfg: NCSNppConfig, seed: int) -> dict[str, torch.Tensor]:
    """The fixture's weights recipe: seeded upstream init, then + 0.02 N(0, 1) per parameter in order."""
    torch.manual_seed(seed)
    model = NCSNpp(cfg)
    gen = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=gen))
    return model.state_dict()


def test_config_is_the_celebahq_256_config_scaled_down(official_fixtures):
    cfg, _ = fixture_config(official_fixtures, NAME)
    small = {"image_size": 32, "nf": 16, "ch_mult": (1, 1, 2, 2), "num_res_blocks": 1, "attn_resolutions": (16,)}
    assert cfg == celebahq_256_ve_continuous_config(**small)
    assert (cfg.progressive, cfg.progressive_input, cfg.progressive_combine) == ("output_skip", "input_skip", "sum")


def test_loads_strictly_and_matches_official_output(official_fixtures):
    cfg, _ = fixture_config(official_fixtures, NAME)
    model = load_score_sde_checkpoint(NCSNpp(cfg), official_fixtures / f"{NAME}.pt", "model")
    io = torch.load(official_fixtures / f"{NAME}_io.pt", weights_only=True)
    with torch.no_grad():
        out = model.eval()(io["x"], io["cond"])
    assert per_sample_rel_err(out, io["output"]) <= TOL


def assert_seeded_init_matches(folder, name: str) -> None:
    """Our weights built from the fixture's seed equal the official ones bit for bit."""
    cfg, meta = fixture_config(folder, name)
    ours = seeded_perturbed_state(cfg, meta["seed"])
    official = strip_module_prefix(torch.load(folder / f"{name}.pt", weights_only=True)["model"])
    assert list(ours) == list(official)
    # `sigmas` may differ in the last ulp (exp of the same float64 grid); no forward pass of the fixtures reads it.
    torch.testing.assert_close(ours.pop("sigmas"), official.pop("sigmas"), rtol=1e-15, atol=0)
    assert [k for k in ours if not torch.equal(ours[k], official[k])] == []


def test_seeded_init_reproduces_the_official_weights(official_fixtures):
    assert_seeded_init_matches(official_fixtures, NAME)


@pytest.mark.parametrize(
    ("progressive", "progressive_input", "combine", "fir"),
    [
        ("output_skip", "input_skip", "cat", True),
        ("residual", "residual", "sum", True),
        ("residual", "input_skip", "cat", False),
        ("output_skip", "residual", "sum", False),
    ],
)
def test_other_progressive_variants_build_and_use_every_module(progressive, progressive_input, combine, fir):
    cfg = NCSNppConfig(
        nf=8,
        ch_mult=(1, 2, 2),
        num_res_blocks=1,
        attn_resolutions=(8,),
        image_size=16,
        init_scale=0.5,
        fir=fir,
        progressive=progressive,
        progressive_input=progressive_input,
        progressive_combine=combine,
    )
    torch.manual_seed(0)
    model = NCSNpp(cfg).eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        out = model(x, torch.tensor([0.1, 10.0]))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_fused_fir_convolutions_equal_resample_then_conv():
    torch.manual_seed(0)
    x, w = torch.randn(2, 3, 8, 8), torch.randn(5, 3, 3, 3)
    # A box kernel makes the FIR upsampling nearest-neighbour: the fused op is exact everywhere.
    box = fir_upsample_conv_2d(x, w, (1, 1))
    torch.testing.assert_close(box, F.conv2d(fir_upsample_2d(x, (1, 1)), w, padding=1), rtol=1e-5, atol=1e-5)
    # The [1, 3, 3, 1] kernel pads once for the fused op, so only the interior agrees with the two-step version.
    up = fir_upsample_conv_2d(x, w, (1, 3, 3, 1))
    ref_up = F.conv2d(fir_upsample_2d(x, (1, 3, 3, 1)), w, padding=1)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], ref_up[..., 2:-2, 2:-2], rtol=1e-5, atol=1e-5)
    down = fir_conv_downsample_2d(x, w, (1, 3, 3, 1))
    ref_down = fir_downsample_2d(F.conv2d(x, w, padding=1), (1, 3, 3, 1))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], ref_down[..., 1:-1, 1:-1], rtol=1e-5, atol=1e-5)


def test_unknown_progressive_names_are_rejected():
    with pytest.raises(ValueError, match="progressive='skip'"):
        NCSNppConfig(progressive="skip")
    with pytest.raises(ValueError, match="progressive_combine='max'"):
        NCSNppConfig(progressive_combine="max")
