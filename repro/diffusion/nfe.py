"""Count network evaluations, and the ops a sampler dispatches outside them, by wrapping the function."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class CountingScore:
    """Wraps `score(x, sigma)`; `.nfe` counts calls (one call = one evaluation of the whole batch)."""

    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        self.fn = fn
        self.nfe = 0

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        self.nfe += 1
        return self.fn(*args, **kwargs)


class TimedScore(CountingScore):
    """A `CountingScore` that also times each evaluation where it happens, inside the sampler's own run (CUDA
    events on a GPU, read once after the run), so a sampler's overhead is its wall time over exactly these forwards
    rather than over a forward timed on its own."""

    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__(fn)
        self._host_seconds = 0.0
        self._events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []

    def __call__(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        if x.is_cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = super().__call__(x, *args, **kwargs)
            end.record()
            self._events.append((start, end))
            return out
        t0 = time.perf_counter()
        out = super().__call__(x, *args, **kwargs)
        self._host_seconds += time.perf_counter() - t0
        return out

    @property
    def seconds(self) -> float:
        """Total time of the evaluations so far (waits for the GPU when events were recorded)."""
        if self._events:
            torch.cuda.synchronize()
        return self._host_seconds + sum(s.elapsed_time(e) for s, e in self._events) / 1e3


class OpsOutsideScore(TorchDispatchMode):
    """While active, counts the aten ops dispatched outside the scores it wrapped: a sampler's own arithmetic,
    noise draws and indexing per step, a deterministic stand-in for its overhead (wall time on a shared machine is
    not steady). Wrap each score with `.wrap(score)`; ops inside a wrapped call are not counted."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0
        self._inside = 0

    def wrap(self, fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        def call(*args, **kwargs) -> torch.Tensor:
            self._inside += 1
            try:
                return fn(*args, **kwargs)
            finally:
                self._inside -= 1

        return call

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not self._inside:
            self.ops += 1
        return func(*args, **(kwargs or {}))
