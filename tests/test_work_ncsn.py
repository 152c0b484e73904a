"""ncsn's declared GPU work (`repro.work`) at the paper tier: the counts derived by hand from
papers/ncsn/configs/paper.yaml and defaults.yaml, and every declared network runs its inputs on the CPU."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import run_declared_net

from repro import config, registry, typed
from repro.work import Work

EXPERIMENTS = ("cifar10", "celeba", "mnist", "fig1mnist", "fig1cifar10")
REFINENET_128 = "NCSN CondRefineNetDilated ngf 128 3x32x32 L=10"
L, T = 10, 100  # n_levels (defaults.yaml), sampling.n_steps_each (paper.yaml)


def _paper_cfg(name: str, **tier: object):
    exp = registry.experiments(("ncsn",))[f"ncsn/{name}"]
    raw = config.load_tier("ncsn", "paper", **tier)[name]
    return exp, typed.build(exp.config_class(), raw, f"ncsn paper tier: {name}")


def _work(name: str, **tier: object) -> list[Work]:
    exp, cfg = _paper_cfg(name, **tier)
    return exp.work(cfg)


def _table(units: list[Work]) -> list[tuple[str, str, int, int, str | None]]:
    return [(w.stage, w.kind, w.count, w.batch, w.net.name if w.net else None) for w in units]


def test_cifar10() -> None:
    candidates = (200000 - 1) // 5000 + 1  # kept every 5000 steps before the last, plus the final weights: 40
    assert candidates == 40
    assert _table(_work("cifar10")) == [
        ("train", "train", 200000, 128, REFINENET_128),
        ("select", "forward", candidates * (1000 // 1000) * L * T, 1000, REFINENET_128),
        ("select", "inception", candidates * 1000, 100, None),
        ("select", "inception", 50000, 100, None),  # CIFAR-10 train statistics, computed once then cached
        ("sample", "forward", 50000 // 1000 * L * T, 1000, REFINENET_128),
        ("sample", "forward", L * T, 20 * 20, REFINENET_128),  # inpainting: 20 refs x 20 completions at once
        ("evaluate", "inception", 50000, 100, None),  # IS and FID in one pass; the reference is cached by select
        ("evaluate", "forward", L, 500, REFINENET_128),  # held-out DSM, test_dsm_n defaults to 500
    ]


def test_cifar10_variants() -> None:
    """A statistics file replaces the reference pass; the official checkpoint replaces training."""
    exp, cfg = _paper_cfg("cifar10")
    units = exp.work(dataclasses.replace(cfg, fid_stats="fid_stats_cifar10_train.npz"))
    assert [w.count for w in units if w.kind == "inception"] == [40 * 1000, 50000]
    units = exp.work(dataclasses.replace(cfg, official_checkpoint="ncsn/run/logs/cifar10"))
    assert [w.kind for w in units].count("train") == 0 and len(units) == 7


def test_cifar10_rehearsal(tmp_path: Path) -> None:
    """rehearsal.yaml: steps 2, keep_every 1 -> candidates at step 1 and the final 2; T = 1; 4 samples in one batch;
    cifar10 absent under `data_root`, so the 32-image stand-in is the FID reference."""
    units = _table(_work("cifar10", rehearsal=True, data_root=tmp_path))
    assert units[:4] == [
        ("train", "train", 2, 4, REFINENET_128),
        ("select", "forward", 2 * 1 * L * 1, 4, REFINENET_128),
        ("select", "inception", 2 * 4, 100, None),
        ("select", "inception", 32, 100, None),
    ]


def test_celeba() -> None:
    assert _table(_work("celeba")) == [
        ("train", "train", 200000, 128, REFINENET_128),
        ("sample", "forward", 64 // 64 * L * T, 64, REFINENET_128),
        ("sample", "forward", L * T, 20 * 20, REFINENET_128),
        ("evaluate", "forward", L, 500, REFINENET_128),
    ]


def test_mnist() -> None:
    ncsn, base = "NCSN CondRefineNetDilated ngf 64 1x28x28 L=10", "NCSN CondRefineNetDilated ngf 64 1x28x28 L=1"
    seeds, sample_batches = 3, 10000 // 500
    assert _table(_work("mnist")) == [
        ("train", "train", seeds * 200000, 128, ncsn),
        ("train", "train", seeds * 200000, 128, base),
        ("sample", "forward", seeds * sample_batches * L * T, 500, ncsn),
        ("sample", "forward", seeds * sample_batches * 1000, 500, base),  # baseline.n_steps = 1000 = L x T
    ]


@pytest.mark.parametrize(("name", "shape"), [("fig1mnist", "1x16x16"), ("fig1cifar10", "3x32x32")])
def test_fig1(name: str, shape: str) -> None:
    net = f"NCSN ResScore nef 32 {shape}"
    assert _table(_work(name)) == [("train", "train", 3 * 50000, 128, net)] * 2  # raw and perturbed, 3 seeds each
    assert [w.what.split(" on ")[1].split()[0] for w in _work(name)] == ["raw", "perturbed"]


def test_units_are_in_gpu_stages() -> None:
    for name in EXPERIMENTS:
        exp, cfg = _paper_cfg(name)
        assert {w.stage for w in exp.work(cfg)} <= set(exp.gpu_stages), name


def test_every_net_runs_its_inputs() -> None:
    """Each distinct network (by name) builds and maps its inputs at batch 2 to a score of the image's shape."""
    nets = {w.net.name: w.net for name in EXPERIMENTS for w in _work(name) if w.net is not None}
    assert len(nets) == 5
    torch.manual_seed(0)
    for name, net in nets.items():
        out, args = run_declared_net(net)
        assert isinstance(out, torch.Tensor) and out.shape == args[0].shape, name
        assert torch.isfinite(out).all(), name
