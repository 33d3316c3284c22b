"""The configuration kit: every hand-edited YAML file is read and checked the same way.

``load_model(path, Model)`` parses YAML (safe loader only) while remembering the line of every
key and list item, validates the result with a pydantic model, and turns any problem into a
:class:`ConfigError` whose source is ``file:line`` of the offending key or item::

    sources.yaml:14: sources[2].kind: unknown value 'chirpstak' (expected 'mqtt' or 'modbus')

Models are pydantic v2 models declared with ``model_config = ConfigDict(extra="forbid",
frozen=True)`` (see :data:`STRICT_CONFIG`), so an unknown key is an error on its own line.

The value types every file shares live here, so each has one syntax:

- :data:`Duration`: ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``, ``"1h30m"``, ``"250ms"``, or a plain
  number of seconds, always validated to **seconds as a float** (``"1h30m"`` → ``5400.0``).
  Components go from the largest unit down, each at most once; fractions are allowed
  (``"1.5h"``). :data:`PositiveDuration` also refuses zero.
- :data:`Identifier`: an id of a device, estate, building, party or rule: 1 to 64 of
  ``A-Z a-z 0-9 _ -`` (:data:`ID_PATTERN`).
- :class:`Secret`: where a secret lives, ``{file: PATH}`` or ``{env: NAME}``, never the secret
  itself. It is read while the file is validated (at start-up), so a missing secret fails as
  loudly as a typo; a relative ``file`` is relative to the YAML file's directory. Its ``repr``
  and ``str`` are masked; :meth:`Secret.reveal` gives the value.

A validator that wants to point below the value it checks raises :class:`ConfigValueError` with
the extra path (``raise ConfigValueError("used twice", "routes", 3, "id")``).
"""

from __future__ import annotations

import math
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import ErrorDetails, core_schema

from gongzhi.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

#: The model configuration every config model uses: unknown keys are errors, values are frozen.
STRICT_CONFIG = ConfigDict(extra="forbid", frozen=True)

#: The one id syntax (devices, estates, buildings, parties, rules, MQTT user names).
#: ``ID_PATTERN`` ends with ``\Z``, so ``match`` checks the whole text as ``fullmatch`` does;
#: ``ID_CHARS`` is the bare form for building other patterns.
ID_CHARS = r"[A-Za-z0-9_-]{1,64}"
ID_PATTERN = re.compile(ID_CHARS + r"\Z")
ID_RULE = "1-64 letters, digits, '_' or '-'"

Path_ = tuple[str | int, ...]


# --- YAML with lines ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Document:
    """Plain YAML data (dicts, lists, scalars), the line of each key and list item (``lines``)
    and the line where each mapping starts (``starts``: below its key in block style)."""

    source: str
    data: Any
    lines: Mapping[Path_, int] = field(repr=False)
    starts: Mapping[Path_, int] = field(repr=False, default_factory=dict)

    def locate(self, path: Sequence[Any]) -> tuple[Path_, int]:
        """The part of ``path`` present in the data and the line of its deepest node (the
        document's first line for the top). Steps not in the data (a union's tag, a missing
        key) are skipped."""
        here: Path_ = ()
        node, line = self.data, self.lines.get((), 1)
        for step in path:
            if isinstance(node, dict) and isinstance(step, str) and step in node:
                pass
            elif (isinstance(node, list) and isinstance(step, int) and not isinstance(step, bool)
                  and -len(node) <= step < len(node)):
                step = step % len(node)
            else:
                continue
            node, here = node[step], (*here, step)
            line = self.lines.get(here, line)
        return here, line

    def line_of(self, path: Sequence[Any]) -> int:
        return self.locate(path)[1]

    def start_of(self, path: Sequence[Any]) -> int:
        """Where the mapping at ``path`` starts (errors about the mapping as a whole), else the
        line of ``path``."""
        found, line = self.locate(path)
        return self.starts.get(found, line)

    def where(self, path: Sequence[Any] = ()) -> str:
        return f"{self.source}:{self.line_of(path)}"

    def fail(self, path: Sequence[Any], message: str) -> ConfigError:
        return ConfigError(message, source=self.where(path))


_MAP_TAG = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
_SEQ_TAG = yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.lines: dict[Path_, int] = {}
        self.starts: dict[Path_, int] = {}
        self.open: set[int] = set()

    def fail(self, node: yaml.Node, message: str) -> ConfigError:
        return ConfigError(message, source=f"{self.source}:{node.start_mark.line + 1}")

    def build(self, node: yaml.Node, path: Path_) -> Any:
        if id(node) in self.open:
            raise self.fail(node, "an alias refers to itself")
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            self.open.add(id(node))
            try:
                return self.mapping(node, path)
            finally:
                self.open.discard(id(node))
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            self.open.add(id(node))
            try:
                items = []
                for index, child in enumerate(node.value):
                    self.lines[(*path, index)] = child.start_mark.line + 1
                    items.append(self.build(child, (*path, index)))
                return items
            finally:
                self.open.discard(id(node))
        return self.loader.construct_object(node, deep=True)

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        self.loader.flatten_mapping(node)  # merge keys (<<)
        self.starts[path] = node.start_mark.line + 1
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise self.fail(key_node, f"key {key!r} must be text")
            if key in out:
                raise self.fail(key_node, f"duplicate key {key!r}")
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, (*path, key))
        return out


def parse_yaml(text: str, source: str) -> Document:
    """Parse one YAML document (safe tags only) keeping lines; YAML errors become ConfigError."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        builder = _Builder(loader, source)
        data = builder.build(node, ()) if node is not None else None
        top = node.start_mark.line + 1 if node is not None else 1
        return Document(source, data, {(): top, **builder.lines}, builder.starts)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"not valid YAML: {exc.problem or exc.context}",
                          source=f"{source}:{line}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", source=source) from None
    finally:
        loader.dispose()


def read_yaml(path: Path) -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from None
    return parse_yaml(text, str(path))


# --- validation -----------------------------------------------------------------------------


class ConfigValueError(ValueError):
    """A validator's complaint about a place below the value it checks (``path``, relative)."""

    def __init__(self, message: str, *path: str | int) -> None:
        super().__init__(message)
        self.path = path


def validate(document: Document, model: type[M], *, base: Path | None = None,
             environ: Mapping[str, str] | None = None) -> M:
    """``document``'s data as a ``model``; errors name ``file:line``. ``base`` is where relative
    secret files are looked for; ``environ`` is where ``{env: NAME}`` secrets are looked up."""
    context = {"base": base, "environ": os.environ if environ is None else environ}
    data = {} if document.data is None else document.data
    if not isinstance(data, dict):
        raise document.fail((), "the top level must be a mapping")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise _config_error(document, model, exc.errors(include_url=False)) from None


def parse_model(text: str, source: str, model: type[M], *, base: Path | None = None,
                environ: Mapping[str, str] | None = None) -> M:
    return validate(parse_yaml(text, source), model, base=base, environ=environ)


def load_model(path: Path, model: type[M], *,
               environ: Mapping[str, str] | None = None) -> M:
    return validate(read_yaml(path), model, base=path.parent, environ=environ)


def _config_error(document: Document, model: type[BaseModel],
                  errors: Sequence[ErrorDetails]) -> ConfigError:
    described = []
    for error in errors:
        loc = tuple(error["loc"])
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, ConfigValueError):
            loc = (*loc, *ctx_error.path)
        described.append(_describe(document, model, loc, error))
    (source, message), rest = described[0], described[1:]
    if rest:
        message += "".join(f"\n  also {where}: {text}" for where, text in rest)
    return ConfigError(message, source=source)


def dotted(loc: Sequence[Any]) -> str:
    """``('sources', 2, 'kind')`` → ``sources[2].kind``."""
    out = ""
    for step in loc:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def _describe(document: Document, model: type[BaseModel], loc: Path_,
              error: ErrorDetails) -> tuple[str, str]:
    """``file:line`` of the error and what is wrong, for people."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = _keys_at(model, loc[:-1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        text = f"unknown key {loc[-1]!r}{hint}"
    elif kind == "missing":
        text = f"missing key {loc[-1]!r}"
    elif kind in ("enum", "literal_error"):
        text = f"unknown value {value!r} (expected {ctx.get('expected', '?')})"
    elif kind == "value_error":
        text = str(ctx.get("error", error["msg"]))
    else:
        text = f"{error['msg'][0].lower()}{error['msg'][1:]}, got {value!r}"
    if kind == "extra_forbidden":  # the unknown key's own line
        found, line = document.locate(loc)
        found = found[:-1]
    else:  # a mapping's errors (a missing key, a check across keys) where it starts
        found, _ = document.locate(loc)
        line = document.start_of(found)
    path = dotted(found)
    return f"{document.source}:{line}", f"{path}: {text}" if path else text


def _keys_at(model: type[BaseModel], loc: Path_) -> list[str]:
    """The keys the model allows at ``loc`` (best effort: [] when the type is unclear)."""
    candidates: list[Any] = [model]
    for step in loc:
        following: list[Any] = []
        for kind in _flatten(candidates):
            if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(step, str):
                found = next((f for n, f in kind.model_fields.items()
                              if (f.alias or n) == step), None)
                following += [found.annotation] if found is not None else []
            else:
                args = typing.get_args(kind)
                origin = typing.get_origin(kind)
                if isinstance(step, int) and origin in (list, tuple, frozenset, set, Sequence):
                    following += [args[0]] if args else []
                elif isinstance(step, str) and origin in (dict, Mapping) and len(args) == 2:
                    following.append(args[1])
        candidates = following or candidates
    keys: list[str] = []
    for kind in _flatten(candidates):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            keys += [f.alias or n for n, f in kind.model_fields.items() if f.alias or n]
    return list(dict.fromkeys(keys))


def _flatten(kinds: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for kind in kinds:
        origin = typing.get_origin(kind)
        if origin is Annotated:
            out += _flatten([typing.get_args(kind)[0]])
        elif origin is typing.Union or origin is types.UnionType:
            out += _flatten(typing.get_args(kind))
        else:
            out.append(kind)
    return out


# --- shared value types ---------------------------------------------------------------------

_UNIT_SECONDS = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)\s*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
DURATION_HINT = "use e.g. 30s, 5m, 2h, 1d, 1h30m, 250ms or a number of seconds"


def parse_duration(value: object) -> float:
    """A duration in seconds; raises ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r} ({DURATION_HINT})")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"a duration must be a finite number >= 0, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r} ({DURATION_HINT})")
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return float(text)
    position, total, last_rank = 0, 0.0, -1
    units = list(_UNIT_SECONDS)
    while position < len(text):
        part = _PART.match(text, position)
        rank = units.index(part.group(2)) if part else -1
        if part is None or rank <= last_rank:
            raise ValueError(f"not a duration: {value!r} ({DURATION_HINT})")
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        position, last_rank = part.end(), rank
    if not text:
        raise ValueError(f"not a duration: {value!r} ({DURATION_HINT})")
    return total


def to_ms(seconds: float) -> int:
    """A validated :data:`Duration` in whole milliseconds (how the domain keeps time)."""
    return round(seconds * 1000)


#: A duration in seconds (float); see the module docstring for the syntax.
Duration = Annotated[float, BeforeValidator(parse_duration)]
#: A duration in seconds that must be more than zero.
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


def _check_id(value: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise ValueError(f"id {value!r} must be {ID_RULE}")
    return value


#: An id of a device, estate, building, party or rule (:data:`ID_PATTERN`).
Identifier = Annotated[str, AfterValidator(_check_id)]


class Secret:
    """A secret read from ``{file: PATH}`` or ``{env: NAME}`` when its file is validated.

    Masked in ``repr``/``str``; compare and hash by value so frozen models stay comparable."""

    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str) -> None:
        self._value = value
        self.origin = origin

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.origin}, '****')"

    def __str__(self) -> str:
        return "****"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        masked = core_schema.plain_serializer_function_ser_schema(str)  # a dump shows ****
        return core_schema.with_info_plain_validator_function(cls._validate,
                                                               serialization=masked)

    @classmethod
    def _validate(cls, value: Any, info: ValidationInfo) -> Secret:
        if isinstance(value, Secret):
            return value
        if not isinstance(value, dict):
            raise ValueError("a secret is not written in a config file; name where it lives "
                             "with {file: PATH} or {env: NAME}")
        if len(value) != 1 or not {"file", "env"} >= value.keys():
            raise ValueError("a secret needs exactly one of {file: PATH} or {env: NAME}, "
                             f"got keys {', '.join(map(str, value)) or 'none'}")
        (kind, where), = value.items()
        if not isinstance(where, str) or not where.strip():
            raise ConfigValueError(f"{kind} must be non-empty text", kind)
        context = info.context or {}
        if kind == "env":
            environ: Mapping[str, str] = context.get("environ", os.environ)
            found = environ.get(where, "").strip()
            if not found:
                raise ConfigValueError(f"environment variable {where} is not set or empty", kind)
            return cls(found, f"env:{where}")
        path = Path(where)
        base: Path | None = context.get("base")
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            found = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigValueError(f"cannot read secret file {path}: {exc.strerror}",
                                   kind) from None
        if not found:
            raise ConfigValueError(f"secret file {path} is empty", kind)
        return cls(found, f"file:{path}")
