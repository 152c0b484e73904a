"""What a paper target computes, in units a GPU can price: training steps, network forwards, Inception images.

Each experiment with GPU stages declares its work in its module (`work(cfg) -> list[Work]`, counts read from the
config it is given). `bench/estimate.py` times one of each distinct unit on the device and multiplies, so the
estimate of a target that runs for hours costs seconds of GPU time. What a declaration leaves out (data loading,
a loss's own arithmetic, checkpoint writes, the samplers' per-step arithmetic, which `bench.samplers` bounds at a
few per cent) makes the estimate a lower bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

KINDS = ("train", "forward", "inception")
Kind = Literal["train", "forward", "inception"]


@dataclass(frozen=True)
class Net:
    """A network as a stage runs it. `name` identifies the architecture and size (units of work with the same name
    and batch are priced once); `inputs(batch, device)` gives the random arguments of one call, e.g. (x, sigma)."""

    name: str
    build: Callable[[], nn.Module]
    inputs: Callable[[int, torch.device], tuple[torch.Tensor, ...]]


@dataclass(frozen=True)
class Work:
    """`count` units of one kind in one stage: training steps of `net` at `batch` (forward, backward, Adam update),
    forwards of `net` at `batch` without gradients, or `count` images through Inception (`net` None)."""

    stage: str
    what: str  # what the units are for, e.g. "annealed Langevin 10 x 100 for 50000 samples"
    kind: Kind
    count: int
    batch: int
    net: Net | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.what}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.count < 0 or self.batch < 1:
            raise ValueError(f"{self.what}: need count >= 0 and batch >= 1, got {self.count} and {self.batch}")
        if (self.net is None) != (self.kind == "inception"):
            raise ValueError(f"{self.what}: a {self.kind} unit {'needs' if self.net is None else 'takes no'} net")

    @property
    def unit(self) -> tuple[str, str, int]:
        """What one unit's price depends on: kind, network and batch."""
        return self.kind, self.net.name if self.net else "inception", self.batch


def image_inputs(shape: tuple[int, ...], *conditions: Callable[[int, torch.device], torch.Tensor]):
    """`Net.inputs` for a network called as net(x, *conditions): x uniform in [0, 1) of `shape` per image."""

    def inputs(batch: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        return torch.rand(batch, *shape, device=device), *(c(batch, device) for c in conditions)

    return inputs


def level_labels(n_levels: int) -> Callable[[int, torch.device], torch.Tensor]:
    """A batch of noise-level indices (NCSN's conditioning)."""
    return lambda batch, device: torch.randint(n_levels, (batch,), device=device)


def sigmas(low: float, high: float) -> Callable[[int, torch.device], torch.Tensor]:
    """A batch of noise levels in [low, high) (continuous conditioning)."""
    return lambda batch, device: torch.empty(batch, device=device).uniform_(low, high)


def batches(n: int, batch: int) -> int:
    """How many calls of `batch` cover `n` items (the last one may be partial; priced as a full one)."""
    return -(-n // batch)


def paper_tier() -> dict[str, list[Work]]:
    """The declared work of every paper-tier experiment with GPU stages, at its paper-tier config."""
    from repro import config, registry, typed

    out: dict[str, list[Work]] = {}
    for key, exp in sorted(registry.experiments().items()):
        cfgs = config.load_tier(exp.paper, "paper")
        if exp.name not in cfgs or not exp.gpu_stages:
            continue
        cfg = typed.build(exp.config_class(), cfgs[exp.name], f"{config.config_path(exp.paper, 'paper')}: {exp.name}")
        out[key] = exp.work(cfg)
    return out
