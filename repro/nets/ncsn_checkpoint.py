"""Explicit converter for official `ermongroup/ncsn` checkpoints (`run/logs/<doc>/checkpoint*.pth`).

The official file is a Python list `[model_state_dict, adam_state_dict]`; the model keys carry the
`module.` prefix of `DataParallel`. There is no EMA and no step counter. We strip the prefix, check the key
set and every shape against our `CondRefineNetDilated` and load strictly; any mismatch is an error that names
the keys. The Adam state indexes parameters by position, which lines up because our parameters are registered
in the official order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from repro.nets.refinenet import CondRefineNetDilated
from repro.nets.strict_load import load_state_dict_exact

__all__ = ["read_official", "strip_prefix", "infer_config", "load_official_into", "build_from_official"]

PREFIX = "module."


def read_official(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Return (model_state_dict with `module.` keys, optimizer_state_dict) from an official checkpoint file."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    ok = isinstance(obj, (list, tuple)) and len(obj) == 2 and all(isinstance(o, Mapping) for o in obj)
    if not ok:
        kind = type(obj).__name__ + (f" of length {len(obj)}" if isinstance(obj, (list, tuple)) else "")
        raise ValueError(
            f"{path}: expected the official NCSN list [model_state_dict, optimizer_state_dict], got {kind}"
        )
    return dict(obj[0]), dict(obj[1])


def strip_prefix(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Remove the DataParallel `module.` prefix; every key must carry it (the official loader is strict too)."""
    bad = [k for k in state if not k.startswith(PREFIX)]
    if bad:
        raise KeyError(f"{source}: {len(bad)} key(s) lack the '{PREFIX}' prefix of the official layout: {bad[:5]}")
    return {k[len(PREFIX) :]: v for k, v in state.items()}


def infer_config(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> dict[str, int]:
    """channels, ngf and num_classes from the stored shapes (bare keys)."""
    for key in ("begin_conv.weight", "normalizer.embed.weight"):
        if key not in state:
            raise KeyError(f"{source}: key {key!r} missing; not a CondRefineNetDilated state dict")
    ngf, channels = state["begin_conv.weight"].shape[:2]
    num_classes, width = state["normalizer.embed.weight"].shape
    if width != 3 * ngf:
        raise ValueError(f"{source}: normalizer.embed.weight has width {width}, expected 3*ngf = {3 * ngf}")
    return {"channels": int(channels), "ngf": int(ngf), "num_classes": int(num_classes)}


def load_official_into(model: CondRefineNetDilated, state: Mapping[str, torch.Tensor], source: str = "checkpoint"):
    """Load a prefixed official state dict into `model`, strictly; errors name missing, extra and misshapen keys."""
    bare = strip_prefix(state, source)
    load_state_dict_exact(model, bare, source)
    return model


def build_from_official(path: str | os.PathLike) -> tuple[CondRefineNetDilated, dict[str, Any]]:
    """Build the network an official checkpoint describes, load it, and return it with the Adam state."""
    state, optim_state = read_official(path)
    cfg = infer_config(strip_prefix(state, str(path)), str(path))
    model = CondRefineNetDilated(**cfg)
    return load_official_into(model, state, str(path)), optim_state
