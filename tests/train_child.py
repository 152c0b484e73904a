"""A training job for the resume tests, run as a separate process so it can be SIGKILLed."""

import sys
from pathlib import Path

import torch
from torch import nn

from repro.data.batches import TensorBatches
from repro.run import Run
from repro.train import TrainConfig, train


def main(runs_root: str, block_at: int, deterministic: bool) -> None:
    torch.set_num_threads(1)
    if deterministic:  # CUDA: deterministic kernels (the parent sets CUBLAS_WORKSPACE_CONFIG)
        torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    y = x @ torch.randn(4, 1, generator=g)
    run = Run("test", "resume", "smoke", {"seed": 3}, runs_root=Path(runs_root))
    torch.manual_seed(123)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    calls = {"n": 0}

    def loss_fn(m: nn.Module, batch) -> torch.Tensor:
        calls["n"] += 1
        xb, yb = batch
        if calls["n"] == block_at:  # tell the parent where we are, then wait to be killed
            print("BLOCKED", flush=True)
            sys.stdin.readline()
        noisy = xb + 0.1 * torch.randn_like(xb)  # global RNG: must be restored on resume
        return ((m(noisy) - yb) ** 2).mean()

    cfg = TrainConfig(
        steps=60,
        lr=1e-2,
        batch_size=32,
        ema_decay=0.9,
        grad_clip=1.0,
        warmup=5,
        ckpt_every=10,
        log_every=5,
        cudnn_benchmark=not deterministic,
    )
    model = train(run, model, loss_fn, TensorBatches((x, y), 32, seed=run.seed), cfg)
    torch.save(model.state_dict(), Path(runs_root) / "final.pt")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:] == ["deterministic"])
