"""NCSN RefineNet: equivalence with the official fixtures, official key layouts, strict checkpoint conversion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import FIXTURES

from repro.nets.ncsn_checkpoint import build_from_official, infer_config, load_official_into, read_official
from repro.nets.refinenet import CondInstanceNormPlus, CondRefineNetDilated, LevelScore

TINY = FIXTURES / "ncsn_refinenet_tiny.pt"


def _need(path: Path) -> Path:
    assert path.is_file(), f"official fixture {path} is missing: it ships with the repository"
    return path


@pytest.fixture(scope="module")
def tiny():
    model, optim_state = build_from_official(_need(TINY))
    io = torch.load(_need(FIXTURES / "ncsn_refinenet_tiny_io.pt"), weights_only=True)
    return model.eval(), optim_state, io


def _rel_err_per_sample(ours: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return (ours - ref).abs().flatten(1).amax(1) / ref.abs().flatten(1).amax(1)


def test_tiny_fixture_output_and_intermediates_match(tiny):
    model, _, io = tiny
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        model.get_submodule(name).register_forward_hook(lambda _m, _i, out, name=name: seen.__setitem__(name, out))
        for name in io["intermediates"]
    ]
    with torch.no_grad():
        out = model(io["x"], io["labels"])
    for h in hooks:
        h.remove()
    assert _rel_err_per_sample(out, io["output"]).max() <= 1e-5
    for name, ref in io["intermediates"].items():
        assert seen[name].shape == ref.shape, name
        assert _rel_err_per_sample(seen[name], ref).max() <= 1e-5, name


def test_labels_are_used(tiny):
    model, _, io = tiny
    with torch.no_grad():
        flipped = model(io["x"], io["labels"].flip(0))
    assert (flipped - io["output"]).abs().max() > 0.1  # the fixture reports 0.34


def test_official_adam_state_loads_into_our_parameter_order(tiny):
    model, optim_state, _ = tiny
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt.load_state_dict(optim_state)
    assert optim_state["param_groups"][0]["params"] == list(range(len(list(model.parameters()))))
    assert opt.param_groups[0]["betas"] == (0.9, 0.999) and opt.param_groups[0]["lr"] == 1e-3


@pytest.mark.parametrize(
    ("name", "channels", "ngf", "size"),
    [("ncsn_refinenet_cifar10.keys.json", 3, 128, 32), ("ncsn_refinenet_mnist.keys.json", 1, 64, 28)],
)
def test_full_config_keys_shapes_order_and_activations(name, channels, ngf, size):
    spec = json.loads(_need(FIXTURES / name).read_text())
    with torch.device("meta"):
        model = CondRefineNetDilated(channels, ngf)
        ours = [(k, list(v.shape)) for k, v in model.state_dict().items()]
        assert ours == [(e["bare_key"], e["shape"]) for e in spec["state_dict"]]
        assert sum(p.numel() for p in model.parameters()) == spec["counts"]["num_parameters_total"]
        shapes: dict[str, list[int]] = {}
        for key in spec["activation_shapes_batch1"]:
            model.get_submodule(key).register_forward_hook(
                lambda _m, _i, out, key=key: shapes.__setitem__(key, list(out.shape))
            )
        model(torch.zeros(1, channels, size, size), torch.zeros(1, dtype=torch.long))
    assert shapes == spec["activation_shapes_batch1"]


def test_cin_plus_plus_init_and_formula():
    torch.manual_seed(0)
    norm = CondInstanceNormPlus(64, 10)
    w = norm.embed.weight.detach()
    assert torch.all(w[:, 128:] == 0)
    assert abs(w[:, :128].mean().item() - 1) < 0.005 and abs(w[:, :128].std().item() - 0.02) < 0.003
    x = torch.randn(2, 64, 5, 5) * 3 + torch.randn(2, 64, 1, 1)
    y = torch.tensor([0, 7])
    g, a, b = w[y].chunk(3, dim=1)
    mu = x.mean((2, 3))
    s = (x.var((2, 3), unbiased=False) + 1e-5).sqrt()
    m, v = mu.mean(1, keepdim=True), (mu.var(1, keepdim=True, unbiased=True) + 1e-5).sqrt()
    want = g[..., None, None] * (x - mu[..., None, None]) / s[..., None, None] + b[..., None, None]
    want = want + (g * a * (mu - m) / v)[..., None, None]
    torch.testing.assert_close(norm(x, y), want, rtol=1e-5, atol=1e-5)


def test_converter_rejects_bad_layouts(tmp_path):
    state, optim_state = read_official(_need(TINY))
    model = CondRefineNetDilated(**infer_config({k[7:]: v for k, v in state.items()}))

    with pytest.raises(KeyError, match="prefix"):
        load_official_into(model, {k[7:]: v for k, v in state.items()})
    missing = {k: v for k, v in state.items() if k != "module.refine2.msf.convs.1.bias"}
    with pytest.raises(KeyError, match=r"refine2\.msf\.convs\.1\.bias"):
        load_official_into(model, missing)
    extra = {**state, "module.refine1.msf.convs.0.weight": torch.zeros(1)}
    with pytest.raises(KeyError, match=r"refine1\.msf\.convs\.0\.weight"):
        load_official_into(model, extra)
    wrong = {**state, "module.end_conv.bias": torch.zeros(4)}
    with pytest.raises(KeyError, match=r"end_conv\.bias: checkpoint \(4,\)"):
        load_official_into(model, wrong)
    as_dict = tmp_path / "dict.pth"
    torch.save({"model": state}, as_dict)
    with pytest.raises(ValueError, match="expected the official NCSN list"):
        read_official(as_dict)


def test_level_score_maps_sigma_to_nearest_level():
    sigmas = torch.exp(torch.linspace(0.0, torch.log(torch.tensor(0.01)).item(), 10))
    seen = {}

    def net(x, labels):
        seen["labels"] = labels
        return x

    LevelScore(net, sigmas)(torch.zeros(3, 1), torch.stack([sigmas[0], sigmas[9] * 1.01, sigmas[4]]))
    assert seen["labels"].tolist() == [0, 9, 4]
