"""Data-parallel training across processes (torchrun / DistributedDataParallel).

`repro.train.train` calls `setup()`: when torchrun's environment variables name more than one process (or a
process group is already initialised) it joins the group, and each rank then trains on its contiguous shard of
the global batch that `batches(step)` returns. Rank 0 alone writes checkpoints and logs. `relaunch` turns
`repro train ... --nproc N` into a torchrun command, so a Snakemake job asking for `gpu=N` runs N processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place in the group: rank, number of processes and the device it trains on."""

    rank: int = 0
    size: int = 1
    device: torch.device | None = None

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """True inside a process started by torchrun with more than one process (or with a group already up)."""
    return (dist.is_available() and dist.is_initialized()) or int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> World:
    """Join the process group named by torchrun's env vars (nccl on CUDA, gloo on CPU) and pick this rank's device.

    Single-process runs return World(0, 1, device) and touch nothing. Idempotent: call it before a stage builds
    any tensor on `run.device` ("cuda" means the current device, which this sets to cuda:LOCAL_RANK).
    """
    if not launched():
        return World(0, 1, device)
    if device.type == "cuda":
        torch.cuda.set_device(_local_device())
        device = torch.device("cuda", torch.cuda.current_device())
    if not dist.is_initialized():
        for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
            if key not in os.environ:
                raise RuntimeError(
                    f"WORLD_SIZE={os.environ['WORLD_SIZE']} but ${key} is not set; "
                    f"start multi-process training with torchrun (or `repro train ... --nproc N`)"
                )
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), device)


def _local_device() -> int:
    """This rank's GPU index (LOCAL_RANK); a clear error when the node has fewer visible GPUs than ranks."""
    if "LOCAL_RANK" not in os.environ:
        return torch.cuda.current_device()
    local, visible = int(os.environ["LOCAL_RANK"]), torch.cuda.device_count()
    if local >= visible:
        raise RuntimeError(
            f"local rank {local} needs GPU cuda:{local}, but {visible} CUDA device(s) are visible on this node: "
            f"start at most {visible} processes per node (`--nproc {visible}`) or make more GPUs visible "
            "(CUDA_VISIBLE_DEVICES)"
        )
    return local


def shard(batch: Any, world: World) -> Any:
    """This rank's contiguous slice along dim 0 of every tensor in `batch` (a tensor, tuple, list or dict)."""
    if not world.active:
        return batch
    if isinstance(batch, torch.Tensor):
        n = batch.shape[0]
        if n % world.size:
            raise ValueError(
                f"the global batch of {n} samples cannot be split evenly over {world.size} processes; "
                f"choose a batch_size divisible by the number of processes"
            )
        per = n // world.size
        return batch[world.rank * per : (world.rank + 1) * per]
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard(b, world) for b in batch)
    if isinstance(batch, dict):
        return {k: shard(v, world) for k, v in batch.items()}
    return batch


def mean_over_ranks(values: torch.Tensor, world: World) -> torch.Tensor:
    """Average a tensor over the ranks (a NaN on any rank makes it NaN everywhere, so all ranks stop together)."""
    if world.active:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= world.size
    return values


def gather_objects(obj: Any, world: World) -> list[Any]:
    """Every rank's `obj`, in rank order (used for the per-rank RNG states in a checkpoint)."""
    if not world.active:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def barrier(world: World) -> None:
    if world.active:
        dist.barrier()


def strip_nproc(argv: Sequence[str]) -> tuple[int, list[str]]:
    """Split `--nproc N` / `--nproc=N` out of a command line; returns (N, the rest). N defaults to 1."""
    rest: list[str] = []
    nproc = 1
    it = iter(argv)
    for arg in it:
        if arg == "--nproc" or arg.startswith("--nproc="):
            value = arg.split("=", 1)[1] if "=" in arg else next(it, "")
            try:
                nproc = int(value)
            except ValueError:
                raise ValueError(f"--nproc needs an integer number of processes, got {value!r}") from None
            if nproc < 0:
                raise ValueError(f"--nproc must be >= 0, got {nproc}")
        else:
            rest.append(arg)
    return max(nproc, 1), rest


def torchrun_command(nproc: int, argv: Sequence[str]) -> list[str]:
    """`python -m torch.distributed.run --standalone --nproc_per_node N -m repro <argv>` (single node)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "repro",
        *argv,
    ]


def relaunch(argv: Sequence[str]) -> int | None:
    """If `argv` asks for `--nproc N` with N > 1 and we are not already inside torchrun, run the command under
    torchrun and return its exit code; otherwise return None (the caller goes on in this process)."""
    nproc, rest = strip_nproc(argv)
    if nproc <= 1 or launched():
        return None
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if 0 < visible < nproc:  # on a CPU-only machine the processes train with gloo
        raise ValueError(
            f"--nproc {nproc} starts one process per GPU, but {visible} CUDA device(s) are visible: use "
            f"--nproc {visible} or make more GPUs visible (CUDA_VISIBLE_DEVICES)"
        )
    return subprocess.call(torchrun_command(nproc, rest))


def is_main() -> bool:
    """Rank 0 (or a single process): the one that writes stage stamps, metrics and logs."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def finish() -> None:
    """Leave the process group at the end of a stage (all ranks wait for each other first)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
