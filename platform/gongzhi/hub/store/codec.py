"""The ticket's one codec: its table columns, its row and its JSON record, all derived from the
fields of the ``Ticket`` dataclass.

Each field's type says how it is kept: ``int`` as a 64-bit integer, ``str`` as text, ``bool`` as
0/1, a ``StrEnum`` as its value, a tuple of strings and a mapping as JSON text, the ``Location``
as five text columns; ``... | None`` makes the column nullable. A field added to ``Ticket`` is
thereby a column (and needs a migration adding it, which the schema test asks for), part of the
row written and read, and of the event record. ``next_check_at`` is written besides (derived,
for the escalation engine's index) and never read back.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, fields
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from gongzhi.devices.registry import Location
from gongzhi.hub.tickets import Ticket


def dumps(value: Any) -> str:
    """The JSON text the store writes (compact, keys sorted: equal values, equal text)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class IntBool(TypeDecorator[bool]):
    """A bool kept as 0/1 in an INTEGER column."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: bool | None, dialect: Dialect) -> int | None:
        return None if value is None else int(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> bool | None:
        return None if value is None else bool(value)


class EnumText(TypeDecorator[StrEnum]):
    """A ``StrEnum`` kept as its value in a TEXT column (adding a member needs no migration)."""

    impl = Text
    cache_ok = True

    def __init__(self, enum: type[StrEnum]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


class JsonList(TypeDecorator[tuple[Any, ...]]):
    """A tuple kept as a JSON array in a TEXT column."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else dumps(list(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> tuple[Any, ...] | None:
        return None if value is None else tuple(json.loads(value))


class JsonDict(TypeDecorator[dict[str, Any]]):
    """A mapping kept as a JSON object in a TEXT column."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else dumps(dict(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> dict[str, Any] | None:
        return None if value is None else dict(json.loads(value))


# Integer fields kept in a 32-bit INTEGER column (counts); every other integer is a 64-bit
# time or id.
_SMALL_INTS = frozenset({"occurrences", "escalation_level", "version"})
LOCATION_COLUMNS = ("estate_id", "building", "unit", "floor", "room")
# Written with every ticket, derived from it, never read back.
DERIVED = "next_check_at"


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the type, nullable) of ``X`` or ``X | None``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"a ticket field may be X or X | None, not {hint!r}")
        return args[0], True
    return hint, False


def _column_type(name: str, hint: Any) -> TypeEngine[Any]:
    origin = typing.get_origin(hint) or hint
    if hint is bool:
        return IntBool()
    if hint is int:
        return Integer() if name in _SMALL_INTS else BigInteger()
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return EnumText(hint)
    if hint is str:
        return Text()
    if origin is tuple:
        return JsonList()
    if origin in (Mapping, dict):
        return JsonDict()
    raise TypeError(f"no column type for the ticket field {name}: {hint!r}")


def _hints() -> dict[str, Any]:
    return typing.get_type_hints(Ticket)


def ticket_columns() -> list[Column[Any]]:
    """The ``tickets`` table's columns, in the order of the dataclass's fields."""
    hints = _hints()
    columns: list[Column[Any]] = []
    for f in fields(Ticket):
        hint, nullable = _unwrap(hints[f.name])
        if hint is Location:
            columns.extend(Column(n, Text(), nullable=False) for n in LOCATION_COLUMNS)
        elif f.name == "id":
            columns.append(Column("id", BigInteger(), primary_key=True, autoincrement=True))
        else:
            columns.append(Column(f.name, _column_type(f.name, hint), nullable=nullable))
    columns.append(Column(DERIVED, BigInteger(), nullable=True))
    return columns


# The columns a write sets: all but the id (the database numbers it) and the version (the
# store counts it).
WRITTEN = tuple(f.name for f in fields(Ticket) if f.name not in ("id", "version"))


def ticket_row(ticket: Ticket) -> dict[str, Any]:
    """The values a write sets (``WRITTEN``, the location spread out, and ``next_check_at``)."""
    row: dict[str, Any] = {}
    for name in WRITTEN:
        value = getattr(ticket, name)
        if isinstance(value, Location):
            row.update(value.to_dict())
        else:
            row[name] = value
    row[DERIVED] = ticket.next_check_at
    return row


def ticket_of_row(row: Mapping[Any, Any]) -> Ticket:
    """The ticket of a row read with every column (the column types did the conversions)."""
    values: dict[str, Any] = {}
    for f in fields(Ticket):
        if f.name == "location":
            values["location"] = Location(*(row[n] for n in LOCATION_COLUMNS))
        else:
            values[f.name] = row[f.name]
    return Ticket(**values)


# --- the JSON record (event snapshots) ------------------------------------------------------


def _to_json(value: Any) -> Any:
    if isinstance(value, Location):
        return value.to_dict()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _from_json(hint: Any) -> Callable[[Any], Any]:
    hint, nullable = _unwrap(hint)
    origin = typing.get_origin(hint) or hint
    convert: Callable[[Any], Any]
    if hint is Location:
        convert = lambda d: Location(*(d[n] for n in LOCATION_COLUMNS))  # noqa: E731
    elif hint is bool:
        convert = bool
    elif isinstance(hint, type) and issubclass(hint, StrEnum):
        convert = hint
    elif origin is tuple:
        convert = tuple
    elif origin in (Mapping, dict):
        convert = dict
    else:
        convert = lambda v: v  # noqa: E731
    if not nullable:
        return convert
    return lambda v: None if v is None else convert(v)


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    raise KeyError(f.name)


_DECODERS = {name: _from_json(hint) for name, hint in _hints().items()}


def ticket_record(ticket: Ticket) -> dict[str, Any]:
    """The ticket as JSON-ready values, one per field (the location as an object)."""
    return {f.name: _to_json(getattr(ticket, f.name)) for f in fields(Ticket)}


def ticket_from_record(record: Mapping[str, Any]) -> Ticket:
    """The inverse of ``ticket_record``; a field a record of an older release lacks takes its
    default (``incident_id`` came later)."""
    values = {f.name: _DECODERS[f.name](record[f.name]) if f.name in record else _default(f)
              for f in fields(Ticket)}
    return Ticket(**values)
