"""ncsn/mnist: seeds train separate nets in one run folder; arm rows and paired differences are the right statistics."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from papers.ncsn.mnist import QUALITY, Config, arm_rows, difference_rows, net_name, real_subset, seed_runs
from repro import config, typed
from repro.metrics.sanity import ranking_violations
from repro.run import Run, format_setting


def _run(tmp_path: Path, seed: int = 5) -> Run:
    cfg = typed.build(Config, {**config.load("ncsn", "mnist", "smoke"), "seed": seed}, "smoke")
    return Run("ncsn", "mnist", "smoke", cfg, runs_root=tmp_path / "runs")


def test_seed_runs_share_the_folder_and_differ_only_in_seed(tmp_path):
    run = _run(tmp_path)
    views = seed_runs(run)
    assert [r.seed for r in views] == list(range(5, 5 + run.cfg.seeds))
    assert all(r.root == run.root for r in views)
    assert run.seed == 5  # the run itself is untouched
    assert len({net_name("ncsn", r) for r in views} | {net_name("baseline", r) for r in views}) == 2 * len(views)


def _per_seed(scores: list[float]) -> list[dict[str, float]]:
    return [{"is_lenet": v} for v in scores]


def test_arm_rows_are_mean_and_stderr_over_seeds(tmp_path):
    cfg = _run(tmp_path).cfg
    rows = {r.metric: r for r in arm_rows(cfg, "ncsn", _per_seed([1.0, 2.0, 6.0]), [0, 1, 2])}
    assert set(rows) == set(QUALITY)
    assert rows["is_lenet"].value == pytest.approx(3.0)
    assert rows["is_lenet"].stderr == pytest.approx(np.std([1.0, 2.0, 6.0], ddof=1) / math.sqrt(3))
    assert rows["is_lenet"].seed == "0+1+2"


def test_difference_is_paired_by_seed_and_z_is_in_stderr_units(tmp_path):
    cfg = _run(tmp_path).cfg
    ncsn, baseline = _per_seed([15.0, 22.0, 38.0]), _per_seed([10.0, 20.0, 30.0])  # differences 5, 2, 8
    rows = {r.metric: r for r in difference_rows(cfg, {"ncsn": ncsn, "baseline": baseline}, [0, 1, 2])}
    diff = rows["is_lenet_diff_ncsn_minus_baseline"]
    se = np.std([5.0, 2.0, 8.0], ddof=1) / math.sqrt(3)  # paired: the arms' own spread (10 per seed) cancels
    assert diff.value == pytest.approx(5.0) and diff.stderr == pytest.approx(se)
    assert rows["is_lenet_diff_ncsn_minus_baseline_z"].value == pytest.approx(5.0 / se)
    same = {r.metric: r for r in difference_rows(cfg, {"ncsn": ncsn, "baseline": ncsn}, [0, 1, 2])}
    assert "is_lenet_diff_ncsn_minus_baseline_z" not in same  # identical arms: no stderr, no z row
    assert same["is_lenet_diff_ncsn_minus_baseline"].value == 0.0


def test_difference_rows_are_not_taken_for_models_by_the_ranking_check(tmp_path):
    cfg = _run(tmp_path).cfg
    per_arm = {"ncsn": _per_seed([10.0, 20.0, 30.0]), "baseline": _per_seed([15.0, 22.0, 38.0])}
    rows = [*arm_rows(cfg, "ncsn", per_arm["ncsn"], [0, 1, 2]), *difference_rows(cfg, per_arm, [0, 1, 2])]
    as_csv = [{**r.as_dict(), "setting": format_setting(r.setting)} for r in rows]
    sanity = [
        {"metric": "is_lenet", "value": v, "setting": f"sanity={label}"} for label, v in (("real", 99), ("noise", 1))
    ]
    assert ranking_violations(as_csv + sanity) == []
    assert ranking_violations(as_csv + [{**sanity[0], "value": 15.0}, sanity[1]])  # a model better than real: caught


def test_real_subset_is_fixed_and_spans_the_classes_of_a_class_sorted_split():
    images = torch.arange(1000, dtype=torch.float32).reshape(-1, 1, 1, 1)  # image i has class i // 100, sorted
    subset = real_subset(images, 50, "valid")
    assert torch.equal(subset, real_subset(images, 50, "valid"))  # the same digits for every call and run seed
    assert len(set(subset.flatten().long().tolist())) == 50  # drawn without replacement
    assert len({int(v) // 100 for v in subset.flatten()}) == 10  # the first 50 would be class 0 only
    with pytest.raises(ValueError, match="needs n_samples"):
        real_subset(images, 1001, "valid")
