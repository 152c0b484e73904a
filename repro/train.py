"""The one training loop every paper uses: optimizer, warm-up, clipping, EMA, atomic checkpoints, resume.

Speed: the loop never waits for the device per step (the loss is read once per log interval, batches are copied
from pinned memory); the GPU options (`bf16`, `tf32`, `channels_last`, `compile`) are off by default because
they change the numbers (see `repro.speed`). Under torchrun with several processes the model is wrapped in
DistributedDataParallel and each rank trains on its contiguous shard of the global batch (`repro.distributed`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from repro import atomic, checkpoint, distributed, speed
from repro.distributed import World
from repro.run import Run

# Options that change how the steps execute but not what they compute (up to float reordering): a checkpoint
# written with other values of these still resumes (at any depth of the experiment config too).
EXECUTION_FIELDS = checkpoint.EXECUTION_FIELDS


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
    decay_frac: float = 0.0  # the learning rate falls linearly to 0 over this final fraction of the steps
    # Staircase exponential decay (Sohl-Dickstein's reference code): x lr_decay_rate per lr_decay_steps steps,
    # applied every lr_decay_interval steps, never below lr_min. lr_decay_steps 0: off.
    lr_decay_steps: int = 0
    lr_decay_rate: float = 0.1
    lr_decay_interval: int = 1
    lr_min: float = 0.0
    ckpt_every: int = 1000
    keep_every: int | None = None  # also keep the sampling weights every N steps (checkpoint selection by quality)
    log_every: int = 100
    bf16: bool = False  # bf16 autocast on CUDA
    tf32: bool = False  # TF32 matmuls/convolutions on CUDA; False = strict fp32
    channels_last: bool = False  # conv weights channels_last (the batch keeps its layout: randn_like draws unchanged)
    compile: bool | str = False  # torch.compile the loss computation (see repro.speed for the values)
    # cuDNN times its kernels once per shape and keeps the fastest (training shapes are fixed). Off: cuDNN's
    # heuristic picks, the choice a bit-identical CUDA resume needs when a run is killed and restarted.
    cudnn_benchmark: bool = True
    name: str = "model"

    @classmethod
    def from_config(cls, section: Mapping[str, Any], name: str, **defaults: Any) -> TrainConfig:
        """From a paper config's training section (already schema-validated): its keys that are fields win over
        `defaults`; other keys (a paper's own, e.g. a width) are left to the paper."""
        known = {f.name for f in fields(cls)}
        return cls(**{**defaults, **{k: v for k, v in section.items() if k in known}, "name": name})

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.lr <= 0 or self.batch_size <= 0 or self.ckpt_every <= 0 or self.log_every <= 0:
            raise ValueError(
                f"training config {self.name!r}: steps, lr, batch_size, ckpt_every, log_every must be > 0: {self}"
            )
        if self.lr_decay_steps < 0 or self.lr_decay_interval <= 0 or not 0.0 < self.lr_decay_rate <= 1.0:
            raise ValueError(
                f"training config {self.name!r}: need lr_decay_steps >= 0, lr_decay_interval > 0 and "
                f"lr_decay_rate in (0, 1], got {self.lr_decay_steps}, {self.lr_decay_interval}, {self.lr_decay_rate}"
            )
        if not 0.0 <= self.decay_frac <= 1.0:
            raise ValueError(f"training config {self.name!r}: decay_frac must be in [0, 1], got {self.decay_frac}")
        if self.keep_every is not None and self.keep_every <= 0:
            raise ValueError(f"training config {self.name!r}: keep_every must be > 0 or None, got {self.keep_every}")
        if self.optimizer not in ("adam", "rmsprop", "sgd"):
            raise ValueError(f"training config {self.name!r}: unknown optimizer {self.optimizer!r}")
        speed.check_compile_option(self.compile, f"training config {self.name!r}: compile")
        self.betas = tuple(self.betas)


class NonFiniteLossError(RuntimeError):
    pass


class EMA:
    """Exponential moving average of the parameters (fixed decay)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad}
        self._pairs: tuple[Any, ...] | None = None  # (shadow dict, model, shadow tensors, parameters), built once

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        if self._pairs is None or self._pairs[0] is not self.shadow or self._pairs[1] is not model:
            params = dict(model.named_parameters())
            self._pairs = (self.shadow, model, list(self.shadow.values()), [params[k] for k in self.shadow])
        torch._foreach_lerp_(self._pairs[2], self._pairs[3], 1.0 - self.decay)

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


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up over the first `warmup` steps, linear decay to 0 over the final `decay_frac` of the steps,
    and the staircase exponential decay (`lr_decay_*`, floored at `lr_min`)."""
    warm = min(1.0, (step + 1) / cfg.warmup) if cfg.warmup else 1.0
    decay = min(1.0, (cfg.steps - step) / (cfg.decay_frac * cfg.steps)) if cfg.decay_frac else 1.0
    base = cfg.lr
    if cfg.lr_decay_steps:
        done = step // cfg.lr_decay_interval * cfg.lr_decay_interval
        base = max(cfg.lr_min, cfg.lr * cfg.lr_decay_rate ** (done / cfg.lr_decay_steps))
    return base * warm * decay


def checkpoint_path(run: Run, name: str):
    return run.path("checkpoints", f"{name}.pt")


def snapshot_path(run: Run, name: str, step: int):
    return run.path("checkpoints", f"{name}_step{step:07d}.pt")


def snapshots(run: Run, name: str) -> list[tuple[int, Path]]:
    """(step, path) of the weights kept every `keep_every` steps, by step."""
    found = []
    for f in run.path("checkpoints").glob(f"{name}_step*.pt"):
        if m := re.fullmatch(rf"{re.escape(name)}_step(\d+)\.pt", f.name):
            found.append((int(m.group(1)), f))
    return sorted(found)


class _LossModule(nn.Module):
    """`loss_fn(model, batch)` as a module, so DDP and torch.compile see the whole loss computation while
    `loss_fn` still gets the plain model (with its own methods, e.g. `model.loss`)."""

    def __init__(self, model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Any) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


def train(
    run: Run,
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    batches: Callable[[int], Any],
    cfg: TrainConfig,
) -> nn.Module:
    """Train `model` for `cfg.steps` steps, resuming from `checkpoints/<name>.pt` if it exists.

    Returns the model with its final weights, or EMA weights when `ema_decay` is set. On CPU a run that was
    killed and resumed ends bit-identical to an uninterrupted one with the same seed. Under torchrun each rank
    computes `loss_fn` on its shard of `batches(step)` (a mean over the shard, so the gradient average over the
    ranks is the global-batch gradient); rank 0 alone writes the checkpoint and the log.
    """
    world = distributed.setup(run.device)
    device = world.device
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        speed.set_tf32(cfg.tf32)
        torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
        if world.main:
            run.log(f"{cfg.name}: cudnn.benchmark {'on' if cfg.cudnn_benchmark else 'off'}, TF32 {cfg.tf32}")
    compute_loss = _loss_computation(model, loss_fn, cfg, world)  # DDP broadcasts rank 0's weights here
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay else None
    path = checkpoint_path(run, cfg.name)
    settings = checkpoint.run_settings(run.cfg)
    step = 0
    if path.exists():
        state = checkpoint.load(path)
        _check_config(state["config"], cfg, path)
        check_settings(state, settings, path, run)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.shadow = {k: v.to(device) for k, v in state["ema"].items()}
        step = state["step"]
        _restore_rng(state, world, run.seed)
        if world.main:
            run.log(f"{cfg.name}: resumed at step {step}/{cfg.steps} from {path}")
            if state.get("world_size", 1) != world.size:
                run.log(
                    f"{cfg.name}: the checkpoint was written by {state.get('world_size', 1)} processes, this run "
                    f"has {world.size}: same data order, but the loss's random draws differ from an "
                    f"uninterrupted run"
                )
    else:
        torch.manual_seed(_rank_seed(run.seed, world.rank))

    log_path = run.path(f"train_{cfg.name}.jsonl")
    if world.main:
        _truncate_log(log_path, step)  # lines of steps after the checkpoint would be written again
    model.train()
    t0 = time.time()
    losses: list[torch.Tensor] = []
    bar = run.progress(total=cfg.steps, desc=f"train {cfg.name}", initial=step) if world.main else _NoBar()
    autocast = speed.autocast(cfg.bf16, device)
    while step < cfg.steps:
        batch = _to_device(distributed.shard(batches(step), world), device)
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step)
        with autocast:
            loss = compute_loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        losses.append(loss.detach())
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        step += 1
        if step % cfg.log_every == 0 or step % cfg.ckpt_every == 0 or step == cfg.steps:
            # one sync per log interval, not per step; under DDP the mean over ranks (a NaN anywhere stops all)
            recent = distributed.mean_over_ranks(torch.stack(losses).float(), world).cpu()
            losses.clear()
            if not torch.isfinite(recent).all():
                first = step - len(recent) + int((~torch.isfinite(recent)).nonzero()[0]) + 1
                raise NonFiniteLossError(
                    f"{run.paper}/{run.experiment} {cfg.name}: loss is {recent[first - step + len(recent) - 1]} at "
                    f"step {first}; training stopped, the last good checkpoint is kept at {path}"
                )
            mean = recent.mean().item()
            if world.main:
                with open(log_path, "a") as fh:
                    fh.write(json.dumps({"step": step, "loss": mean, "seconds": round(time.time() - t0, 3)}) + "\n")
            bar.set_postfix(loss=f"{mean:.4g}")
        opt.step()
        if ema is not None:
            ema.update(model)
        bar.update(1)
        if cfg.keep_every and step % cfg.keep_every == 0 and world.main:
            weights = {**model.state_dict(), **(ema.shadow if ema is not None else {})}  # saved, so no copies
            snapshot = {"step": step, "model": weights, "fingerprint": checkpoint.fingerprint(settings)}
            checkpoint.save(snapshot_path(run, cfg.name, step), snapshot)
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            rng = distributed.gather_objects(_rng_state(world), world)  # a collective: every rank takes part
            if world.main:
                checkpoint.save(
                    path,
                    {
                        "config": asdict(cfg),
                        "settings": settings,
                        "fingerprint": checkpoint.fingerprint(settings),
                        "step": step,
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "ema": ema.shadow if ema is not None else None,
                        "rng": rng[0],
                        "rng_ranks": rng if world.active else None,
                        "world_size": world.size,
                        "finished": step == cfg.steps,
                    },
                )
    bar.close()
    distributed.barrier(world)  # no rank goes on before rank 0's final checkpoint is on disk
    if ema is not None:
        ema.copy_to(model)
    model.eval()
    return model


def load_snapshot(run: Run, model: nn.Module, path: Path) -> nn.Module:
    """Weights kept by `keep_every` (the EMA weights where training kept an EMA)."""
    state = checkpoint.load(path)
    if "fingerprint" in state and state["fingerprint"] != checkpoint.fingerprint(checkpoint.run_settings(run.cfg)):
        raise RuntimeError(f"{path} was kept by a training under other experiment settings; {_how_to_proceed(run)}")
    model.load_state_dict(state["model"])
    return model.to(run.device).eval()


def load_trained(run: Run, model: nn.Module, name: str = "model", ema: bool = True) -> nn.Module:
    """Weights of a finished training (EMA weights when it kept an EMA and `ema` is true)."""
    path = checkpoint_path(run, name)
    state = checkpoint.load(path)
    if not state.get("finished"):
        raise RuntimeError(f"{path} holds an unfinished training (step {state['step']}); run the train stage first")
    check_settings(state, checkpoint.run_settings(run.cfg), path, run)
    model.load_state_dict(state["model"])
    if ema and state["ema"] is not None:
        with torch.no_grad():
            for k, p in model.named_parameters():
                if k in state["ema"]:
                    p.copy_(state["ema"][k])
    return model.to(run.device).eval()


def _loss_computation(model: nn.Module, loss_fn: Callable, cfg: TrainConfig, world: World) -> Callable:
    """batch -> loss: plain `loss_fn(model, batch)`, or through DDP and/or torch.compile when asked for."""
    if not world.active and cfg.compile is False:
        return lambda batch: loss_fn(model, batch)
    module: nn.Module = _LossModule(model, loss_fn)
    if world.active:
        ids = [world.device.index] if world.device.type == "cuda" else None
        module = DistributedDataParallel(module, device_ids=ids, output_device=ids[0] if ids else None)
    return speed.compile_fn(module, cfg.compile)


def _check_config(saved: dict[str, Any], cfg: TrainConfig, path) -> None:
    now = asdict(cfg)
    differs = [k for k in set(saved) | set(now) if k not in EXECUTION_FIELDS and saved.get(k) != now.get(k)]
    if differs:
        raise RuntimeError(
            f"{path} was written with a different training config ({', '.join(sorted(differs))}); "
            f"delete it to retrain.\n  checkpoint: {saved}\n  now:        {now}"
        )


def check_settings(state: dict[str, Any], settings: dict[str, Any], path: Path, run: Run) -> None:
    """Refuse a checkpoint written under other experiment settings, naming the file and the differing keys."""
    if state.get("fingerprint") == checkpoint.fingerprint(settings):
        return
    stored = state.get("settings")
    if stored is None:
        why = "records no experiment settings (it predates settings fingerprints), so it cannot be trusted"
    else:
        why = f"was trained under other experiment settings ({checkpoint.describe_differences(stored, settings)})"
    raise RuntimeError(f"checkpoint {path} {why}; {_how_to_proceed(run)}")


def _how_to_proceed(run: Run) -> str:
    return (
        f"it is not reused. To train again under the current config, delete the run folder {run.root}, "
        f"or pass a different --runs-root (now {run.runs_root})"
    )


def _truncate_log(log_path: Path, step: int) -> None:
    """Drop the training log's lines for steps after `step` (a resumed run writes them again); 0 empties it."""
    if not log_path.exists():
        return
    lines = log_path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if _logged_step(line, log_path) <= step]
    if len(kept) != len(lines):
        atomic.write_text(log_path, "".join(kept))


def _logged_step(line: str, log_path: Path) -> int:
    """The step of one training-log line; a torn last line (a kill mid-write) counts as after any checkpoint."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        if not line.endswith("\n"):
            return 1 << 62
        raise ValueError(f"{log_path}: unreadable training-log line {line.strip()!r}") from None


def _rank_seed(seed: int, rank: int) -> int:
    """Rank 0 keeps the run's seed (single-process runs are unchanged); other ranks get their own streams."""
    return seed if rank == 0 else seed + 0x9E3779B9 * rank


def _rng_state(world: World) -> dict[str, Any]:
    """This process's RNG states; under DDP only its own CUDA device's (not every visible GPU's)."""
    if not world.active:
        return checkpoint.rng_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": checkpoint.numpy_rng_state(),
        "python": checkpoint.python_rng_state(),
    }
    if world.device.type == "cuda":
        state["cuda_device"] = torch.cuda.get_rng_state(world.device)
    return state


def _restore_rng(state: dict[str, Any], world: World, seed: int) -> None:
    saved = state.get("rng_ranks") or [state["rng"]]
    if len(saved) != world.size:  # another process count: rank 0 continues, the others start fresh streams
        if world.rank > 0:
            torch.manual_seed(_rank_seed(seed + state["step"], world.rank))
            return
        saved = [state["rng"]]
    mine = dict(saved[world.rank])
    cuda_device = mine.pop("cuda_device", None)
    checkpoint.set_rng_state(mine)
    if cuda_device is not None and world.device.type == "cuda":
        torch.cuda.set_rng_state(cuda_device, world.device)


class _NoBar:
    """The progress bar of ranks other than 0."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _to_device(batch: Any, device: torch.device) -> Any:
    """Move a batch; CPU -> CUDA copies go through pinned memory so they do not block the host."""
    if isinstance(batch, torch.Tensor):
        if device.type == "cuda" and batch.device.type == "cpu":
            return batch.pin_memory().to(device, non_blocking=True)
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch
