"""dlg/mnist: held-out real digits are drawn at random, seeds are averaged and the two arms paired seed by seed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from papers.dlg import store
from papers.dlg.images import metric_rows, point_settings, sample_name
from papers.dlg.mnist import Config, random_subset
from repro import config, typed
from repro.metrics.classifier import LeNet, classifier_features, fid_lenet_against
from repro.metrics.distances import frechet_distance
from repro.run import Run
from repro.sampling import to_uint8

POINTS = [{"integrator": "kar1", "dlg": False, "budget": 10}, {"integrator": "kar1", "dlg": True, "budget": 10}]


def _run(tmp_path: Path, seeds: int) -> Run:
    raw = {**config.load("dlg", "mnist", "smoke"), "seeds": seeds, "points": POINTS, "n_samples": 4}
    return Run("dlg", "mnist", "smoke", typed.build(Config, raw, "smoke"), runs_root=tmp_path)


def test_random_subset_covers_the_classes_a_sorted_prefix_misses():
    labels = torch.arange(10).repeat_interleave(50)  # a split as stored: indices sorted, digits listed by class
    picked = random_subset(labels, 50, seed=0)
    assert len(picked) == 50 and len(set(picked.tolist())) >= 8
    assert len(set(labels[:50].tolist())) == 1
    assert sorted(random_subset(labels, 1000, seed=0).tolist()) == labels.tolist()  # n beyond the split: all of it


def _write(run: Run, values: dict[tuple[bool, int], float]) -> None:
    """Constant images whose mean pixel is `values[(dlg, seed)]`, with the accounting a real point records."""
    for p in run.cfg.points:
        for seed in run.cfg.sampling_seeds(run.seed):
            x = torch.full((run.cfg.n_samples, 1, 28, 28), values[(p.dlg, seed)] / 255.0)
            info = {"nfe_per_sample": 10.0, "classifier_calls_per_sample": 2.0, "burn_in_nfe_amortised": 1.0}
            record = {"n_skip": 2 if p.dlg else 0, "N": 5, **info}
            store.save(run, sample_name(p, seed), to_uint8(x).numpy(), record, point_settings(run, p, seed))


def test_rows_are_means_over_seeds_and_the_difference_is_paired(tmp_path):
    run = _run(tmp_path, seeds=3)
    plain, dlg = [10.0, 20.0, 30.0], [9.0, 18.0, 28.0]  # differences -1, -2, -2: far tighter than either arm
    _write(run, {(arm, s): v for arm, vals in ((False, plain), (True, dlg)) for s, v in enumerate(vals)})
    rows = metric_rows(run, "mnist5000", lambda x: float(np.mean(x)), metric="m", seeds=[0, 1, 2])
    by = {(r.metric, r.setting.get("dlg")): r for r in rows}
    off, on, diff = by[("m", "off")], by[("m", "on")], by[("m_diff_dlg_minus_plain", None)]
    assert off.value == pytest.approx(20.0) and off.stderr == pytest.approx(10.0 / math.sqrt(3))
    assert on.value == pytest.approx(55.0 / 3)
    assert diff.value == pytest.approx(-5.0 / 3)
    assert diff.stderr == pytest.approx(np.std([-1, -2, -2], ddof=1) / math.sqrt(3))
    assert diff.setting == {"integrator": "kar1", "budget": 10}
    assert {r.seed for r in rows} == {"0+1+2"}
    assert by[("nfe", "on")].value == pytest.approx(10.0)


def test_one_seed_gives_no_stderr(tmp_path):
    run = _run(tmp_path, seeds=1)
    _write(run, {(False, 0): 7.0, (True, 0): 5.0})
    rows = metric_rows(run, "mnist5000", lambda x: float(np.mean(x)), metric="m")
    diff = next(r for r in rows if r.metric == "m_diff_dlg_minus_plain")
    assert diff.value == pytest.approx(-2.0) and diff.stderr is None and diff.seed == 0


def test_fid_against_a_fixed_reference_is_the_frechet_distance_of_features():
    torch.manual_seed(0)
    model = LeNet().eval()
    ref, x = torch.rand(64, 1, 28, 28), torch.rand(48, 1, 28, 28) ** 2
    expect = frechet_distance(classifier_features(model, x), classifier_features(model, ref))
    fid = fid_lenet_against(model, ref)
    assert fid(x) == pytest.approx(expect, rel=1e-9)
    assert fid(ref) == pytest.approx(0.0, abs=1e-6)
    assert expect > 0
