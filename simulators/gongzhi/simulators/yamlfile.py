"""YAML files whose errors name the file and line: estates and scenarios are edited by hand.

``load_yaml`` builds plain mappings and lists that remember where they came from
(``MarkedMap.line_of(key)``), so a validator far from the parser can still say
``scenarios/demo.yaml:14: unknown fault kind 'fier'``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from gongzhi.core.errors import ConfigError


class MarkedMap(dict[str, Any]):
    """A YAML mapping with the source line of itself and of each key (1-based)."""

    source: str
    line: int
    key_lines: dict[str, int]

    def where(self, key: str | None = None) -> str:
        line = self.key_lines.get(key, self.line) if key is not None else self.line
        return f"{self.source}:{line}"

    def fail(self, message: str, key: str | None = None) -> ConfigError:
        return ConfigError(message, source=self.where(key))


class MarkedList(list[Any]):
    source: str
    line: int
    item_lines: list[int]

    def where(self, index: int | None = None) -> str:
        line = self.item_lines[index] if index is not None else self.line
        return f"{self.source}:{line}"


class _Loader(yaml.SafeLoader):
    source = "<yaml>"


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> MarkedMap:
    loader.flatten_mapping(node)
    out = MarkedMap()
    out.source = loader.source
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise ConfigError(f"keys must be text, got {key!r}",
                              source=f"{loader.source}:{key_node.start_mark.line + 1}")
        if key in out:
            raise ConfigError(f"duplicate key {key!r}",
                              source=f"{loader.source}:{key_node.start_mark.line + 1}")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_list(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    out = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    out.source = loader.source
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_list)


def parse_yaml(text: str, source: str) -> MarkedMap:
    """Parse a YAML document whose top level is a mapping."""
    loader = _Loader(text)
    loader.source = source
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"not valid YAML: {exc.problem or exc}", source=f"{source}:{line}") \
            from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", source=source) from None
    finally:
        loader.dispose()
    if not isinstance(data, MarkedMap):
        raise ConfigError("the top level must be a mapping", source=f"{source}:1")
    return data


def load_yaml(path: Path) -> MarkedMap:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from None
    return parse_yaml(text, str(path))


def check_keys(node: MarkedMap, allowed: set[str] | frozenset[str], what: str) -> None:
    for key in node:
        if key not in allowed:
            raise node.fail(f"unknown key {key!r} in {what}; known: {', '.join(sorted(allowed))}",
                            key)


def need(node: MarkedMap, key: str, what: str) -> Any:
    if key not in node:
        raise node.fail(f"{what} needs {key!r}")
    return node[key]


def as_map(value: Any, where: str, what: str) -> MarkedMap:
    if not isinstance(value, MarkedMap):
        raise ConfigError(f"{what} must be a mapping", source=where)
    return value


def as_list(value: Any, where: str, what: str) -> MarkedList:
    if not isinstance(value, MarkedList):
        raise ConfigError(f"{what} must be a list", source=where)
    return value


def as_int(node: MarkedMap, key: str, default: int | None = None, *, low: int = 0,
           high: int = 1_000_000) -> int:
    if key not in node:
        if default is None:
            raise node.fail(f"missing {key!r}")
        return default
    value = node[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise node.fail(f"{key} must be a whole number in {low}..{high}, got {value!r}", key)
    return value


def as_float(node: MarkedMap, key: str, default: float | None = None, *, low: float = 0.0,
             high: float = 1e9) -> float:
    if key not in node:
        if default is None:
            raise node.fail(f"missing {key!r}")
        return default
    value = node[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise node.fail(f"{key} must be a number in {low:g}..{high:g}, got {value!r}", key)
    return float(value)


_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)d)?\s*(?:(\d+(?:\.\d+)?)h)?\s*"
                       r"(?:(\d+(?:\.\d+)?)m(?!s))?\s*(?:(\d+(?:\.\d+)?)s)?\s*"
                       r"(?:(\d+(?:\.\d+)?)ms)?\s*$")


def parse_duration_ms(value: Any) -> int:
    """``90`` (seconds), ``"90s"``, ``"15m"``, ``"2h30m"``, ``"1d"``, ``"250ms"`` in ms.
    Raises ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return round(value * 1000)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a duration: {value!r}")
    text = value.strip()
    try:
        return parse_duration_ms(float(text))
    except ValueError:
        pass
    match = _DURATION.match(text)
    if match is None or not any(match.groups()):
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 2h30m, 1d)")
    d, h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
    return round(((d * 24 + h) * 60 + m) * 60_000 + s * 1000 + ms)


def as_duration_ms(node: MarkedMap, key: str, default: int | None = None) -> int:
    if key not in node:
        if default is None:
            raise node.fail(f"missing {key!r}")
        return default
    try:
        return parse_duration_ms(node[key])
    except ValueError as exc:
        raise node.fail(f"{key}: {exc}", key) from None
