"""The training loop: SIGKILL midway + resume is bit-identical; non-finite loss stops and keeps the checkpoint."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from repro import checkpoint
from repro.data.batches import TensorBatches
from repro.run import Run
from repro.train import NonFiniteLossError, TrainConfig, load_snapshot, load_trained, snapshots, train

CHILD = Path(__file__).with_name("train_child.py")


def _child(runs_root: Path, block_at: int, deterministic: bool = False) -> subprocess.Popen:
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8"} if deterministic else None
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(runs_root), str(block_at), *(["deterministic"] if deterministic else [])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_sigkill_midway_then_resume_is_bit_identical(tmp_path):
    """On the CPU (the children see no CUDA device); tests/test_gpu.py runs the same check on CUDA."""
    assert_sigkill_resume_is_bit_identical(tmp_path)


def assert_sigkill_resume_is_bit_identical(tmp_path: Path, deterministic: bool = False) -> None:
    straight = _child(tmp_path / "a", -1, deterministic)
    assert straight.wait(timeout=120) == 0, straight.stderr.read()

    killed = _child(tmp_path / "b", 37, deterministic)  # between the checkpoints of steps 30 and 40
    assert killed.stdout.readline().strip() == "BLOCKED"
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=30) == -signal.SIGKILL
    ckpt = tmp_path / "b" / "smoke" / "test" / "resume" / "checkpoints" / "model.pt"
    assert checkpoint.load(ckpt)["step"] == 30
    assert not (tmp_path / "b" / "final.pt").exists()

    resumed = _child(tmp_path / "b", -1, deterministic)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
    assert "resumed at step 30/60" in resumed.stderr.read()

    a = torch.load(tmp_path / "a" / "final.pt", map_location="cpu")
    b = torch.load(tmp_path / "b" / "final.pt", map_location="cpu")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ca = checkpoint.load(tmp_path / "a" / "smoke" / "test" / "resume" / "checkpoints" / "model.pt")
    cb = checkpoint.load(ckpt)
    for pa, pb in zip(ca["optimizer"]["state"].values(), cb["optimizer"]["state"].values(), strict=True):
        assert torch.equal(pa["exp_avg_sq"], pb["exp_avg_sq"])
    # the training log: no step twice after the resume, and the same losses as the uninterrupted run
    log_a, log_b = (_log(tmp_path / r / "smoke" / "test" / "resume" / "train_model.jsonl") for r in "ab")
    assert [r["step"] for r in log_b] == list(range(5, 61, 5))
    assert [r["loss"] for r in log_b] == [r["loss"] for r in log_a]


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_non_finite_loss_names_the_step_and_keeps_last_good_checkpoint(tmp_path):
    run = Run("test", "nan", "smoke", {"seed": 0}, runs_root=tmp_path)
    model = nn.Linear(2, 1)
    calls = {"n": 0}

    def loss_fn(m, batch):
        calls["n"] += 1
        loss = (m(batch) ** 2).mean()
        return loss * float("nan") if calls["n"] == 8 else loss

    cfg = TrainConfig(steps=20, lr=1e-3, batch_size=4, ckpt_every=5, log_every=3)
    with pytest.raises(NonFiniteLossError, match="at step 8"):
        train(run, model, loss_fn, TensorBatches(torch.randn(16, 2), 4), cfg)
    state = checkpoint.load(run.root / "checkpoints" / "model.pt")
    assert state["step"] == 5 and not state["finished"]
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_load_trained_returns_ema_weights_and_refuses_unfinished(tmp_path):
    run = Run("test", "ema", "smoke", {"seed": 0}, runs_root=tmp_path)
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    cfg = TrainConfig(steps=10, lr=1e-1, batch_size=8, ema_decay=0.5, ckpt_every=10)
    trained = train(run, model, lambda m, b: (m(b) - 1).pow(2).mean(), TensorBatches(torch.randn(32, 3), 8), cfg)
    state = checkpoint.load(run.root / "checkpoints" / "model.pt")
    assert torch.equal(trained.weight.cpu(), state["ema"]["weight"])  # checkpoints load on the CPU
    assert not torch.equal(state["model"]["weight"], state["ema"]["weight"])
    fresh = load_trained(run, nn.Linear(3, 1))
    assert fresh.weight.device == run.device
    assert torch.equal(fresh.weight.cpu(), state["ema"]["weight"])
    state["finished"] = False
    checkpoint.save(run.root / "checkpoints" / "model.pt", state)
    with pytest.raises(RuntimeError, match="unfinished"):
        load_trained(run, nn.Linear(3, 1))


def test_kept_snapshots_hold_the_ema_weights_a_shorter_run_ends_with(tmp_path):
    data = torch.randn(32, 3)

    def fit(root: Path, steps: int, keep_every: int | None) -> tuple[Run, nn.Module]:
        run = Run("test", "keep", "smoke", {"seed": 0}, runs_root=root)
        torch.manual_seed(0)
        cfg = TrainConfig(steps=steps, lr=1e-1, batch_size=8, ema_decay=0.5, ckpt_every=5, keep_every=keep_every)
        return run, train(run, nn.Linear(3, 1), lambda m, b: (m(b) - 1).pow(2).mean(), TensorBatches(data, 8), cfg)

    run, _ = fit(tmp_path / "long", 10, keep_every=3)
    kept = snapshots(run, "model")
    assert [step for step, _ in kept] == [3, 6, 9]
    _, short = fit(tmp_path / "short", 6, keep_every=None)
    assert torch.equal(load_snapshot(run, nn.Linear(3, 1), kept[1][1]).weight, short.weight)
    with pytest.raises(ValueError, match="keep_every"):
        TrainConfig(steps=1, lr=1.0, batch_size=1, keep_every=0)


def test_tensor_batches_are_a_pure_function_of_step_and_cover_each_epoch():
    data = torch.arange(10)
    batches = TensorBatches(data, 4, seed=1)
    epoch = torch.cat([batches(0), batches(1), batches(2)[:2]])
    assert sorted(epoch.tolist()) == list(range(10))
    assert torch.equal(batches(5), TensorBatches(data, 4, seed=1)(5))
    assert not torch.equal(batches(0), TensorBatches(data, 4, seed=2)(0))


def test_learning_rate_warms_up_and_decays_linearly_to_zero():
    from repro.train import learning_rate

    cfg = TrainConfig(steps=100, lr=1.0, batch_size=1, warmup=10, decay_frac=0.2)
    assert [learning_rate(cfg, s) for s in (0, 4, 9, 50, 80, 90, 99)] == pytest.approx([0.1, 0.5, 1, 1, 1, 0.5, 0.05])
    with pytest.raises(ValueError, match="decay_frac"):
        TrainConfig(steps=1, lr=1.0, batch_size=1, decay_frac=1.5)


def test_staircase_decay_steps_once_per_interval_and_stops_at_its_floor():
    """Sohl-Dickstein's reference schedule: x 0.1 per 1000 epochs of 500 batches, once per epoch, floor 1e-4."""
    from repro.train import learning_rate

    cfg = TrainConfig(
        steps=600000,
        lr=1e-3,
        batch_size=1,
        lr_decay_steps=500000,
        lr_decay_rate=0.1,
        lr_decay_interval=500,
        lr_min=1e-4,
    )
    assert learning_rate(cfg, 499) == 1e-3  # the first epoch at the base rate
    assert learning_rate(cfg, 500) == pytest.approx(1e-3 * 0.1 ** (1 / 1000), rel=1e-12)  # 9.977e-4
    assert learning_rate(cfg, 250000) == pytest.approx(1e-3 * 0.1**0.5, rel=1e-12)
    assert learning_rate(cfg, 599999) == 1e-4  # floored
    with pytest.raises(ValueError, match="lr_decay_rate"):
        TrainConfig(steps=1, lr=1.0, batch_size=1, lr_decay_steps=10, lr_decay_rate=0.0)
