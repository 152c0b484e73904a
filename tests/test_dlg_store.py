"""dlg's points on disk: a point killed mid-way goes on to the same samples bit for bit, and a point made under
other settings is refused naming what changed (never silently reused)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from papers.dlg import store
from papers.dlg.images import Point, load_point, sample_points
from papers.dlg.official import classifier_spec, score_spec
from repro import config, registry, typed
from repro.run import Run

SHAPE = (3, 16, 16)  # the nets run at 16x16 to keep the test cheap; the counts do not depend on the size
PLAIN = Point(integrator="kar2", dlg=False, budget=6)
DLG = Point(integrator="em", dlg=True, budget=6)


class Killed(Exception):
    """Stands for the job being killed."""


def _cfg(**changes):
    exp = registry.experiments(("dlg",))["dlg/cifar10"]
    cfg = typed.build(exp.config_class(), config.load_tier("dlg", "smoke")["cifar10"], "dlg smoke tier: cifar10")
    # 20 samples: plain batches 8 + 8 + 4, DLG rounds of 7 chains 7 + 7 + 6 (the last round cut)
    cfg = dataclasses.replace(cfg, points=(PLAIN, DLG), n_samples=20, batch_size=8)
    return dataclasses.replace(cfg, dlg=dataclasses.replace(cfg.dlg, chains=7), **changes)


def _nets(cfg, device: str):
    nets = []
    for spec in (score_spec(cfg, SHAPE), classifier_spec(cfg, SHAPE)):
        torch.manual_seed(0)
        nets.append(spec.build().eval().to(device))
    return nets


def _sample(root: Path, cfg, kill_after: int | None = None, device: str = "cpu", rng_seed: int = 0) -> Run:
    """sample_points at `root` on `device` (default the CPU, whatever the machine has), the process RNG seeded with
    `rng_seed`; with `kill_after`, the score net raises at that call (counted from 1)."""
    score, classifier = _nets(cfg, device)
    calls = 0

    def killing_score(x, sigma):
        nonlocal calls
        calls += 1
        if calls == kill_after:
            raise Killed
        return score(x, sigma)

    run = Run("dlg", "cifar10", "smoke", cfg, runs_root=root)
    run.device = torch.device(device)
    torch.manual_seed(rng_seed)
    sample_points(run, killing_score, classifier, cfg.levels(), SHAPE)
    return run


def _points(run: Run) -> dict[str, tuple[np.ndarray, dict]]:
    return {p.name: load_point(run, p, run.seed) for p in run.cfg.points}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, tuple[np.ndarray, dict]]:
    return _points(_sample(tmp_path_factory.mktemp("whole"), _cfg()))


KILLS = (
    8,  # plain: in batch 2 (a batch is kar2's 5 evaluations + Tweedie), after batch 1 was saved
    18 + 11 + 6 + 3,  # DLG: in round 2, after the plain point, the chains' set-up (7 KAR2 + 4 burn-in), round 1
)


@pytest.mark.parametrize("kill_after", KILLS)
def test_a_killed_point_goes_on_to_the_same_samples(tmp_path, reference, kill_after):
    assert_killed_point_resumes(tmp_path, kill_after, "cpu", reference)


def assert_killed_point_resumes(root: Path, kill_after: int, device: str, reference=None) -> None:
    """Kill the sample stage at score call `kill_after`, run it again: the same samples and accounting as an
    uninterrupted run (`reference`, else one made here), and no partial saves left (also the GPU lane's check)."""
    cfg = _cfg()
    reference = reference or _points(_sample(root / "whole", cfg, device=device))
    root = root / "killed"
    with pytest.raises(Killed):
        _sample(root, cfg, kill_after=kill_after, device=device)
    parts = sorted((root / "smoke/dlg/cifar10/samples").glob("*.parts/part_*.npy"))
    assert [p.parent.name for p in parts] == [f"{'kar2_plain' if kill_after == 8 else 'em_dlg'}_nfe6_seed0.parts"]
    run = _sample(root, cfg, device=device, rng_seed=123)  # not the killed process's RNG: the save restores it
    for name, (x, info) in _points(run).items():
        want_x, want_info = reference[name]
        np.testing.assert_array_equal(x, want_x)
        assert info == want_info, name
    assert "resuming after" in (run.root / "log.txt").read_text()
    assert not list(run.root.joinpath("samples").glob("*.parts"))


def test_every_save_logs_progress_and_time_left(tmp_path):
    run = _sample(tmp_path, _cfg())
    log = (run.root / "log.txt").read_text()
    for unit in ("batches 1/3 (33 %)", "batches 2/3 (67 %)", "rounds 1/3 (33 %)", "rounds 2/3 (67 %)"):
        assert re.search(rf"{re.escape(unit)}, [0-9.]+ s so far, about [0-9.]+ s left; saved", log), unit


def test_a_point_made_under_other_settings_is_refused_naming_the_key(tmp_path):
    """The DLG step size is a setting of the DLG point only: the plain point is kept, the DLG one refused."""
    _sample(tmp_path, _cfg())
    cfg = _cfg()
    changed = dataclasses.replace(cfg, dlg=dataclasses.replace(cfg.dlg, eta=cfg.dlg.eta / 2))
    with pytest.raises(RuntimeError, match=r"em_dlg_nfe6_seed0\.json holds a finished point .*dlg\.eta: 0\.5 -> 0\.25"):
        _sample(tmp_path, changed)
    run = Run("dlg", "cifar10", "smoke", changed, runs_root=tmp_path)
    assert load_point(run, PLAIN, run.seed)[0].shape == (20, 16, 16, 3)
    with pytest.raises(RuntimeError, match=r"dlg\.eta"):
        load_point(run, DLG, run.seed)


def test_adding_a_point_keeps_the_finished_ones(tmp_path):
    _sample(tmp_path, _cfg())
    extra = Point(integrator="kar1", dlg=False, budget=6)
    run = _sample(tmp_path, _cfg(points=(PLAIN, DLG, extra)))
    log = (run.root / "log.txt").read_text()
    assert log.count("samples, NFE per sample") == 3  # two points at the first call, only the new one now


def test_a_partial_point_made_under_other_settings_is_refused(tmp_path):
    with pytest.raises(Killed):
        _sample(tmp_path, _cfg(), kill_after=8)
    with pytest.raises(RuntimeError, match=r"state\.pt holds a partly sampled point .*sigma_max"):
        _sample(tmp_path, _cfg(sigma_max=_cfg().sigma_max * 2))


def test_saves_come_every_twentieth_of_the_units_or_every_ten_minutes(tmp_path):
    clock = [0.0]
    run = Run("dlg", "cifar10", "smoke", _cfg(), runs_root=tmp_path)
    partial = store.Partial(run, "p", {"a": 1}, units=100, unit="batch", clock=lambda: clock[0])
    assert partial.every == 5
    saved = []
    for i in range(1, 12):
        clock[0] = {7: 900.0}.get(i, clock[0] + 1)  # ten minutes pass before unit 7
        partial.add(torch.full((2, 1, 2, 2), i / 255), lambda i=i: {"i": i})
        saved.append(partial.parts)
    assert saved == [0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2]  # unit 5 (a twentieth), unit 7 (the clock), not yet 12
    again = store.Partial(run, "p", {"a": 1}, units=100, unit="batches")
    assert (again.done, again.state) == (7, {"i": 7})
    np.testing.assert_array_equal(again.samples()[:, 0, 0, 0], np.repeat(np.arange(1, 8), 2))
