"""Core statements compiled once per dialect to the driver's own SQL, for the alarm path.

An alarm batch runs the same few statements thousands of times (a history count per alarm, a
row per receipt, timeline entry and event). SQLAlchemy's work per execution (looking the
statement up in its compiled cache, processing each row's parameters by name, building result
rows) costs more than SQLite takes to run them. A ``DriverStatement`` keeps what that work
finds out, worked out once from the Core statement (so the tables of ``tables`` stay the one
definition of the columns): the SQL text, where each parameter goes with its type's conversion,
and the conversions of the columns it returns. It runs through ``exec_driver_sql``, which keeps
SQLAlchemy's transaction, events and error translation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, CursorResult
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Processor = Callable[[Any], Any]
_REQUIRED = object()


@dataclass(frozen=True, slots=True)
class _Bind:
    key: str  # the key of the parameters given
    name: str  # its name in the SQL (named parameter styles)
    process: Processor | None
    default: Any  # _REQUIRED, or the value the statement itself binds (``version + 1``)


@dataclass(frozen=True, slots=True)
class DriverStatement:
    sql: str
    positional: bool
    binds: tuple[_Bind, ...]
    results: tuple[Processor | None, ...]

    def parameters(self, given: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters of one execution, converted as the column types say."""
        values = []
        for b in self.binds:
            value = given[b.key] if b.default is _REQUIRED else given.get(b.key, b.default)
            values.append(value if b.process is None else b.process(value))
        if self.positional:
            return tuple(values)
        return {b.name: v for b, v in zip(self.binds, values, strict=True)}

    def run(self, conn: Connection, given: Mapping[str, Any]) -> CursorResult[Any]:
        return conn.exec_driver_sql(self.sql, self.parameters(given))

    def run_many(self, conn: Connection, given: Sequence[Mapping[str, Any]]) -> int:
        """One executemany; returns the rows it changed."""
        many = [self.parameters(g) for g in given]
        return int(conn.exec_driver_sql(self.sql, many).rowcount)

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        """A returned row with its columns converted as their types say."""
        return tuple(v if p is None or v is None else p(v)
                     for p, v in zip(self.results, raw, strict=True))

    def rows(self, conn: Connection, given: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return [self.row(r) for r in self.run(conn, given)]


def compile_for(stmt: ClauseElement, dialect: Dialect,
                keys: Sequence[str] = ()) -> DriverStatement:
    """``stmt`` as ``dialect``'s driver runs it; ``keys``: the columns an INSERT or UPDATE sets
    (as Core works them out from the parameters of each execution)."""
    compiled = cast(SQLCompiler, stmt.compile(dialect=dialect, column_keys=list(keys) or None))
    sql = compiled.string
    if "POSTCOMPILE" in sql or compiled.escaped_bind_names:
        raise ValueError(f"not a statement to compile once: {sql[:80]}")
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    order = (compiled.positiontup or ()) if compiled.positional else list(by_name)
    binds = []
    for name in order:
        bind = by_name[name]
        required = bind.required or (bind.value is None and bind.callable is None)
        binds.append(_Bind(bind.key, name, bind.type.bind_processor(dialect),
                           _REQUIRED if required else bind.effective_value))
    columns: list[Any] = list(getattr(stmt, "exported_columns", ()))  # selected or returned
    results = tuple(c.type.result_processor(dialect, None) for c in columns)
    return DriverStatement(sql, bool(compiled.positional), tuple(binds), results)
