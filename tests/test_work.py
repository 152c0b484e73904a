"""repro.work: every GPU experiment of the paper tier declares its work, and a declaration is checked."""

from __future__ import annotations

import pytest
from torch import nn

from repro import config, registry
from repro.work import Net, Work, batches, image_inputs, paper_tier

TINY = Net("tiny", lambda: nn.Identity(), image_inputs((1, 2, 2)))


def test_every_gpu_experiment_of_the_paper_tier_declares_its_work():
    expected = {
        key
        for key, exp in registry.experiments().items()
        if exp.gpu_stages and exp.name in config.load_tier(exp.paper, "paper")
    }
    work = paper_tier()
    assert set(work) == expected
    for key, items in work.items():
        exp = registry.get(key)
        assert items, key
        assert {w.stage for w in items} <= set(exp.gpu_stages), key


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(kind="backward", count=1, batch=1, net=TINY), "kind must be one of"),
        (dict(kind="train", count=-1, batch=1, net=TINY), "count >= 0"),
        (dict(kind="forward", count=1, batch=0, net=TINY), "batch >= 1"),
        (dict(kind="forward", count=1, batch=1), "needs net"),
        (dict(kind="inception", count=1, batch=1, net=TINY), "takes no net"),
    ],
)
def test_a_malformed_declaration_names_its_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Work("sample", "x", **kwargs)


def test_batches_cover_the_items():
    assert [batches(n, 100) for n in (1, 100, 101, 50000)] == [1, 1, 2, 500]
