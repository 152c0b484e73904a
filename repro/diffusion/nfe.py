"""Count network evaluations by wrapping the function, never by hand."""

from __future__ import annotations

from collections.abc import Callable

import torch


class CountingScore:
    """Wraps `score(x, sigma)`; `.nfe` counts calls (one call = one evaluation of the whole batch)."""

    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        self.fn = fn
        self.nfe = 0

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        self.nfe += 1
        return self.fn(*args, **kwargs)
