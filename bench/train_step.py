"""Training-loop overhead: `repro.train.train` ÷ a bare loop doing the same math (target ≤ 1.05).

The bare loop calls the same `batches(step)` and `loss_fn`, then zero_grad, backward, clipping, optimizer step and
EMA update when the config has them: the ratio is the cost of our loop's machinery (warm-up lr, the loss kept on
the device and read once per log interval, progress, the log file). The final checkpoint is timed on its own and
subtracted (it is written once per `ckpt_every` steps; its time is in the note). Models are each paper's own at
CPU size. With `--gpu`: NCSN CIFAR-10 training it/s (RefineNet ngf 128, batch 128) per speed option (needs CUDA).

    python -m bench.train_step [--gpu]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench import Result, device, emit, sync, timing_device
from repro import checkpoint
from repro.data.batches import TensorBatches
from repro.run import Run
from repro.train import EMA, TrainConfig, _to_device, make_optimizer, train

SOURCE = "bench.train_step"


@dataclass
class Case:
    name: str
    model: nn.Module
    loss_fn: Callable[[nn.Module, Any], torch.Tensor]
    batches: Callable[[int], Any]
    cfg: TrainConfig


def cases(steps: int) -> list[Case]:
    """Each paper's model at a CPU size, with the loss and the training options its experiments use."""
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(256, 3, 16, 16, generator=gen)
    digits = torch.rand(256, 1, 28, 28, generator=gen)
    builders = [_ncsn, _dlg_score, _dlg_classifier, _subspace_ncsnpp, _sohl]
    return [build(steps, images, digits) for build in builders]


def _ncsn(steps: int, images: torch.Tensor, digits: torch.Tensor) -> Case:
    from repro.data.augment import image_transform
    from repro.diffusion.losses import dsm_loss
    from repro.diffusion.sde import geometric_sigmas
    from repro.nets.refinenet import CondRefineNetDilated

    sigmas = geometric_sigmas(10, 1.0, 0.01).float()
    return Case(
        "ncsn RefineNet (ngf 8, 3x16x16, batch 4)",
        CondRefineNetDilated(3, 8, 10),
        lambda m, x: dsm_loss(m, x, sigmas),
        TensorBatches(images, 4, transform=image_transform(dequant=True, flip=True)),
        TrainConfig(steps=steps, lr=1e-3, batch_size=4, ckpt_every=steps),
    )


def _dlg_score(steps: int, images: torch.Tensor, digits: torch.Tensor) -> Case:
    from papers.dlg.nets import TinyScoreNet
    from repro.diffusion.losses import ve_dsm_loss
    from repro.diffusion.sde import VESDE

    return Case(
        "dlg TinyScoreNet (width 16, 1x28x28, batch 4)",
        TinyScoreNet(1, 16),
        ve_dsm_loss(VESDE(0.01, 50.0)),
        TensorBatches(digits, 4),
        TrainConfig(steps=steps, lr=1e-3, batch_size=4, ema_decay=0.999, grad_clip=1.0, ckpt_every=steps),
    )


def _dlg_classifier(steps: int, images: torch.Tensor, digits: torch.Tensor) -> Case:
    from papers.dlg.classifier import SimpleCNN, level_loss
    from repro.diffusion.sde import dlg_level_grid

    return Case(
        "dlg level classifier SimpleCNN (1x28x28, batch 8)",
        SimpleCNN(100, channels=1, image_size=28),
        level_loss(dlg_level_grid(k=100).float()),
        TensorBatches(digits, 8),
        TrainConfig(steps=steps, lr=1e-3, batch_size=8, grad_clip=1.0, ckpt_every=steps),
    )


def _subspace_ncsnpp(steps: int, images: torch.Tensor, digits: torch.Tensor) -> Case:
    from repro.diffusion.losses import ve_dsm_loss
    from repro.diffusion.sde import VESDE
    from repro.nets.ncsnpp import NCSNpp, NCSNppConfig

    cfg = NCSNppConfig(nf=16, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(8,), image_size=16)
    return Case(
        "subspace NCSN++ (nf 16, 3x16x16, batch 4)",
        NCSNpp(cfg),
        ve_dsm_loss(VESDE(0.01, 50.0)),
        TensorBatches(images, 4),
        TrainConfig(steps=steps, lr=2e-4, batch_size=4, ema_decay=0.999, grad_clip=1.0, warmup=5000, ckpt_every=steps),
    )


def _sohl(steps: int, images: torch.Tensor, digits: torch.Tensor) -> Case:
    from papers.sohl import swissroll
    from repro import config, typed

    x = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))
    cfg = typed.build(swissroll.Config, config.load("sohl", "swissroll", "cpu"), "bench")
    return Case(
        "sohl swiss-roll MLP (T 40, batch 500)",
        swissroll.build(cfg, swissroll.Variant("mlp", "learned", cfg.noise), x, 0),
        lambda m, b: m.loss(b),
        TensorBatches(x, 500),
        TrainConfig(steps=steps, lr=1e-2, batch_size=500, ema_decay=0.995, ckpt_every=steps),
    )


def bare_loop(model: nn.Module, case: Case, dev: torch.device) -> None:
    """forward + backward + step (+ clip, + EMA when configured) on the same batches: nothing else."""
    cfg = case.cfg
    model.to(dev).train()
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay else None
    for step in range(cfg.steps):
        loss = case.loss_fn(model, _to_device(case.batches(step), dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        if ema is not None:
            ema.update(model)


def machinery(steps: int) -> Case:
    """A model that costs almost nothing, so train() - bare is the loop's own per-step cost."""
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(2))
    return Case(
        "loop machinery (Linear 8->8, batch 8)",
        nn.Linear(8, 8),
        lambda m, b: m(b).square().mean(),
        TensorBatches(x, 8),
        TrainConfig(steps=steps, lr=1e-3, batch_size=8, ema_decay=0.99, grad_clip=1.0, warmup=10, ckpt_every=steps),
    )


def overhead(case: Case, dev: torch.device, repeats: int) -> list[Result]:
    """Alternate bare and full runs (after one warm-up of each) and compare medians."""
    bare, full, ckpt = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats + 1):
            torch.manual_seed(0)
            model = copy.deepcopy(case.model)
            t0 = time.perf_counter()
            bare_loop(model, case, dev)
            sync(dev)
            t_bare = time.perf_counter() - t0
            run = Run("bench", f"r{i}", "smoke", {"seed": 0}, runs_root=Path(tmp))
            model = copy.deepcopy(case.model)
            t0 = time.perf_counter()
            train(run, model, case.loss_fn, case.batches, case.cfg)
            sync(dev)
            t_full = time.perf_counter() - t0
            state = checkpoint.load(run.root / "checkpoints" / "model.pt")
            t0 = time.perf_counter()
            checkpoint.save(run.root / "checkpoints" / "again.pt", state)  # the same payload, timed on its own
            t_ckpt = time.perf_counter() - t0
            if i:  # the first pair warms up allocators and caches
                bare.append(t_bare)
                full.append(t_full)
                ckpt.append(t_ckpt)
    b, f, c = statistics.median(bare), statistics.median(full), statistics.median(ckpt)
    steps = case.cfg.steps
    note = (
        f"bare {b / steps * 1e3:.3g} ms/step, train {f / steps * 1e3:.3g} ms/step over {steps} steps, "
        f"checkpoint {c * 1e3:.3g} ms, {repeats} repeats, {dev.type}"
    )
    return [
        Result("train", case.name, "train() / bare loop (checkpoint excluded)", (f - c) / b, "ratio", note),
        Result("train", case.name, "(train() - checkpoint - bare) per step", (f - c - b) / steps * 1e6, "us", note),
    ]


def gpu_results(steps: int = 60) -> list[Result]:
    """NCSN CIFAR-10 training it/s (RefineNet ngf 128, batch 128, 32x32) per speed option."""
    from repro.diffusion.losses import dsm_loss
    from repro.diffusion.sde import geometric_sigmas
    from repro.nets.refinenet import CondRefineNetDilated

    dev = device()
    if dev.type != "cuda":
        return [Result("gpu", "ncsn_cifar10_training", "it/s", float("nan"), "it/s", "needs a CUDA device")]
    sigmas = geometric_sigmas(10, 1.0, 0.01).float().to(dev)
    data = torch.rand(1024, 3, 32, 32)
    variants = {
        "fp32": {},
        "tf32": {"tf32": True},
        "tf32+channels_last": {"tf32": True, "channels_last": True},
        "bf16+tf32+channels_last": {"bf16": True, "tf32": True, "channels_last": True},
        "bf16+tf32+channels_last+compile": {"bf16": True, "tf32": True, "channels_last": True, "compile": True},
    }
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in variants.items():
            torch.manual_seed(0)
            model = CondRefineNetDilated(3, 128, 10)
            cfg = TrainConfig(
                steps=steps, lr=1e-3, batch_size=128, ckpt_every=10 * steps, log_every=steps // 3, **options
            )
            warm = Run("bench", f"warm_{len(out)}", "paper", {"seed": 0}, runs_root=Path(tmp))
            train(
                warm,
                copy.deepcopy(model),
                lambda m, x: dsm_loss(m, x, sigmas),
                TensorBatches(data, 128),
                TrainConfig(**{**cfg.__dict__, "steps": 10}),
            )  # compiles and warms cuDNN autotuning
            run = Run("bench", f"gpu_{len(out)}", "paper", {"seed": 0}, runs_root=Path(tmp))
            sync(dev)
            t0 = time.perf_counter()
            train(run, model, lambda m, x: dsm_loss(m, x, sigmas), TensorBatches(data, 128), cfg)
            sync(dev)
            out.append(
                Result(
                    "gpu",
                    f"ncsn_cifar10_training[{name}]",
                    "it/s",
                    steps / (time.perf_counter() - t0),
                    "it/s",
                    f"RefineNet ngf 128, batch 128, {torch.cuda.get_device_name(dev)}",
                )
            )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=40, help="training steps per timed run (default 40)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per loop (median; default 5)")
    p.add_argument("--gpu", action="store_true", help="also NCSN CIFAR-10 training it/s per speed option (CUDA)")
    args = p.parse_args()
    dev = timing_device()
    results = [r for case in cases(args.steps) for r in overhead(case, dev, args.repeats)[:1]]
    results += overhead(machinery(10 * args.steps), dev, args.repeats)
    if args.gpu:
        results += gpu_results()
    emit(results, SOURCE)


if __name__ == "__main__":
    main()
