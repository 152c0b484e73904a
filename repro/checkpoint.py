"""Training checkpoints: model, optimizer, EMA, step and every RNG state, written atomically.

Our own checkpoints hold only what `torch.load(..., weights_only=True)` accepts (tensors, numbers, strings,
None, lists, tuples and dicts): RNG states are stored as tensors and plain numbers, and `save` converts numpy
arrays and scalars, paths and dataclasses before writing, so loading never runs arbitrary pickled code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.atomic import atomic_path
from repro.registry import STAGE_ORDER


def rng_state() -> dict[str, Any]:
    """Every RNG state of this process, in weights-only-loadable form."""
    state = {"torch": torch.get_rng_state(), "numpy": numpy_rng_state(), "python": python_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    set_numpy_rng_state(state["numpy"])
    set_python_rng_state(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def numpy_rng_state() -> dict[str, Any]:
    """numpy's global RNG state with its key array as an int64 tensor."""
    algo, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "algo": str(algo),
        "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def set_numpy_rng_state(state: dict[str, Any] | tuple) -> None:
    """Restore numpy's global RNG from `numpy_rng_state()` (or numpy's own tuple, as older checkpoints hold)."""
    if isinstance(state, dict):
        keys = np.asarray(state["keys"].numpy(), dtype=np.uint32)
        state = (state["algo"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"])
    np.random.set_state(state)


def python_rng_state() -> dict[str, Any]:
    """Python's `random` state as plain numbers (its 625 words as an int64 tensor)."""
    version, words, gauss = random.getstate()
    return {"version": int(version), "words": torch.tensor(words, dtype=torch.int64), "gauss": gauss}


def set_python_rng_state(state: dict[str, Any] | tuple) -> None:
    """Restore Python's `random` from `python_rng_state()` (or its own tuple, as older checkpoints hold)."""
    if isinstance(state, dict):
        state = (state["version"], tuple(int(w) for w in state["words"].tolist()), state["gauss"])
    random.setstate(state)


def weights_only_safe(obj: Any) -> Any:
    """`obj` with numpy arrays/scalars as tensors/numbers, paths as strings and dataclasses as dicts.

    Containers whose items need no change are returned as they are (a state dict keeps its `_metadata`).
    """
    if obj is None or isinstance(obj, (torch.Tensor, bool, int, float, str, bytes, torch.dtype, torch.device)):
        return obj
    if isinstance(obj, dict):
        items = [(k, weights_only_safe(v)) for k, v in obj.items()]
        if type(obj) in (dict, OrderedDict) and all(
            new is old for (_, new), old in zip(items, obj.values(), strict=True)
        ):
            return obj
        return OrderedDict(items) if isinstance(obj, OrderedDict) else dict(items)
    if isinstance(obj, (list, tuple)):
        items = [weights_only_safe(v) for v in obj]
        if type(obj) in (list, tuple, torch.Size) and all(new is old for new, old in zip(items, obj, strict=True)):
            return obj
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return weights_only_safe(dataclasses.asdict(obj))
    raise TypeError(f"cannot store a {type(obj).__name__} in a weights-only checkpoint: convert it first")


def save(path: Path, payload: dict[str, Any]) -> None:
    """torch.save through a temp file + rename: a kill mid-write leaves the previous checkpoint intact."""
    safe = weights_only_safe(payload)
    with atomic_path(path) as tmp:
        torch.save(safe, tmp)


def load(path: Path) -> dict[str, Any]:
    """A checkpoint written by `save`, loaded with `weights_only=True`; errors name the file."""
    if not Path(path).exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which
        raise RuntimeError(f"checkpoint {path} cannot be read ({err}); delete it to start that work again") from err


# Settings that change how a run executes but not what it computes (up to float reordering), at any depth of
# the experiment config: a checkpoint or shard folder written with other values of these is still reused.
EXECUTION_FIELDS = ("channels_last", "compile", "keep_every", "cudnn_benchmark")
NON_OUTPUT_KEYS = ("needs",)  # which downloads a stage checks for: never part of what it computes
FIRST_READ = "first_read"  # field metadata: the first stage that reads a config field (repro.config.read_from)


def run_settings(cfg: Any, stage: str = "train") -> dict[str, Any]:
    """The settings that can change what `stage` computes: the experiment config (a dataclass or mapping) as
    canonical JSON-native data, without execution keys and without the fields marked as first read by a later
    stage (`repro.config.read_from`): a trained model stays valid when only a sample count changes."""
    data = _stage_view(cfg, STAGE_ORDER.index(stage))
    plain = json.loads(json.dumps(data, sort_keys=True, default=_json_default))
    return _without(plain, set(EXECUTION_FIELDS) | set(NON_OUTPUT_KEYS))


def _stage_view(obj: Any, stage_index: int) -> Any:
    """A dataclass as a dict of the fields a stage of that index may read (nested dataclasses alike)."""
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        return obj
    return {
        f.name: _stage_view(getattr(obj, f.name), stage_index)
        for f in dataclasses.fields(obj)
        if STAGE_ORDER.index(f.metadata.get(FIRST_READ, "train")) <= stage_index
    }


def fingerprint(settings: dict[str, Any]) -> str:
    """sha256 of the settings' canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def changed_settings(stored: dict[str, Any], settings: dict[str, Any]) -> str | None:
    """None when a saved record (`fingerprint`, `settings`) was made under `settings`; else what changed, for an
    error message: `key: stored -> now` per differing key, or "not recorded" when the record holds no settings."""
    if stored.get("fingerprint") == fingerprint(settings):
        return None
    old = stored.get("settings")
    return describe_differences(old, settings) if isinstance(old, dict) else "not recorded"


def differing_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted paths (e.g. `training.steps`) whose values differ between two settings trees."""
    a, b = _flatten(old), _flatten(new)
    return sorted(k for k in set(a) | set(b) if a.get(k, _ABSENT) != b.get(k, _ABSENT))


def describe_differences(old: dict[str, Any], new: dict[str, Any], limit: int = 12) -> str:
    """`key: stored -> now` for each differing key (at most `limit`), for error messages."""
    a, b = _flatten(old), _flatten(new)
    keys = differing_keys(old, new)
    parts = [f"{k}: {a.get(k, '(absent)')!r} -> {b.get(k, '(absent)')!r}" for k in keys[:limit]]
    more = f" (and {len(keys) - limit} more)" if len(keys) > limit else ""
    return "; ".join(parts) + more


_ABSENT = object()


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict) or not tree:
        return {prefix: tree} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _without(tree: Any, drop: set[str]) -> Any:
    if isinstance(tree, dict):
        return {k: _without(v, drop) for k, v in tree.items() if k not in drop}
    if isinstance(tree, list):
        return [_without(v, drop) for v in tree]
    return tree


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)  # paths, enums, dtypes: their text is their identity
