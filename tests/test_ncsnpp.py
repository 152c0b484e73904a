"""NCSN++ against the official score_sde fixtures: layout, init, forward, checkpoint conversion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import FIXTURES

from repro.nets.ncsnpp import (
    NCSNpp,
    NCSNppConfig,
    cifar10_deep_ve_continuous_config,
    cifar10_ve_continuous_config,
    config_from_dict,
    config_parameter_counts,
    parameter_counts,
)
from repro.nets.ncsnpp_layers import fir_downsample_2d, fir_upsample_2d
from repro.nets.score_sde_checkpoint import (
    CheckpointMismatchError,
    ema_state_dict,
    load_score_sde_checkpoint,
    load_state_dict_exact,
    select_weights,
    strip_module_prefix,
)

TOL = 1e-5  # per sample: max |ours - ref| <= TOL * max |ref| (fixture README)


def _fixture(name: str) -> Path:
    path = FIXTURES / name
    assert path.is_file(), f"official fixture {path} is missing: it ships with the repository"
    return path


def _tiny_config() -> NCSNppConfig:
    meta = json.loads(_fixture("ncsnpp_tiny.json").read_text())
    return config_from_dict(meta["architecture_config"])


def _per_sample_rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    diff = (ours - ref).flatten(1).abs().amax(1)
    scale = ref.flatten(1).abs().amax(1)
    return (diff / scale).max().item()


def _run_with_intermediates(model: NCSNpp, x: torch.Tensor, sigma: torch.Tensor):
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        mod.register_forward_hook(lambda _m, _a, out, i=i: seen.__setitem__(f"all_modules.{i}", out))
        for i, mod in enumerate(model.all_modules)
    ]
    try:
        with torch.no_grad():
            out = model.eval()(x, sigma)
    finally:
        for h in hooks:
            h.remove()
    return out, seen


@pytest.fixture(scope="module")
def tiny_model() -> NCSNpp:
    return NCSNpp(_tiny_config())


# --------------------------------------------------------------------------------------------- layout and counts


@pytest.mark.parametrize(
    ("keys_file", "make_cfg", "total", "trainable"),
    [
        ("ncsnpp_cifar10_ve_continuous.keys.json", cifar10_ve_continuous_config, 62_758_915, 62_758_787),
        ("ncsnpp_deep_cifar10_ve_continuous.keys.json", cifar10_deep_ve_continuous_config, 107_587_075, 107_586_947),
    ],
)
def test_full_size_layout_matches_official_keys(keys_file, make_cfg, total, trainable):
    meta = json.loads(_fixture(keys_file).read_text())
    assert config_from_dict(meta["architecture_config"]) == make_cfg()
    table = meta["state_dict"]
    with torch.device("meta"):
        model = NCSNpp(make_cfg())
    ours = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()]
    assert ours == [(e["bare_key"], e["shape"], e["dtype"]) for e in table]
    grads = {name: p.requires_grad for name, p in model.named_parameters()}
    assert grads == {e["bare_key"]: e["requires_grad"] for e in table if e["kind"] == "parameter"}
    ema_order = [name for name, p in model.named_parameters() if p.requires_grad]
    official_ema = sorted((e["ema_shadow_index"], e["bare_key"]) for e in table if e["ema_shadow_index"] is not None)
    assert ema_order == [k for _, k in official_ema]
    assert config_parameter_counts(make_cfg()) == (total, trainable)


def test_tiny_counts_and_seeded_init_equal_official(tiny_model):
    assert parameter_counts(tiny_model) == (323_827, 323_811)
    torch.manual_seed(0)
    model = NCSNpp(_tiny_config())
    official = strip_module_prefix(torch.load(_fixture("ncsnpp_tiny.pt"), weights_only=True)["model"])
    ours = model.state_dict()
    assert list(ours) == list(official)
    differing = [k for k in ours if not torch.equal(ours[k], official[k])]
    assert differing == []


# --------------------------------------------------------------------------------------------- forward


def test_tiny_init_forward_and_intermediates(tiny_model):
    io = torch.load(_fixture("ncsnpp_tiny_io.pt"), weights_only=True)
    load_score_sde_checkpoint(tiny_model, _fixture("ncsnpp_tiny.pt"), "ema")
    out, seen = _run_with_intermediates(tiny_model, io["x"], io["sigmas"])
    assert _per_sample_rel_err(out, io["output"]) <= TOL
    assert set(seen) == set(io["intermediates"])
    for name, ref in io["intermediates"].items():
        assert _per_sample_rel_err(seen[name], ref) <= TOL, name


def test_trained5_model_and_ema_weights(tiny_model):
    io = torch.load(_fixture("ncsnpp_tiny_trained5_io.pt"), weights_only=True)
    ckpt = torch.load(_fixture("ncsnpp_tiny_trained5.pt"), weights_only=True)

    load_score_sde_checkpoint(tiny_model, ckpt, "model")
    out_model, _ = _run_with_intermediates(tiny_model, io["x"], io["sigmas"])
    assert _per_sample_rel_err(out_model, io["output_model_weights"]) <= TOL

    load_score_sde_checkpoint(tiny_model, ckpt, "ema")
    out_ema, seen = _run_with_intermediates(tiny_model, io["x"], io["sigmas"])
    assert _per_sample_rel_err(out_ema, io["output_ema_weights"]) <= TOL
    for name, ref in io["intermediates_ema_weights"].items():
        assert _per_sample_rel_err(seen[name], ref) <= TOL, name
    # The two weight sets are far apart, so the comparison above really tells them apart.
    assert _per_sample_rel_err(out_model, io["output_ema_weights"]) > 1e-2


def test_forward_rejects_bad_shapes(tiny_model):
    with pytest.raises(ValueError, match=r"cond \(sigma or time label\) of shape"):
        tiny_model(torch.zeros(2, 3, 16, 16), torch.ones(3))
    with pytest.raises(ValueError, match="expects x of shape"):
        tiny_model(torch.zeros(2, 3, 8, 8), torch.ones(2))


# --------------------------------------------------------------------------------------------- FIR resampling


def test_fir_box_kernel_reduces_to_average_pool_and_nearest_upsampling():
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(fir_downsample_2d(x, (1, 1)), F.avg_pool2d(x, 2))
    torch.testing.assert_close(fir_upsample_2d(x, (1, 1)), F.interpolate(x, scale_factor=2, mode="nearest"))


def test_fir_kernel_preserves_constant_interior():
    x = torch.full((1, 2, 8, 8), 3.0)
    torch.testing.assert_close(fir_upsample_2d(x, (1, 3, 3, 1))[..., 2:-2, 2:-2], torch.full((1, 2, 12, 12), 3.0))
    torch.testing.assert_close(fir_downsample_2d(x, (1, 3, 3, 1))[..., 1:-1, 1:-1], torch.full((1, 2, 2, 2), 3.0))


# --------------------------------------------------------------------------------------------- converter errors


@pytest.fixture(scope="module")
def tiny_ckpt() -> dict:
    return torch.load(_fixture("ncsnpp_tiny.pt"), weights_only=True)


def test_renamed_key_is_reported_as_missing_and_unexpected(tiny_model, tiny_ckpt):
    state = strip_module_prefix(tiny_ckpt["model"])
    state["all_modules.4.Conv_0.kernel"] = state.pop("all_modules.4.Conv_0.weight")
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_exact(tiny_model, state)
    assert "missing keys (1): ['all_modules.4.Conv_0.weight']" in str(err.value)
    assert "unexpected keys (1): ['all_modules.4.Conv_0.kernel']" in str(err.value)


def test_missing_key_and_wrong_shape_are_named(tiny_model, tiny_ckpt):
    state = strip_module_prefix(tiny_ckpt["model"])
    del state["all_modules.8.NIN_3.b"]
    state["all_modules.8.NIN_0.W"] = state["all_modules.8.NIN_0.W"].t()[:, :4]
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_exact(tiny_model, state)
    assert "all_modules.8.NIN_3.b" in str(err.value)
    assert "all_modules.8.NIN_0.W: checkpoint (32, 4)" in str(err.value)


def test_ema_list_must_match_trainable_parameters(tiny_model, tiny_ckpt):
    shadow = list(tiny_ckpt["ema"]["shadow_params"])
    base = strip_module_prefix(tiny_ckpt["model"])
    with pytest.raises(CheckpointMismatchError, match="215 tensors but the model has 216"):
        ema_state_dict(tiny_model, shadow[:-1], base)
    shadow[0], shadow[1] = shadow[1], shadow[0]
    with pytest.raises(CheckpointMismatchError, match=r"shadow_params\[0\] -> all_modules.1.weight"):
        ema_state_dict(tiny_model, shadow, base)


def test_prefix_handling_and_weight_choice(tiny_model, tiny_ckpt):
    mixed = dict(tiny_ckpt["model"])
    mixed["sigmas"] = mixed.pop("module.sigmas")
    with pytest.raises(CheckpointMismatchError, match="mixes keys"):
        strip_module_prefix(mixed)
    with pytest.raises(ValueError, match="'model' or 'ema'"):
        select_weights(tiny_ckpt, "latest", tiny_model)
    ema = select_weights(tiny_ckpt, "ema", tiny_model)
    assert torch.equal(ema["all_modules.0.W"], tiny_ckpt["model"]["module.all_modules.0.W"])
    assert ema["sigmas"].dtype == torch.float64


def test_config_from_dict_rejects_unknown_or_unsupported_values():
    with pytest.raises(ValueError, match="unknown key 'nf_typo'"):
        config_from_dict({"nf_typo": 3})
    with pytest.raises(ValueError, match="resblock_type='ddpm' is not supported"):
        config_from_dict({"resblock_type": "ddpm"})
    with pytest.raises(ValueError, match="embedding_type='learned'"):
        config_from_dict({"embedding_type": "learned"})
    assert config_from_dict({"progressive": "Output_Skip"}).progressive == "output_skip"


def test_model_only_checkpoint_loads_raw_weights_but_not_ema(tiny_model, tiny_ckpt):
    model_only = {"model": tiny_ckpt["model"]}
    load_score_sde_checkpoint(tiny_model, model_only, "model")
    with pytest.raises(CheckpointMismatchError, match=r"missing top-level keys \['ema'\]"):
        load_score_sde_checkpoint(tiny_model, model_only, "ema")
