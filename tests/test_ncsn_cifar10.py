"""ncsn/cifar10 accepts an official checkpoint folder: snapshots are found by step and load strictly."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import FIXTURES

from papers.ncsn.cifar10 import Config, _net, candidates
from repro import config, typed
from repro.run import Run

TINY = FIXTURES / "ncsn_refinenet_tiny.pt"


def _run(tmp_path: Path, official: str | None) -> Run:
    smoke = typed.build(Config, config.load("ncsn", "cifar10", "smoke"), "smoke")
    training = {**smoke.training, "steps": 7}
    cfg = replace(smoke, seed=0, official_checkpoint=official, n_levels=10, ngf=16, training=training)
    return Run("ncsn", "cifar10", "smoke", cfg, runs_root=tmp_path / "runs", data_root=tmp_path / "data")


def test_official_snapshots_are_candidates_in_step_order(tmp_path):
    folder = tmp_path / "data" / "ncsn" / "run" / "logs" / "cifar10"
    folder.mkdir(parents=True)
    for step in (10000, 5000):
        shutil.copy(TINY, folder / f"checkpoint_{step}.pth")
    shutil.copy(TINY, folder / "checkpoint.pth")
    found = candidates(_run(tmp_path, "ncsn/run/logs/cifar10"))
    assert [c["step"] for c in found] == [5000, 10000]
    net = _net(_run(tmp_path, "ncsn/run/logs/cifar10"), found[0])
    io = torch.load(TINY.with_name("ncsn_refinenet_tiny_io.pt"), weights_only=True)
    device = next(net.parameters()).device  # the run's device
    with torch.no_grad():
        out = net(io["x"].to(device), io["labels"].to(device)).cpu()
    assert (out - io["output"]).abs().max() <= 1e-5 * io["output"].abs().max()


def test_missing_official_folder_and_own_training(tmp_path):
    (tmp_path / "data" / "empty").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="official_checkpoint"):
        candidates(_run(tmp_path, "empty"))
    assert candidates(_run(tmp_path, None)) == [{"kind": "ours", "name": "ncsn", "step": 7}]


def test_own_training_offers_its_kept_snapshots_in_step_order(tmp_path):
    from papers.ncsn.images import build_net
    from repro import checkpoint
    from repro.train import snapshot_path

    run = _run(tmp_path, None)
    torch.manual_seed(0)
    nets = {step: build_net(run.cfg, 10, 3) for step in (6, 2)}
    for step, net in nets.items():
        checkpoint.save(snapshot_path(run, "ncsn", step), {"step": step, "model": net.state_dict()})
    found = candidates(run)
    assert [c["step"] for c in found] == [2, 6, 7]
    assert found[-1] == {"kind": "ours", "name": "ncsn", "step": 7}
    loaded = _net(run, found[0])
    want = nets[2].state_dict()
    assert all(torch.equal(v.cpu(), want[k].cpu()) for k, v in loaded.state_dict().items())


def test_fid_against_a_stats_file_names_it_in_the_rows_setting(tmp_path, monkeypatch):
    """`fid_stats`: the validated file (not the train split) is the FID reference, and the row's setting says so."""
    import numpy as np

    import repro.metrics.fidelity as fidelity
    from papers.ncsn.cifar10 import _quality, _reference
    from repro.metrics.fid_stats import FidStats

    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "ttur.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    run = _run(tmp_path, None)
    run = replace(run, cfg=replace(run.cfg, synthetic_n=0, fid_stats="ttur.npz"))
    seen = {}

    def fake_metrics(samples, reference, **kw):
        seen["reference"] = reference
        return [
            {"metric": "fid", "value": 1.0, "stderr": None, "unit": "", "n_samples": 2, "reference": reference.name}
        ]

    monkeypatch.setattr(fidelity, "fidelity_metrics", fake_metrics)
    rows = _quality(run, np.zeros((2, 32, 32, 3), np.uint8), 2, ("fid",))
    assert isinstance(seen["reference"], FidStats) and seen["reference"].source == "ttur"
    assert _reference(rows[0]) == {"reference": seen["reference"].name} and "reference" not in rows[0]
