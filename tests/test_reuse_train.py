"""No silent reuse of training: a checkpoint records the whole experiment config and is refused under another."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
import torch
from torch import nn

from repro import checkpoint
from repro.data.batches import TensorBatches
from repro.run import Run
from repro.train import TrainConfig, load_trained, train


@dataclass(frozen=True)
class Cfg:
    seed: int = 0
    n_train: int = 32
    period: float = 1.0
    needs: tuple[str, ...] = ()
    training: dict = field(default_factory=lambda: {"steps": 10, "lr": 0.1, "batch_size": 8, "ckpt_every": 5})


class Interrupt(Exception):
    pass


def fit(root, cfg: Cfg, stop_at: int | None = None) -> nn.Module:
    """Train a linear model on `cfg.n_train` points; `stop_at` raises inside that step's loss (a kill)."""
    run = Run("test", "reuse", "smoke", cfg, runs_root=root)
    data = torch.randn(cfg.n_train, 3, generator=torch.Generator().manual_seed(1)) * cfg.period
    calls = {"n": 0}

    def loss_fn(m: nn.Module, b: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == stop_at:
            raise Interrupt
        return (m(b + 0.1 * torch.randn_like(b)) - 1).pow(2).mean()

    torch.manual_seed(0)
    tcfg = TrainConfig.from_config(cfg.training, name="model", ema_decay=0.5)
    return train(run, nn.Linear(3, 1), loss_fn, TensorBatches(data, 8, seed=cfg.seed), tcfg)


def ckpt(root):
    return root / "smoke" / "test" / "reuse" / "checkpoints" / "model.pt"


@pytest.mark.parametrize(("key", "value"), [("n_train", 64), ("period", 2.0)])
def test_changed_data_settings_refuse_the_finished_checkpoint_naming_file_and_fields(tmp_path, key, value):
    fit(tmp_path, Cfg())
    with pytest.raises(RuntimeError) as info:
        fit(tmp_path, replace(Cfg(), **{key: value}))
    msg = str(info.value)
    assert str(ckpt(tmp_path)) in msg and key in msg and "delete the run folder" in msg and "--runs-root" in msg
    other = [k for k in ("n_train", "period", "seed") if k != key]
    assert not any(f"{k}:" in msg for k in other)  # only the differing fields are named
    with pytest.raises(RuntimeError, match=key):
        load_trained(Run("test", "reuse", "smoke", replace(Cfg(), **{key: value}), runs_root=tmp_path), nn.Linear(3, 1))


def test_execution_only_settings_still_resume(tmp_path):
    fit(tmp_path, Cfg())
    faster = replace(
        Cfg(),
        needs=("inception",),
        training={**Cfg().training, "channels_last": True, "keep_every": 5, "cudnn_benchmark": False},
    )
    fit(tmp_path, faster)  # no refusal
    assert "resumed at step 10/10" in (tmp_path / "smoke" / "test" / "reuse" / "log.txt").read_text()


def test_identical_config_resumes_bit_identically(tmp_path):
    straight = fit(tmp_path / "a", Cfg())
    with pytest.raises(Interrupt):
        fit(tmp_path / "b", Cfg(), stop_at=8)  # after the checkpoint of step 5
    assert checkpoint.load(ckpt(tmp_path / "b"))["step"] == 5
    resumed = fit(tmp_path / "b", Cfg())
    assert torch.equal(straight.weight, resumed.weight) and torch.equal(straight.bias, resumed.bias)


def test_a_checkpoint_without_recorded_settings_is_refused(tmp_path):
    fit(tmp_path, Cfg())
    state = checkpoint.load(ckpt(tmp_path))
    del state["settings"], state["fingerprint"]
    checkpoint.save(ckpt(tmp_path), state)
    with pytest.raises(RuntimeError, match="predates settings fingerprints"):
        fit(tmp_path, Cfg())


def test_checkpoints_load_weights_only_and_keep_every_rng(tmp_path):
    fit(tmp_path, Cfg())
    state = torch.load(ckpt(tmp_path), weights_only=True)  # no pickled code needed
    assert state["settings"]["n_train"] == 32 and "needs" not in state["settings"]
    np.random.seed(3)
    random.seed(4)
    saved = checkpoint.rng_state()
    expected = (np.random.rand(), random.random())
    checkpoint.save(tmp_path / "rng.pt", {"rng": saved, "np": np.arange(3), "x": np.float32(2.5), "p": tmp_path})
    loaded = checkpoint.load(tmp_path / "rng.pt")
    checkpoint.set_rng_state(loaded["rng"])
    assert (np.random.rand(), random.random()) == expected
    assert torch.equal(loaded["np"], torch.arange(3)) and loaded["x"] == 2.5 and loaded["p"] == str(tmp_path)
    with pytest.raises(TypeError, match="weights-only"):
        checkpoint.save(tmp_path / "bad.pt", {"obj": object()})


def test_a_truncated_checkpoint_names_its_file(tmp_path):
    fit(tmp_path, Cfg())
    data = ckpt(tmp_path).read_bytes()
    ckpt(tmp_path).write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match=f"checkpoint {ckpt(tmp_path)} cannot be read"):
        fit(tmp_path, Cfg())
