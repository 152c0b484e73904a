"""Validated YAML mappings turned into dataclasses, so a stage reads `cfg.n_steps` and a typo fails at load.

`build(cls, data, where)` follows the field types: a dataclass field is built from its mapping, `X | None`
takes None, `list[X]` / `tuple[X, ...]` become tuples (configs are frozen), `dict[str, X]` keeps its keys,
`float` accepts an integer. Anything else is taken as it is (the JSON schema has checked it already). A check
that spans keys lives in the dataclass's `__post_init__`; its ValueError comes back naming `where`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigTypeError(ValueError):
    pass


def build(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    """`cls(**data)` with every field converted to its declared type; unknown or missing keys name `where`."""
    if not isinstance(data, Mapping):
        raise ConfigTypeError(f"{where}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigTypeError(f"{where}: unknown key(s) {', '.join(unknown)} for {cls.__name__}")
    missing = [
        n
        for n, f in fields.items()
        if n not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigTypeError(f"{where}: missing key(s) {', '.join(missing)} for {cls.__name__}")
    values = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except ValueError as err:  # the dataclass's own checks across keys (`__post_init__`), located like the rest
        raise ConfigTypeError(f"{where}: {err}") from err


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _convert(options[0], value, where) if len(options) == 1 else value
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        item = args[0] if args else Any
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) and isinstance(value, Mapping) and len(args) == 2:
        return {k: _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
