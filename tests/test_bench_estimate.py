"""bench.estimate: the arithmetic of an end-to-end estimate from unit prices, and the units it times."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.estimate import estimate_rows, stage_seconds, unit_call
from repro.work import Net, Work, image_inputs

TINY = Net("tiny conv 1x4x4", lambda: nn.Conv2d(1, 2, 3, padding=1), image_inputs((1, 4, 4)))


def _work() -> list[Work]:
    return [
        Work("train", "DSM", "train", count=1000, batch=8, net=TINY),
        Work("sample", "Langevin", "forward", count=500, batch=16, net=TINY),
        Work("evaluate", "FID", "inception", count=250, batch=100),
    ]


def test_stage_seconds_are_counts_times_unit_prices():
    prices = {("train", TINY.name, 8): 0.5, ("forward", TINY.name, 16): 0.1, ("inception", "inception", 100): 2.0}
    per_stage, unpriced = stage_seconds(_work(), prices)
    # 250 Inception images at 100 a call are 3 calls (the last one partial, priced as a full one)
    assert per_stage == pytest.approx({"train": 500.0, "sample": 50.0, "evaluate": 6.0})
    assert unpriced == 0


def test_an_unpriced_unit_is_counted_not_guessed():
    per_stage, unpriced = stage_seconds(_work(), {("train", TINY.name, 8): 0.5})
    assert per_stage == {"train": 500.0}
    assert unpriced == 2
    rows = estimate_rows({"ncsn/cifar10": _work()}, {("train", TINY.name, 8): 0.5}, "fp32", "test")
    assert "2 of 3 work items unpriced" in rows[0].note and "goal <= 6 h" in rows[0].note


def test_the_paper_tier_row_sums_the_targets():
    prices = {("train", TINY.name, 8): 3.6, ("forward", TINY.name, 16): 0.0, ("inception", "inception", 100): 0.0}
    rows = estimate_rows({"a/x": _work(), "b/y": _work()[:1]}, prices, "fast", "test")
    assert [r.value for r in rows] == pytest.approx([1.0, 1.0, 2.0])  # 1000 steps x 3.6 s = 1 h each
    assert rows[-1].name == "paper tier" and rows[-1].metric == "hours end to end (fast)"


def test_a_train_unit_updates_the_weights_and_a_forward_unit_does_not():
    torch.manual_seed(0)
    calls = {}
    for kind in ("train", "forward"):
        built = []
        net = Net(TINY.name, lambda built=built: built.append(nn.Conv2d(1, 2, 3, padding=1)) or built[-1], TINY.inputs)
        call = unit_call(kind, net, 4, torch.device("cpu"), "fp32")
        before = built[0].weight.detach().clone()
        call()
        calls[kind] = not torch.equal(before, built[0].weight.detach())
    assert calls == {"train": True, "forward": False}
