"""Explicit, strict loading of score_sde_pytorch checkpoints into our NCSN++.

An official checkpoint (`utils.save_checkpoint`) is a dict with keys `optimizer`, `model`, `ema`, `step`:
`model` is the state_dict of a DataParallel wrapper (every key prefixed `module.`), and `ema` holds
`decay`, `num_updates` and `shadow_params`, a plain list with one tensor per parameter that has
requires_grad=True, in parameter order (so the frozen Fourier `W` and the `sigmas` buffer are absent).
The official loader is non-strict and silently ignores wrong names; here every key, shape and dtype
must match, and the EMA list is paired with parameters by position only after its length and shapes check.
A file holding only `{"model": state_dict}` (no EMA) loads with weights="model".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from repro.nets.strict_load import CheckpointMismatchError, load_state_dict_exact

Weights = Literal["model", "ema"]
CHECKPOINT_KEYS = ("optimizer", "model", "ema", "step")
EMA_KEYS = ("decay", "num_updates", "shadow_params")
PREFIX = "module."


def read_checkpoint(path: str | Path, need_ema: bool = True) -> dict[str, Any]:
    """Load an official score_sde checkpoint file (tensors only) and check its top-level layout."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"score_sde checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    check_layout(ckpt, source=str(path), need_ema=need_ema)
    return ckpt


def check_layout(ckpt: Any, source: str = "checkpoint", need_ema: bool = True) -> None:
    """Raise unless `ckpt` is a dict with a `model` entry and (if `need_ema`) an EMA dict with a shadow_params list."""
    if not isinstance(ckpt, Mapping):
        raise CheckpointMismatchError(
            f"{source}: expected a dict with keys {CHECKPOINT_KEYS}, got {type(ckpt).__name__}"
        )
    missing = [k for k in ("model", "ema") if k not in ckpt and (k == "model" or need_ema)]
    if missing:
        raise CheckpointMismatchError(f"{source}: missing top-level keys {missing} (has {sorted(ckpt)})")
    if not need_ema:
        return
    ema = ckpt["ema"]
    if not isinstance(ema, Mapping) or not isinstance(ema.get("shadow_params"), list | tuple):
        raise CheckpointMismatchError(f"{source}: 'ema' must be a dict with a 'shadow_params' list")


def strip_module_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the DataParallel `module.` prefix; every key must carry it, or none."""
    prefixed = [k.startswith(PREFIX) for k in state]
    if all(prefixed):
        return {k[len(PREFIX) :]: v for k, v in state.items()}
    if not any(prefixed):
        return dict(state)
    bare = [k for k, p in zip(state, prefixed, strict=True) if not p]
    raise CheckpointMismatchError(f"state_dict mixes keys with and without '{PREFIX}': e.g. {bare[:5]}")


def ema_state_dict(
    model: nn.Module, shadow_params: list[torch.Tensor] | tuple[torch.Tensor, ...], base: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """`base` (bare state_dict) with every requires_grad parameter of `model` replaced by its EMA shadow."""
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    if len(shadow_params) != len(trainable):
        raise CheckpointMismatchError(
            f"EMA shadow_params has {len(shadow_params)} tensors but the model has {len(trainable)} "
            "parameters with requires_grad=True"
        )
    state = dict(base)
    bad = []
    for i, (name, shadow) in enumerate(zip(trainable, shadow_params, strict=True)):
        if name in state and tuple(state[name].shape) != tuple(shadow.shape):
            bad.append(f"shadow_params[{i}] -> {name}: {tuple(shadow.shape)} vs {tuple(state[name].shape)}")
        state[name] = shadow
    if bad:
        raise CheckpointMismatchError("EMA shadow_params shape mismatch:\n  " + "\n  ".join(bad))
    return state


def select_weights(ckpt: Mapping[str, Any], weights: Weights, model: nn.Module) -> dict[str, torch.Tensor]:
    """Bare state_dict of the raw training weights ('model') or of the EMA weights ('ema', used for sampling)."""
    check_layout(ckpt, need_ema=weights == "ema")
    base = strip_module_prefix(ckpt["model"])
    if weights == "model":
        return base
    if weights == "ema":
        return ema_state_dict(model, ckpt["ema"]["shadow_params"], base)
    raise ValueError(f"weights must be 'model' or 'ema', got {weights!r}")


def load_score_sde_checkpoint(
    model: nn.Module, ckpt: str | Path | Mapping[str, Any], weights: Weights = "ema"
) -> nn.Module:
    """Load an official score_sde checkpoint (path or loaded dict) into `model`; EMA weights by default."""
    if isinstance(ckpt, str | Path):
        ckpt = read_checkpoint(ckpt, need_ema=weights == "ema")
    load_state_dict_exact(model, select_weights(ckpt, weights, model))
    return model
