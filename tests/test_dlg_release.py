"""The DMCMC classifier releases (`logs/CIFAR10/200.pt`, `logs/CELEBAHQ/100.pt`): strict loading from the official
layout, outputs equal to a forward computed from the raw tensors, clear errors, and the paper tier's wiring."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from papers.dlg.convert import KEY_MAP, load_dmcmc_classifier, read_dmcmc_checkpoint, write_dmcmc_stand_in
from repro import check, config


def _official_layout(path, pool_strides: tuple[int, ...], seed: int = 1) -> dict[str, torch.Tensor]:
    """A checkpoint as the notebook saves it, with random tensors of the notebooks' shapes (the widths are fixed)."""
    g = torch.Generator().manual_seed(seed)
    shapes = {"conv1": (32, 3, 3, 3), "conv2": (64, 32, 3, 3), "conv3": (128, 64, 3, 3), "conv4": (256, 128, 3, 3)}
    net = {}
    for name, shape in shapes.items():
        net[f"{name}.weight"] = torch.randn(shape, generator=g) * (2 / (shape[1] * 9)) ** 0.5
        net[f"{name}.bias"] = torch.randn(shape[0], generator=g) * 0.1
    net["fc.weight"] = torch.randn(1000, 1024, generator=g) / 32
    net["fc.bias"] = torch.randn(1000, generator=g) * 0.1
    torch.save({"epoch": 200, "opt": {"state": {}, "param_groups": []}, "net": net}, path)
    return net


def _reference_forward(net: dict[str, torch.Tensor], x: torch.Tensor, strides: tuple[int, ...]) -> torch.Tensor:
    """The notebooks' forward from the raw tensors: conv 3x3 pad 1, ReLU, average pool of kernel 2 and `stride`."""
    for i, stride in enumerate(strides, start=1):
        x = F.conv2d(x, net[f"conv{i}.weight"], net[f"conv{i}.bias"], padding=1)
        x = F.avg_pool2d(F.relu(x), kernel_size=2, stride=stride)
    return F.linear(x.flatten(1), net["fc.weight"], net["fc.bias"])


@pytest.mark.parametrize(("arch", "side", "strides"), [("cifar10", 32, (2, 2, 2, 2)), ("celebahq", 256, (4, 4, 4, 2))])
def test_release_layout_loads_and_matches_the_reference_forward(tmp_path, arch, side, strides):
    path = tmp_path / "release.pt"
    net = _official_layout(path, strides)
    model = load_dmcmc_classifier(path, arch)
    x = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), _reference_forward(net, x, strides), rtol=1e-5, atol=1e-5)


def test_key_map_covers_exactly_the_official_keys(tmp_path):
    net = _official_layout(tmp_path / "a.pt", (2, 2, 2, 2))
    assert set(KEY_MAP) == set(net)


def test_missing_unexpected_and_misshapen_keys_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "200.pt"
    net = _official_layout(path, (2, 2, 2, 2))
    bad = dict(net)
    bad["module.fc.weight"] = bad.pop("fc.weight")
    torch.save({"epoch": 1, "opt": {}, "net": bad}, path)
    with pytest.raises(ValueError, match=r"200\.pt.*missing \['fc.weight'\], unexpected \['module.fc.weight'\]"):
        load_dmcmc_classifier(path, "cifar10")
    bad = dict(net, **{"fc.weight": torch.zeros(10, 1024)})
    torch.save({"epoch": 1, "opt": {}, "net": bad}, path)
    with pytest.raises(ValueError, match=r"200\.pt.*fc.weight: \(10, 1024\) vs \(1000, 1024\)"):
        load_dmcmc_classifier(path, "cifar10")
    torch.save(net, path)  # a bare state dict, not the notebook's dict
    with pytest.raises(ValueError, match=r"200\.pt: expected a dict with keys"):
        load_dmcmc_classifier(path, "cifar10")
    with pytest.raises(FileNotFoundError, match="DMCMC classifier checkpoint not found"):
        load_dmcmc_classifier(tmp_path / "absent.pt")


def test_the_arch_not_the_file_decides_the_pooling(tmp_path):
    """Both releases have the same keys and shapes: the configured arch alone decides the forward."""
    path = tmp_path / "100.pt"
    net = _official_layout(path, (4, 4, 4, 2))
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        small = load_dmcmc_classifier(path, "cifar10")(x)
    assert torch.allclose(small, _reference_forward(net, x, (2, 2, 2, 2)), atol=1e-5)


def test_stand_in_has_the_release_layout(tmp_path):
    dest = write_dmcmc_stand_in("celebahq", tmp_path / "dmcmc/logs/CELEBAHQ/100.pt")
    ckpt = read_dmcmc_checkpoint(dest)
    assert set(ckpt) == {"epoch", "opt", "net"} and set(ckpt["net"]) == set(KEY_MAP)
    assert set(ckpt["opt"]) == {"state", "param_groups"}
    load_dmcmc_classifier(dest, "celebahq")


@pytest.mark.parametrize(
    ("exp", "item"), [("cifar10", "dlg_cifar10_classifier"), ("celebahq", "dlg_celebahq_classifier")]
)
def test_paper_tier_uses_the_release_at_its_canonical_place(exp, item):
    cfg = config.load_tier("dlg", "paper")[exp]
    assert cfg["classifier"]["source"] == "release"
    assert cfg["classifier"]["checkpoint"] == check.ITEMS[item].rel
    assert item in cfg["needs"] and "pytorch_fid_inception" in cfg["needs"]
    assert (cfg["fid_protocol"], cfg["jpeg_quality"]) == ("pytorch-fid", None)  # samples stay lossless


def test_only_a_pytorch_fid_row_meets_the_papers_claims():
    """The paper's protocol is pytorch-fid; its JPEG step is an option, so rows with or without it match."""
    from repro import claims

    cifar = [c for c in claims.load("dlg") if c.experiment == "cifar10"]
    setting = (
        "integrator=kar1;dlg=on;budget=10;n_skip=2;N=5;fid_protocol={};jpeg={};reference=cifar10-train-n50000-uint8"
    )
    torch_fidelity = {"dataset": "cifar10", "metric": "fid", "setting": setting.format("torch-fidelity", "off")}
    lossless = {"dataset": "cifar10", "metric": "fid_pytorch_fid", "setting": setting.format("pytorch-fid", "off")}
    jpeg = dict(lossless, setting=setting.format("pytorch-fid", "75"))
    assert not [c.id for c in cifar if c.matches(torch_fidelity)]
    for row in (lossless, jpeg):
        assert {c.id for c in cifar if c.matches(row)} == {"dlg.v1.cifar.nfe10", "dlg.icml.cifar.nfe10"}
