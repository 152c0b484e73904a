"""The dense pathway's depth is a config field; its default (2 linear layers) is the net the cpu tier always built.

The recorded numbers below were printed by papers/sohl/nets.py before `dense_layers` existed (one tanh hidden
layer, hard-wired), for the cpu-tier MNIST net and the smoke CIFAR-10 net: same seed, same parameter sums, same
forward pass. Parameter init is the CPU generator's (bit-exact); the forward sums allow float reordering only.
"""

from __future__ import annotations

import pytest
import torch

from papers.sohl.nets import ImageReverseNet

CASES = {
    "mnist_cpu": {
        "kw": dict(
            shape=(1, 28, 28),
            T=1000,
            conv_layers=0,
            conv_channels=1,
            n_scales=1,
            dense_hidden=256,
            dense_out=4,
            pixel_layers=2,
            pixel_hidden=16,
            n_bumps=10,
        ),
        "params": {
            "dense.1.weight": 11.015339755864801,
            "dense.1.bias": -0.5794029836688424,
            "dense.3.weight": 11.848959192633629,
            "dense.3.bias": 3.5510823130607605,
            "pixel.0.weight": 0.6564635634422302,
            "pixel.0.bias": -0.02239692211151123,
            "pixel.2.weight": 1.4142159223556519,
            "pixel.2.bias": -0.36485910415649414,
            "readout.weight": 0.0,
            "readout.bias": 0.0,
        },
        "out": (-25.66311999806203, -29.56545971299056),
    },
    "cifar_smoke": {
        "kw": dict(
            shape=(3, 32, 32),
            T=10,
            conv_layers=1,
            conv_channels=4,
            n_scales=2,
            dense_hidden=16,
            dense_out=2,
            pixel_layers=1,
            pixel_hidden=8,
            n_bumps=3,
        ),
        "params": {
            "convs.0.convs.0.weight": -0.7475195649312809,
            "convs.0.convs.0.bias": 0.053672933019697666,
            "convs.0.convs.1.weight": -1.5500519251218066,
            "convs.0.convs.1.bias": 0.25152892246842384,
            "dense.1.weight": 0.9765162548399076,
            "dense.1.bias": -0.032915943549596705,
            "dense.3.weight": 4.074415922164917,
            "dense.3.bias": -2.7683909237384796,
            "pixel.0.weight": -1.7400129809975624,
            "pixel.0.bias": -1.3628943338990211,
            "readout.weight": 0.0,
            "readout.bias": 0.0,
        },
        "out": (-261.4329363859724, -347.67458938248456),
    },
}


def _seeded(kw: dict, dense_layers: int) -> tuple[ImageReverseNet, tuple[torch.Tensor, torch.Tensor]]:
    """The net built under seed 0, its readout (zero at init) filled from seed 1, applied to seed-2 inputs."""
    torch.manual_seed(0)
    net = ImageReverseNet(**kw, dense_layers=dense_layers)
    torch.manual_seed(1)
    with torch.no_grad():
        net.readout.weight.normal_(0, 0.1)
        net.readout.bias.normal_(0, 0.1)
    torch.manual_seed(2)
    x = torch.randn(3, *kw["shape"])
    with torch.no_grad():
        return net, net(x, torch.tensor([1, kw["T"] // 2, kw["T"]]))


@pytest.mark.parametrize("case", sorted(CASES))
def test_default_depth_is_the_old_net(case: str) -> None:
    torch.manual_seed(0)
    net = ImageReverseNet(**CASES[case]["kw"], dense_layers=2)
    sums = {k: v.double().sum().item() for k, v in net.state_dict().items()}
    assert sums == CASES[case]["params"]  # same keys, same init draws in the same order
    _, (mu, sig) = _seeded(CASES[case]["kw"], 2)
    assert (mu.double().sum().item(), sig.double().sum().item()) == pytest.approx(CASES[case]["out"], rel=1e-6)


def test_deeper_dense_pathway_has_the_reference_layout() -> None:
    """n_layers_dense_lower = 6: five hidden layers of 1000 units (tanh), then the per-pixel features."""
    kw = dict(CASES["cifar_smoke"]["kw"], dense_hidden=1000, dense_out=5)
    net, (mu, sig) = _seeded(kw, 6)
    linears = [m for m in net.dense if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(3072, 1000)] + [(1000, 1000)] * 4 + [(1000, 5120)]
    assert sum(isinstance(m, torch.nn.Tanh) for m in net.dense) == 5
    assert mu.shape == sig.shape == (3, 3, 32, 32)


def test_dense_pathway_needs_a_hidden_layer() -> None:
    with pytest.raises(ValueError, match="dense_layers >= 2"):
        ImageReverseNet(**CASES["mnist_cpu"]["kw"], dense_layers=1)
