"""The GPU work the sohl image experiments declare at the paper tier (`work(cfg)`, repro/work.py).

Expected counts are worked out by hand from papers/sohl/configs/paper.yaml (over defaults.yaml), so a change of
either the declaration or the config shows here. Per experiment: training steps; ancestral sampling, T - 1 network
calls per sample batch; the bound K, eval_t = 10 steps per test image in one call of 10 x eval_batch images per
eval batch (chunks of 50 steps); the posterior figure, two samplings of T - 1 calls on 4 test images.
"""

from __future__ import annotations

import pytest
import torch

from repro import config, registry, typed
from repro.work import Work

EXPERIMENTS = ("mnist", "cifar10", "deadleaves", "bark")


def paper_work(name: str) -> list[Work]:
    exp = registry.get(f"sohl/{name}")
    raw = config.load_tier("sohl", "paper")[name]
    return exp.work(typed.build(exp.config_class(), raw, f"sohl paper: {name}"))


def table(work: list[Work]) -> list[tuple[str, str, int, int]]:
    return [(w.stage, w.kind, w.count, w.batch) for w in work]


EXPECTED = {
    # T 1000; train 500000 x 200; 10000 samples by 1000; 10000 test images by 500, eval_t 10
    "mnist": [
        ("train", "train", 500000, 200),
        ("sample", "forward", 10000 // 1000 * (1000 - 1), 1000),
        ("evaluate", "forward", 10000 // 500 * 1, 10 * 500),
        ("evaluate", "forward", 2 * (1000 - 1), 4),
    ],
    # T 1000; train 500000 x 200; 64 samples by 64; 10000 test images by 500, eval_t 10
    "cifar10": [
        ("train", "train", 500000, 200),
        ("sample", "forward", 64 // 64 * (1000 - 1), 64),
        ("evaluate", "forward", 10000 // 500 * 1, 10 * 500),
        ("evaluate", "forward", 2 * (1000 - 1), 4),
    ],
    # T 1000; train 200000 x 128; 1000 samples by 500; 10000 test images by 500, eval_t 10
    "deadleaves": [
        ("train", "train", 200000, 128),
        ("sample", "forward", 1000 // 500 * (1000 - 1), 500),
        ("evaluate", "forward", 10000 // 500 * 1, 10 * 500),
        ("evaluate", "forward", 2 * (1000 - 1), 4),
    ],
    # T 500; train 200000 x 32; 16 samples by 16; 2000 test images by 100, eval_t 10
    "bark": [
        ("train", "train", 200000, 32),
        ("sample", "forward", 16 // 16 * (500 - 1), 16),
        ("evaluate", "forward", 2000 // 100 * 1, 10 * 100),
        ("evaluate", "forward", 2 * (500 - 1), 4),
    ],
}

SHAPES = {"mnist": "1x28x28", "cifar10": "3x32x32", "deadleaves": "1x32x32", "bark": "1x128x128"}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_paper_counts(name: str) -> None:
    work = paper_work(name)
    assert table(work) == EXPECTED[name]
    nets = {w.net.name for w in work}
    assert len(nets) == 1  # one reverse network serves every stage
    assert f" {SHAPES[name]} " in nets.pop()


def test_net_names_tell_the_experiments_apart() -> None:
    names = {name: paper_work(name)[0].net.name for name in EXPERIMENTS}
    assert len(set(names.values())) == len(EXPERIMENTS)
    assert "conv 6x100 3 scales, dense 6x1000->5, pixel 3x100, 10 bumps" in names["cifar10"]
    assert "T=500 conv 4x64 4 scales, no dense" in names["bark"]
    assert "no conv, dense 2x1000->5, pixel 4x100" in names["mnist"]


def test_exact_bound_chunks_and_small_splits() -> None:
    """eval_t 0 sums all T - 1 steps in chunks of 50 (the last partial one priced as full); batches never exceed
    what runs (fewer samples or test images than one batch)."""
    exp = registry.get("sohl/deadleaves")
    raw = config.overlay(config.load_tier("sohl", "paper")["deadleaves"], {"eval_t": 0, "n_test": 300})
    raw = config.overlay(raw, {"n_samples": 100, "sample_batch": 500})
    w = exp.work(typed.build(exp.config_class(), raw, "modified"))
    assert table(w)[1:] == [
        ("sample", "forward", 1 * 999, 100),
        ("evaluate", "forward", 1 * -(-999 // 50), 50 * 300),
        ("evaluate", "forward", 2 * 999, 4),
    ]


def test_every_net_runs_at_batch_2() -> None:
    """Each declared network builds and takes its inputs: (z_mu, z_sigma) shaped like the images, as the sampler
    and the bound use them."""
    torch.manual_seed(0)
    seen = set()
    for name in EXPERIMENTS:
        for w in paper_work(name):
            if w.net is None or w.net.name in seen:
                continue
            seen.add(w.net.name)
            net = w.net.build()
            x, t = w.net.inputs(2, torch.device("cpu"))
            assert t.dtype == torch.long and int(t.min()) >= 2 and int(t.max()) <= net.readout.T
            with torch.no_grad():
                out = net(x, t)
            assert isinstance(out, tuple) and len(out) == 2
            assert all(isinstance(o, torch.Tensor) and o.shape == x.shape for o in out)
    assert len(seen) == len(EXPERIMENTS)
