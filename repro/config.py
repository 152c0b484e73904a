"""Tier configs per paper: one default per experiment, tier files as overlays, validated before any compute.

`papers/<paper>/configs/defaults.yaml` holds each experiment's settings shared by its tiers; `<tier>.yaml` lists
the experiments available at that tier, each with only what differs (merged key by key, nested mappings too).
The merged config is checked against the paper's JSON schema (plus the keys every experiment shares and the one
`training:` sub-schema, read through `repro.train.TrainConfig.from_config`), then built into the experiment's
dataclass (`repro.typed`), a subclass of `ExperimentConfig`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from repro.registry import PROJECT_ROOT, STAGE_ORDER

TIERS = ("smoke", "cpu", "paper")
REHEARSAL_FILE = "rehearsal.yaml"  # the paper rehearsal's cut, laid over the paper tier

# Keys every experiment config may carry, added to each experiment's schema.
COMMON_PROPERTIES: dict[str, Any] = {
    "seed": {"type": "integer", "minimum": 0},
    "needs": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
}


# The training section of every experiment: the fields of repro.train.TrainConfig that a config may set.
TRAINING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["steps", "batch_size", "lr"],
    "properties": {
        "steps": {"type": "integer", "minimum": 1},
        "batch_size": {"type": "integer", "minimum": 1},
        "lr": {"type": "number", "exclusiveMinimum": 0},
        "optimizer": {"enum": ["adam", "rmsprop", "sgd"]},
        "betas": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        "weight_decay": {"type": "number", "minimum": 0},
        "eps": {"type": "number", "exclusiveMinimum": 0},
        "ema_decay": {"type": ["number", "null"], "minimum": 0, "exclusiveMaximum": 1},
        "grad_clip": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "warmup": {"type": "integer", "minimum": 0},
        "decay_frac": {"type": "number", "minimum": 0, "maximum": 1},
        "lr_decay_steps": {"type": "integer", "minimum": 0},
        "lr_decay_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "lr_decay_interval": {"type": "integer", "minimum": 1},
        "lr_min": {"type": "number", "minimum": 0},
        "ckpt_every": {"type": "integer", "minimum": 1},
        "keep_every": {"type": ["integer", "null"], "minimum": 1},
        "log_every": {"type": "integer", "minimum": 1},
        "bf16": {"type": "boolean"},
        "tf32": {"type": "boolean"},
        "channels_last": {"type": "boolean"},
        "compile": {"type": ["boolean", "string"]},
        "cudnn_benchmark": {"type": "boolean"},
    },
}


class ConfigError(ValueError):
    pass


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """The keys every experiment config has; each experiment's own dataclass extends it."""

    seed: int = 0
    needs: tuple[str, ...] = ()


def read_from(stage: str, default: Any = dataclasses.MISSING) -> Any:
    """A config field first read by `stage` (sample, evaluate): the fingerprints of earlier stages leave it out,
    so changing it reuses a trained model (or finished samples) instead of refusing them. Mark a field so only
    when no earlier stage reads it."""
    if stage not in STAGE_ORDER[1:]:
        raise ValueError(f"read_from: stage must be one of {STAGE_ORDER[1:]}, got {stage!r}")
    return dataclasses.field(default=default, metadata={"first_read": stage})


def defaults_path(paper: str) -> Path:
    return PROJECT_ROOT / "papers" / paper / "configs" / "defaults.yaml"


def overlay(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `top` laid over it: nested mappings merge key by key, anything else in `top` replaces."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = overlay(out[key], value)
        else:
            out[key] = value
    return out


def config_path(paper: str, tier: str) -> Path:
    return PROJECT_ROOT / "papers" / paper / "configs" / f"{tier}.yaml"


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err


def paper_schema(paper: str) -> dict[str, Any]:
    schema = read_yaml(PROJECT_ROOT / "papers" / paper / "configs" / "schema.yaml")
    schema.setdefault("$defs", {})["training"] = TRAINING_SCHEMA
    for exp in schema.get("properties", {}).values():
        exp.setdefault("properties", {}).update(COMMON_PROPERTIES)
    return schema


def rehearsal_path(paper: str) -> Path:
    return PROJECT_ROOT / "papers" / paper / "configs" / REHEARSAL_FILE


def rehearsal_overlay(
    paper: str, data: Mapping[str, Mapping[str, Any]], data_root: str | Path | None = None
) -> dict[str, dict[str, Any]]:
    """The paper tier's merged configs with `rehearsal.yaml` laid over them (the paper rehearsal).

    Each experiment's entry holds the cut (steps, sample counts, reference sizes) and, under `absent:`, one
    overlay per download (`needs` item) that is applied when that item is not under `data_root`: the synthetic
    stand-in of the exact shape. Every paper-tier experiment must have an entry, and no other.
    """
    from repro import check

    path = rehearsal_path(paper)
    if not data:
        return {}
    if not path.exists():
        raise ConfigError(f"{path} is missing: the paper rehearsal needs a cut for {', '.join(data)}")
    cuts = read_yaml(path) or {}
    if not isinstance(cuts, Mapping):
        raise ConfigError(f"{path}: expected a mapping of experiment names, got {type(cuts).__name__}")
    missing, extra = sorted(set(data) - set(cuts)), sorted(set(cuts) - set(data))
    if missing or extra:
        raise ConfigError(
            f"{path}: every paper-tier experiment needs exactly one entry (missing: {', '.join(missing) or '-'};"
            f" not at the paper tier: {', '.join(extra) or '-'})"
        )
    root = data_root if data_root is not None else "data"
    out = {}
    for exp, cfg in data.items():
        cut = dict(cuts[exp] or {})
        absent = cut.pop("absent", None) or {}
        merged = overlay(cfg, cut)
        for item, stand_in in absent.items():
            if item not in check.ITEMS:
                raise ConfigError(f"{path}: {exp}.absent: unknown item {item!r}; known: {', '.join(check.ITEMS)}")
            if not check.present(item, root):
                merged = overlay(merged, stand_in or {})
        out[exp] = merged
    return out


def load_tier(
    paper: str,
    tier: str,
    path: Path | None = None,
    *,
    rehearsal: bool = False,
    data_root: str | Path | None = None,
) -> dict[str, dict[str, Any]]:
    """All experiment configs of `paper` at `tier` ({} when the paper has no config for that tier).

    `rehearsal` (paper tier only): `papers/<paper>/configs/rehearsal.yaml` laid over the merged paper configs
    (stand-ins chosen by what is absent under `data_root`), validated by the same schema.
    """
    if tier not in TIERS:
        raise ConfigError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
    if rehearsal and tier != "paper":
        raise ConfigError(f"a rehearsal is of the paper tier, not of {tier!r}")
    if path is not None and not Path(path).exists():
        raise ConfigError(f"config file {path} does not exist")
    path = Path(path) if path is not None else config_path(paper, tier)
    if not path.exists():
        return {}
    tier_data = read_yaml(path) or {}
    if not isinstance(tier_data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of experiment names, got {type(tier_data).__name__}")
    defaults_file = defaults_path(paper)
    defaults = (read_yaml(defaults_file) or {}) if defaults_file.exists() else {}
    data = {exp: overlay(defaults.get(exp) or {}, over or {}) for exp, over in tier_data.items()}
    where = f"{path} (laid over {defaults_file.name})" if defaults else path
    if rehearsal:
        data = rehearsal_overlay(paper, data, data_root)
        where = f"{rehearsal_path(paper)} (laid over {where})"
    validate(data, paper_schema(paper), where)
    return data


def load(
    paper: str,
    experiment: str,
    tier: str,
    path: Path | None = None,
    *,
    rehearsal: bool = False,
    data_root: str | Path | None = None,
) -> dict[str, Any]:
    configs = load_tier(paper, tier, path, rehearsal=rehearsal, data_root=data_root)
    if experiment not in configs:
        raise ConfigError(
            f"{path or config_path(paper, tier)}: no experiment {experiment!r} at tier {tier!r} "
            f"(this tier has: {', '.join(configs) or 'none'})"
        )
    return configs[experiment]


def validate(data: Any, schema: dict[str, Any], path: Path | str) -> None:
    """Raise ConfigError naming the file and the dotted key of the first problem."""
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if not errors:
        return
    lines = []
    for err in errors:
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = sorted(set(err.instance) - set(allowed))
            extra_s, allowed_s = ", ".join(map(repr, extra)), ", ".join(allowed)
            lines.append(f"{path}: {where}: unknown key(s) {extra_s}; allowed: {allowed_s}")
        else:
            lines.append(f"{path}: {where}: {err.message}")
    raise ConfigError("invalid config:\n  " + "\n  ".join(lines))
