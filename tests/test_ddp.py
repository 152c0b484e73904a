"""Data-parallel training (2 CPU processes, gloo on 127.0.0.1) equals single-process training on the global batch."""

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from repro import checkpoint, distributed
from repro.data.batches import TensorBatches
from repro.run import Run
from repro.train import TrainConfig, train

WORLD = 2
CFG = dict(steps=12, lr=5e-2, batch_size=8, ema_decay=0.8, grad_clip=0.5, warmup=3, ckpt_every=6, log_every=4)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g)
    return x, torch.sin(x @ torch.randn(3, 2, generator=g))


def _jitter(batch, g):
    """A batch transform with randomness over the whole global batch: it must run before sharding."""
    x, y = batch
    return x + 0.1 * torch.randn(x.shape, generator=g), y


def _batches(seed: int) -> TensorBatches:
    return TensorBatches(_data(), CFG["batch_size"], seed=seed, transform=_jitter)


def _train(runs_root: Path, seen: list[torch.Tensor] | None = None) -> nn.Module:
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2))
    run = Run("test", "ddp", "smoke", {"seed": 5}, runs_root=runs_root)

    def loss_fn(m: nn.Module, batch) -> torch.Tensor:
        if seen is not None:
            seen.append(batch[0].clone())
        return ((m(batch[0]) - batch[1]) ** 2).mean()

    return train(run, model, loss_fn, _batches(run.seed), TrainConfig(**CFG))


class Interrupted(Exception):
    pass


def _noisy(runs_root: Path, stop_at: int = -1) -> nn.Module:
    """A loss drawing noise from the global RNG (each rank its own stream); raises on call `stop_at` on all ranks."""
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2))
    run = Run("test", "noisy", "smoke", {"seed": 5}, runs_root=runs_root)
    calls = {"n": 0}

    def loss_fn(m: nn.Module, batch) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == stop_at:
            raise Interrupted
        return ((m(batch[0] + 0.3 * torch.randn_like(batch[0])) - batch[1]) ** 2).mean()

    return train(run, model, loss_fn, _batches(run.seed), TrainConfig(**CFG))


def _worker(rank: int, port: int, runs_root: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        GLOO_SOCKET_IFNAME="lo",
    )
    torch.set_num_threads(1)
    seen: list[torch.Tensor] = []
    model = _train(Path(runs_root), seen)
    straight = _noisy(Path(runs_root) / "straight")
    try:
        _noisy(Path(runs_root) / "resumed", stop_at=9)  # between the checkpoints of steps 6 and 12
    except Interrupted:
        pass
    resumed = _noisy(Path(runs_root) / "resumed")
    torch.save(
        {
            "weights": model.state_dict(),
            "seen": torch.stack(seen),
            "main": distributed.is_main(),
            "straight": straight.state_dict(),
            "resumed": resumed.state_dict(),
        },
        Path(runs_root) / f"rank{rank}.pt",
    )
    distributed.finish()
    assert not torch.distributed.is_initialized()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_and_single(tmp_path_factory):
    """Two gloo processes on the CPU and one process on the CPU, whatever GPUs the machine has (the ranks see none)."""
    assert "WORLD_SIZE" not in os.environ, "run this test outside torchrun"
    root = tmp_path_factory.mktemp("ddp")
    with pytest.MonkeyPatch.context() as mp_env:
        mp_env.setenv("CUDA_VISIBLE_DEVICES", "")
        mp_env.setattr(torch.cuda, "is_available", lambda: False)
        mp.spawn(_worker, args=(_free_port(), str(root / "ddp")), nprocs=WORLD, join=True)
        single = _train(root / "single")
    return root, single


def test_two_processes_match_single_process_on_the_global_batch(ddp_and_single):
    root, single = ddp_and_single
    saved = [torch.load(root / "ddp" / f"rank{r}.pt") for r in range(WORLD)]
    assert [s["main"] for s in saved] == [True, False]
    ranks = [s["weights"] for s in saved]
    for k, v in single.state_dict().items():  # EMA weights, as `train` returns them
        assert torch.equal(ranks[0][k], ranks[1][k]), f"ranks disagree on {k}"
        torch.testing.assert_close(ranks[0][k], v, rtol=0, atol=1e-6)
    ckpt_ddp = checkpoint.load(root / "ddp" / "smoke" / "test" / "ddp" / "checkpoints" / "model.pt")
    ckpt_one = checkpoint.load(root / "single" / "smoke" / "test" / "ddp" / "checkpoints" / "model.pt")
    for k, v in ckpt_one["model"].items():  # the raw (non-EMA) weights too
        torch.testing.assert_close(ckpt_ddp["model"][k], v, rtol=0, atol=1e-6)
    assert not any(k.startswith(("module.", "model.")) for k in ckpt_ddp["model"]), "checkpoint keys must be bare"


def test_each_rank_gets_its_contiguous_shard_of_the_transformed_global_batch(ddp_and_single):
    root, _ = ddp_and_single
    seen = [torch.load(root / "ddp" / f"rank{r}.pt")["seen"] for r in range(WORLD)]
    batches = _batches(seed=5)
    for step in range(CFG["steps"]):
        assert seen[0][step].shape[0] == CFG["batch_size"] // WORLD
        assert torch.equal(torch.cat([seen[0][step], seen[1][step]]), batches(step)[0])


def test_logged_loss_is_the_global_mean_and_written_once(ddp_and_single):
    root, _ = ddp_and_single

    def log(which):
        path = root / which / "smoke" / "test" / "ddp" / "train_model.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]

    ddp, single = log("ddp"), log("single")
    assert [r["step"] for r in ddp] == [4, 6, 8, 12]  # rank 0 alone writes: no duplicate lines
    assert [r["step"] for r in ddp] == [r["step"] for r in single]
    for a, b in zip(ddp, single, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)


def test_checkpoint_keeps_one_distinct_rng_stream_per_rank(ddp_and_single):
    root, _ = ddp_and_single
    ckpt = checkpoint.load(root / "ddp" / "smoke" / "test" / "ddp" / "checkpoints" / "model.pt")
    assert ckpt["world_size"] == WORLD and ckpt["finished"] and len(ckpt["rng_ranks"]) == WORLD
    assert not torch.equal(ckpt["rng_ranks"][0]["torch"], ckpt["rng_ranks"][1]["torch"])
    assert torch.equal(ckpt["rng"]["torch"], ckpt["rng_ranks"][0]["torch"])


def test_interrupted_and_resumed_ddp_run_is_bit_identical_to_an_uninterrupted_one(ddp_and_single):
    root, _ = ddp_and_single
    log = (root / "ddp" / "resumed" / "smoke" / "test" / "noisy" / "log.txt").read_text()
    assert "resumed at step 6/12" in log
    for r in range(WORLD):
        saved = torch.load(root / "ddp" / f"rank{r}.pt")
        for k, v in saved["straight"].items():
            assert torch.equal(saved["resumed"][k], v), f"rank {r}: {k}"


def test_more_ranks_than_visible_gpus_is_a_clear_error_before_any_cuda_call(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: pytest.fail(f"set_device({i}) reached"))
    with pytest.raises(
        RuntimeError, match=r"local rank 1 needs GPU cuda:1, but 1 CUDA device\(s\) are visible.*--nproc 1"
    ):
        distributed.setup(torch.device("cuda"))


def test_nproc_above_the_visible_gpus_is_a_usage_error_before_torchrun(monkeypatch, capsys):
    from repro import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(distributed.subprocess, "call", lambda cmd: pytest.fail(f"torchrun started: {cmd}"))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "ncsn/mnist", "--tier", "smoke", "--nproc", "2"])
    assert exit_.value.code == 2
    assert (
        "--nproc 2 starts one process per GPU, but 1 CUDA device(s) are visible: use --nproc 1"
        in capsys.readouterr().err
    )


def test_shard_takes_contiguous_slices_and_rejects_uneven_batches():
    batch = (torch.arange(6), {"y": torch.arange(6) * 10}, "tag")
    x, d, tag = distributed.shard(batch, distributed.World(rank=1, size=3))
    assert x.tolist() == [2, 3] and d["y"].tolist() == [20, 30] and tag == "tag"
    with pytest.raises(ValueError, match="7 samples cannot be split evenly over 2"):
        distributed.shard(torch.arange(7), distributed.World(rank=0, size=2))


def test_nproc_flag_becomes_a_torchrun_command():
    nproc, rest = distributed.strip_nproc(["train", "ncsn/cifar10", "--nproc", "4", "--tier", "paper"])
    assert (nproc, rest) == (4, ["train", "ncsn/cifar10", "--tier", "paper"])
    assert distributed.strip_nproc(["train", "x", "--nproc=0"]) == (1, ["train", "x"])
    cmd = distributed.torchrun_command(nproc, rest)
    assert cmd[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4", "-m"]
    assert cmd[6:] == ["repro", *rest]
    with pytest.raises(ValueError, match="--nproc needs an integer"):
        distributed.strip_nproc(["train", "--nproc", "two"])
