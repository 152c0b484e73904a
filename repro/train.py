"""The one training loop every paper uses: optimizer, warm-up, clipping, EMA, atomic checkpoints, resume."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from repro import checkpoint
from repro.run import Run


@dataclass
class TrainConfig:
    steps: int
    lr: float
    batch_size: int
    optimizer: str = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    eps: float = 1e-8
    ema_decay: float | None = None
    grad_clip: float | None = None
    warmup: int = 0
    ckpt_every: int = 1000
    log_every: int = 100
    bf16: bool = False
    name: str = "model"

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.lr <= 0 or self.batch_size <= 0 or self.ckpt_every <= 0:
            raise ValueError(f"training config {self.name!r}: steps, lr, batch_size, ckpt_every must be > 0: {self}")
        if self.optimizer not in ("adam", "rmsprop", "sgd"):
            raise ValueError(f"training config {self.name!r}: unknown optimizer {self.optimizer!r}")
        self.betas = tuple(self.betas)


class NonFiniteLossError(RuntimeError):
    pass


class EMA:
    """Exponential moving average of the parameters (fixed decay)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for k, p in model.named_parameters():
            if k in self.shadow:
                self.shadow[k].lerp_(p.detach(), 1.0 - self.decay)

    def copy_to(self, model: nn.Module) -> None:
        with torch.no_grad():
            for k, p in model.named_parameters():
                if k in self.shadow:
                    p.copy_(self.shadow[k])


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def checkpoint_path(run: Run, name: str):
    return run.path("checkpoints", f"{name}.pt")


def train(run: Run, model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor],
          batches: Callable[[int], Any], cfg: TrainConfig) -> nn.Module:
    """Train `model` for `cfg.steps` steps, resuming from `checkpoints/<name>.pt` if it exists.

    Returns the model with its final weights, or EMA weights when `ema_decay` is set. On CPU a run that was
    killed and resumed ends bit-identical to an uninterrupted one with the same seed.
    """
    device = run.device
    model.to(device)
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay else None
    path = checkpoint_path(run, cfg.name)
    step = 0
    if path.exists():
        state = checkpoint.load(path)
        if state["config"] != asdict(cfg):
            raise RuntimeError(f"{path} was written with a different training config; delete it to retrain.\n"
                               f"  checkpoint: {state['config']}\n  now:        {asdict(cfg)}")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.shadow = {k: v.to(device) for k, v in state["ema"].items()}
        checkpoint.set_rng_state(state["rng"])
        step = state["step"]
        run.log(f"{cfg.name}: resumed at step {step}/{cfg.steps} from {path}")
    else:
        torch.manual_seed(run.seed)

    log_path = run.path(f"train_{cfg.name}.jsonl")
    model.train()
    t0 = time.time()
    losses: list[torch.Tensor] = []
    bar = run.progress(total=cfg.steps, desc=f"train {cfg.name}")
    bar.update(step)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.bf16 and device.type == "cuda")
    while step < cfg.steps:
        batch = _to_device(batches(step), device)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / cfg.warmup) if cfg.warmup else cfg.lr
        with autocast:
            loss = loss_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        losses.append(loss.detach())
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        step += 1
        if step % cfg.log_every == 0 or step % cfg.ckpt_every == 0 or step == cfg.steps:
            recent = torch.stack(losses).float().cpu()  # one sync per log interval, not per step
            losses.clear()
            if not torch.isfinite(recent).all():
                first = step - len(recent) + int((~torch.isfinite(recent)).nonzero()[0]) + 1
                raise NonFiniteLossError(
                    f"{run.paper}/{run.experiment} {cfg.name}: loss is {recent[first - step + len(recent) - 1]} at "
                    f"step {first}; training stopped, the last good checkpoint is kept at {path}")
            mean = recent.mean().item()
            with open(log_path, "a") as fh:
                fh.write(json.dumps({"step": step, "loss": mean, "seconds": round(time.time() - t0, 3)}) + "\n")
            bar.set_postfix(loss=f"{mean:.4g}")
        opt.step()
        if ema is not None:
            ema.update(model)
        bar.update(1)
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            checkpoint.save(path, {
                "config": asdict(cfg), "step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "ema": ema.shadow if ema is not None else None, "rng": checkpoint.rng_state(), "finished":
                step == cfg.steps})
    bar.close()
    if ema is not None:
        ema.copy_to(model)
    model.eval()
    return model


def load_trained(run: Run, model: nn.Module, name: str = "model", ema: bool = True) -> nn.Module:
    """Weights of a finished training (EMA weights when it kept an EMA and `ema` is true)."""
    path = checkpoint_path(run, name)
    state = checkpoint.load(path)
    if not state.get("finished"):
        raise RuntimeError(f"{path} holds an unfinished training (step {state['step']}); run the train stage first")
    model.load_state_dict(state["model"])
    if ema and state["ema"] is not None:
        with torch.no_grad():
            for k, p in model.named_parameters():
                if k in state["ema"]:
                    p.copy_(state["ema"][k])
    return model.to(run.device).eval()


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    return batch

