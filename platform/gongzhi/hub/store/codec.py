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
from collections.abc import Callable, Mapping, Sequence
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
# store counts it). Field lists are worked out once: these functions run for every ticket.
_NAMES = tuple(f.name for f in fields(Ticket))
WRITTEN = tuple(n for n in _NAMES if n not in ("id", "version"))
_PLAIN_WRITTEN = tuple(n for n in WRITTEN if n != "location")
_PLAIN_READ = tuple(n for n in _NAMES if n != "location")
# The keys of ``ticket_row``, in its order.
ROW_KEYS = (*_PLAIN_WRITTEN, *LOCATION_COLUMNS, DERIVED)


def ticket_row(ticket: Ticket) -> dict[str, Any]:
    """The values a write sets (``WRITTEN``, the location spread out, and ``next_check_at``)."""
    row = {name: getattr(ticket, name) for name in _PLAIN_WRITTEN}
    row.update(ticket.location.to_dict())
    row[DERIVED] = ticket.next_check_at
    return row


def ticket_decoder(columns: Sequence[str]) -> Callable[[Sequence[Any]], Ticket]:
    """The ticket of a row of ``columns`` (every column but ``next_check_at``, converted by
    the column types), taken by position: the alarm path reads hundreds per batch."""
    index = {name: i for i, name in enumerate(columns)}
    plain = tuple((name, index[name]) for name in _PLAIN_READ)
    place = tuple(index[name] for name in LOCATION_COLUMNS)

    def decode(row: Sequence[Any]) -> Ticket:
        return Ticket(location=Location(*[row[i] for i in place]),
                      **{name: row[i] for name, i in plain})

    return decode


# --- the JSON record (event snapshots) ------------------------------------------------------


def _codec(hint: Any) -> tuple[Callable[[Any], Any] | None, Callable[[Any], Any] | None]:
    """(to JSON, from JSON) of a field's non-null values; None where a value is its own JSON."""
    hint, _ = _unwrap(hint)
    origin = typing.get_origin(hint) or hint
    if hint is Location:
        return Location.to_dict, lambda d: Location(*(d[n] for n in LOCATION_COLUMNS))
    if hint is bool:
        return None, bool
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return (lambda v: v.value), hint
    if origin is tuple:
        return list, tuple
    if origin in (Mapping, dict):
        return dict, dict
    return None, None


def _default(f: Field[Any]) -> Callable[[], Any] | None:
    """What makes the field's value when a record lacks it; None: every record has it."""
    if f.default is not MISSING:
        value = f.default
        return lambda: value
    if f.default_factory is not MISSING:
        return f.default_factory
    return None


_HINTS = _hints()
_ENCODE = tuple((name, _codec(_HINTS[name])[0]) for name in _NAMES)
_DECODE = tuple((f.name, _codec(_HINTS[f.name])[1], _default(f)) for f in fields(Ticket))


def ticket_record(ticket: Ticket) -> dict[str, Any]:
    """The ticket as JSON-ready values, one per field (the location as an object)."""
    record: dict[str, Any] = {}
    for name, encode in _ENCODE:
        value = getattr(ticket, name)
        record[name] = value if encode is None or value is None else encode(value)
    return record


def ticket_from_record(record: Mapping[str, Any]) -> Ticket:
    """The inverse of ``ticket_record``; a field a record of an older release lacks takes its
    default (``incident_id`` came later)."""
    values: dict[str, Any] = {}
    for name, decode, default in _DECODE:
        if name not in record and default is not None:
            values[name] = default()
            continue
        value = record[name]
        values[name] = value if decode is None or value is None else decode(value)
    return Ticket(**values)
