"""Load YAML into typed, frozen dataclass configs, validated at the boundary.

Configs are plain ``@dataclass(frozen=True)`` classes with typed fields (``Literal`` for every
choice) and ``__post_init__`` range checks. This module is the only place that turns untrusted
mappings (YAML files, ``--set key=value`` overrides) into those classes; pydantic does the type
checking and every problem becomes one :class:`ConfigError` whose message names the key.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override is invalid; the message is one line naming the key."""


def _forbid_extra(cls: type) -> None:
    """Mark ``cls`` and every dataclass nested in its field types to reject unknown keys."""
    if "__pydantic_config__" in cls.__dict__:
        return
    # coerce_numbers_to_str: a snapshot id given as 123 (YAML, --set) fills a `str` field.
    cls.__pydantic_config__ = pydantic.ConfigDict(extra="forbid", coerce_numbers_to_str=True)  # type: ignore[attr-defined]
    stack = list(typing.get_type_hints(cls).values())
    while stack:
        annotation = stack.pop()
        if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
            _forbid_extra(annotation)
        stack.extend(typing.get_args(annotation))


def _format_error(error: pydantic.ValidationError, source: str, moved: Mapping[str, str]) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "<root>"
    if first["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        hint = f" (it moved: now '{moved[key]}')" if key in moved else ""
        return f"{source}: unknown config key '{key}'{hint}"
    message = first["msg"]
    given = first.get("input")
    if isinstance(given, (str, int, float, bool)) or given is None:
        message += f" (got {given!r})"
    more = len(error.errors()) - 1
    suffix = f" (+{more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{source}: invalid value for '{key}': {message}{suffix}"


def parse_config(cls: type[T], data: Any, source: str = "config") -> T:
    """Validate a mapping into ``cls``; raise :class:`ConfigError` naming the bad key (and where
    it went, for a key in ``cls.MOVED_KEYS``: old dotted key -> new)."""
    _forbid_extra(cls)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return pydantic.TypeAdapter(cls).validate_python(data)
    except pydantic.ValidationError as error:
        raise ConfigError(_format_error(error, source, getattr(cls, "MOVED_KEYS", {}))) from None
    except (ValueError, TypeError) as error:  # raised by a __post_init__ check
        raise ConfigError(f"{source}: {error}") from None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML scalars) to a nested mapping."""
    merged = dict(data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{override}': expected KEY=VALUE, e.g. train.steps=20")
        node = merged
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, dict) else {}
            node = node[part]
        node[parts[-1]] = yaml.safe_load(raw)
    return merged


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``update`` wins; nested mappings merge key by key."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file's top-level mapping; ConfigError for a missing file or invalid YAML."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_config(
    cls: type[T],
    path: str | Path | None,
    overrides: list[str] | None = None,
    defaults: dict[str, Any] | None = None,
) -> T:
    """``defaults`` (a preset), then the YAML file, then ``KEY=VALUE`` overrides, validated into ``cls``."""
    data = merge(defaults or {}, read_yaml(path) if path is not None else {})
    data = apply_overrides(data, overrides or [])
    return parse_config(cls, data, str(path) if path is not None else "config")
