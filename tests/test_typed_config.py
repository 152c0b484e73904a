"""Typed configs: every tier's merged YAML builds into its experiment's dataclass; overlays merge key by key."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

import pytest

from repro import config, registry, typed
from repro.train import TrainConfig


@dataclass(frozen=True, kw_only=True)
class Inner:
    eps: float
    n: int = 3


@dataclass(frozen=True, kw_only=True)
class Outer(config.ExperimentConfig):
    inner: Inner
    levels: tuple[int, ...]
    maybe: Inner | None = None
    per_name: dict[str, Inner] = field(default_factory=dict)


def test_build_converts_nested_sections_lists_and_numbers():
    cfg = typed.build(Outer, {"seed": 2, "inner": {"eps": 1}, "levels": [1, 2], "per_name": {"a": {"eps": 0.5}}}, "f")
    assert cfg.inner == Inner(eps=1.0, n=3) and isinstance(cfg.inner.eps, float)
    assert cfg.levels == (1, 2) and cfg.maybe is None and cfg.per_name["a"].eps == 0.5 and cfg.needs == ()
    with pytest.raises(FrozenInstanceError):
        cfg.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"inner": {"eps": 1.0}, "levels": [], "levls": []}, r"f: unknown key\(s\) levls for Outer"),
        ({"inner": {"eps": 1.0, "epss": 2}, "levels": []}, r"f\.inner: unknown key\(s\) epss for Inner"),
        ({"levels": []}, r"f: missing key\(s\) inner for Outer"),
    ],
)
def test_build_names_the_file_and_key_of_a_typo(data: dict[str, Any], message: str):
    with pytest.raises(typed.ConfigTypeError, match=message):
        typed.build(Outer, data, "f")


def test_overlay_merges_nested_sections_and_replaces_the_rest():
    base = {"a": 1, "training": {"steps": 10, "lr": 0.1}, "grid": [1, 2]}
    top = {"training": {"steps": 20}, "grid": [3]}
    assert config.overlay(base, top) == {"a": 1, "training": {"steps": 20, "lr": 0.1}, "grid": [3]}
    assert base["training"]["steps"] == 10  # the defaults are not changed


def _every_config():
    for exp in registry.experiments().values():
        for tier in config.TIERS:
            cfg = config.load_tier(exp.paper, tier).get(exp.name)
            if cfg is not None:
                yield pytest.param(exp, tier, cfg, id=f"{exp.key}@{tier}")


@pytest.mark.parametrize("exp, tier, cfg", list(_every_config()))
def test_every_committed_config_builds_into_its_dataclass(exp, tier, cfg):
    built = typed.build(exp.config_class(), cfg, f"{exp.key}@{tier}")
    assert isinstance(built, config.ExperimentConfig) and built.seed == cfg.get("seed", 0)
    for name, value in vars(built).items():
        if name == "training" or name.endswith("_training"):
            TrainConfig.from_config(value, name=name)  # a training section is a valid TrainConfig


def _training_sections(node, where=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "training" and isinstance(value, dict):
                yield f"{where}.{key}", value
            yield from _training_sections(value, f"{where}.{key}")


@pytest.mark.parametrize("exp, tier, cfg", [p for p in _every_config() if p.values[1] != "smoke"])
def test_every_ema_forgets_its_random_initialisation(exp, tier, cfg):
    """The EMA starts at the initial weights: after training their share, decay^steps, must be negligible (a 0.999
    average over 2000 steps kept 13 % of a random net and doubled a digit FID)."""
    for where, training in _training_sections(cfg):
        if training.get("ema_decay"):
            assert training["ema_decay"] ** training["steps"] < 1e-3, f"{exp.key}@{tier}{where}"
