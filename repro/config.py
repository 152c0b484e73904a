"""Tier configs per paper, validated against the paper's JSON schema before any compute starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from repro.registry import PROJECT_ROOT

TIERS = ("smoke", "cpu", "paper")

# Keys every experiment config may carry, added to each experiment's schema.
COMMON_PROPERTIES: dict[str, Any] = {
    "seed": {"type": "integer", "minimum": 0},
    "needs": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
}


class ConfigError(ValueError):
    pass


def config_path(paper: str, tier: str) -> Path:
    return PROJECT_ROOT / "papers" / paper / "configs" / f"{tier}.yaml"


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err


def paper_schema(paper: str) -> dict[str, Any]:
    schema = read_yaml(PROJECT_ROOT / "papers" / paper / "configs" / "schema.yaml")
    for exp in schema.get("properties", {}).values():
        exp.setdefault("properties", {}).update(COMMON_PROPERTIES)
    return schema


def load_tier(paper: str, tier: str, path: Path | None = None) -> dict[str, dict[str, Any]]:
    """All experiment configs of `paper` at `tier` ({} when the paper has no config for that tier)."""
    if tier not in TIERS:
        raise ConfigError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
    if path is not None and not Path(path).exists():
        raise ConfigError(f"config file {path} does not exist")
    path = Path(path) if path is not None else config_path(paper, tier)
    if not path.exists():
        return {}
    data = read_yaml(path) or {}
    validate(data, paper_schema(paper), path)
    return data


def load(paper: str, experiment: str, tier: str, path: Path | None = None) -> dict[str, Any]:
    configs = load_tier(paper, tier, path)
    if experiment not in configs:
        raise ConfigError(
            f"{path or config_path(paper, tier)}: no experiment {experiment!r} at tier {tier!r} "
            f"(this tier has: {', '.join(configs) or 'none'})"
        )
    return configs[experiment]


def validate(data: Any, schema: dict[str, Any], path: Path) -> None:
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
