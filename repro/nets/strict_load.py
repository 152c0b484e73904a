"""Strict state-dict loading: every key, shape and dtype checked first, all problems named in one error."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


class CheckpointMismatchError(KeyError, ValueError):
    """A checkpoint does not fit the model: names the missing/unexpected keys and the shape/dtype mismatches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def load_state_dict_exact(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load with every key, shape and dtype checked first; the error lists all problems by key."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} {state[k].dtype} vs model {tuple(v.shape)} {v.dtype}"
        for k, v in own.items()
        if k in state and (tuple(state[k].shape) != tuple(v.shape) or state[k].dtype != v.dtype)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {missing}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {unexpected}")
        if mismatched:
            parts.append("shape/dtype mismatches:\n  " + "\n  ".join(mismatched))
        raise CheckpointMismatchError(f"{source} does not fit {type(model).__name__}:\n" + "\n".join(parts))
    model.load_state_dict(state, strict=True)
