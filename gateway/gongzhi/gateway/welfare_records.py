"""What the welfare rule learned, kept across starts (docs/welfare.md): each household's learned
days (``DayRecord``) and its state as its newest day began (``LearnedDay``), in
``<data_dir>/gateway/<id>/welfare.db`` beside the outbox. A gateway started again puts each
household back from here and replays only the reports recorded since (``welfare_history``),
instead of 42 days of them: milliseconds a household, and a gateway on the embedded store (8
days kept) judges at once.

Rows are JSON of the dataclasses' fields by name, so a field added to ``DayRecord`` (or to the
household's state) later is carried, and an older row lacking it takes the field's default. A
file that cannot be read is set aside (``welfare.db.unreadable``, kept for a look) and a new
one begun; its households are learned again from the telemetry, as on a first start. Only the
households the gateway watches keep rows (a household removed from the registry, or no longer
flagged, loses them: personal data, kept no longer than needed), and only their last
``history_days`` days.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from gongzhi.core.alarms import Alarm
from gongzhi.gateway.detection.rhythm import DayRecord, Rhythm
from gongzhi.gateway.detection.welfare import STATE_FIELDS, Household, LearnedDay
from gongzhi.gateway.sqlite import open_db, transaction

FILE_NAME = "welfare.db"
UNREADABLE_SUFFIX = ".unreadable"
DAY_MS = 86_400_000
_DAY_FIELDS = {f.name: f for f in fields(DayRecord)}
_ALARM_FIELDS = ("open_raise",)  # state fields holding an ``Alarm`` (None when no alarm)


class UnreadableRecords(Exception):
    """A file, or a household's rows, that cannot be read back."""


@dataclass(frozen=True, slots=True)
class SavedHousehold:
    """A household as it was kept: its learned days and its state from ``at_ms`` on."""

    days: list[DayRecord]
    at_ms: int
    state: dict[str, Any]


def encode_day(record: DayRecord) -> str:
    return json.dumps({name: getattr(record, name) for name in _DAY_FIELDS})


def decode_day(text: str) -> DayRecord:
    """A ``DayRecord`` from its row: fields it does not know are left out, fields the row lacks
    take their default (a row written before the field was added)."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise UnreadableRecords(f"a day record is not an object: {text[:80]!r}")
    missing = [n for n, f in _DAY_FIELDS.items() if n not in data and f.default is MISSING]
    if missing:
        raise UnreadableRecords(f"a day record lacks {missing}: {text[:80]!r}")
    values = {name: data[name] for name in _DAY_FIELDS if name in data}
    if not isinstance(values["day"], int) or not isinstance(values["weekend"], bool) or any(
            v is not None and not isinstance(v, int | float) for n, v in values.items()
            if n not in ("day", "weekend")):
        raise UnreadableRecords(f"a day record of the wrong types: {text[:80]!r}")
    return DayRecord(**values)


def encode_state(state: dict[str, Any]) -> str:
    """JSON of a household's state (``household_state``); infinities and NaN are written as
    JSON's common extension (the state's 'unknown' floats), the active alarm as its dict."""
    plain = {name: value.to_dict() if isinstance(value, Alarm) else value
             for name, value in state.items()}
    return json.dumps(plain)


def decode_state(text: str) -> dict[str, Any]:
    """The state of ``encode_state``, each field checked against the type of a fresh
    household's value (a state of the wrong types would fail in the stream, not here)."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("sources", {}), dict):
        raise UnreadableRecords(f"a household's state is not an object: {text[:80]!r}")
    fresh = _FRESH
    state: dict[str, Any] = {}
    for name in STATE_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name in _ALARM_FIELDS:
            state[name] = None if value is None else _alarm(value)
        else:
            state[name] = _checked(name, value, getattr(fresh, name))
    state["sources"] = {str(device_id): _source_state(was)
                        for device_id, was in data.get("sources", {}).items()}
    return state


def _alarm(value: Any) -> Alarm:
    if not isinstance(value, dict):
        raise UnreadableRecords(f"a household's active alarm is not an object: {value!r:.80}")
    try:
        return Alarm.from_dict(value)
    except Exception as exc:  # RejectedMessage: a field missing or of the wrong type
        raise UnreadableRecords(f"a household's active alarm cannot be read: {exc}") from None


def _checked(name: str, value: Any, fresh: Any) -> Any:
    """``value`` if it is of ``fresh``'s kind (an int where a float is kept becomes a float)."""
    if isinstance(fresh, bool):
        ok = isinstance(value, bool)
    elif isinstance(fresh, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(fresh, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(fresh))
    if not ok:
        raise UnreadableRecords(f"a household's {name} is {value!r:.80}")
    return value


def _source_state(was: Any) -> dict[str, Any]:
    if not isinstance(was, dict):
        raise UnreadableRecords(f"a device's state is not an object: {was!r:.80}")
    out: dict[str, Any] = {}
    for name, value in was.items():
        if name == "last_value":
            out[name] = _checked(name, value, math.nan)
        elif name in ("last_ts", "last_step_ms"):
            out[name] = _checked(name, value, 0)
    return out


_FRESH = Household("", 0, {}, Rhythm())  # its fields' fresh values, to check kept ones by


class WelfareRecords:
    """The SQLite file of the welfare rule's learned days, one row a household a day."""

    def __init__(self, path: Path, history_days: int) -> None:
        self.path = path
        self.history_days = history_days
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """``UnreadableRecords`` when the file is not a database of ours; ``OperationalError``
        (locked, not writable, the disk failing) as it is: the file may be sound."""
        try:
            self._conn = open_db(self.path)
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS welfare_days (household TEXT NOT NULL, "
                "day INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (household, day))")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS welfare_state (household TEXT PRIMARY KEY, "
                "day INTEGER NOT NULL, at_ms INTEGER NOT NULL, state TEXT NOT NULL)")
            self._conn.execute("SELECT household, day, record FROM welfare_days LIMIT 1")
            self._conn.execute("SELECT household, day, at_ms, state FROM welfare_state LIMIT 1")
        except sqlite3.OperationalError:
            self.close()
            raise
        except sqlite3.DatabaseError as exc:
            self.close()
            raise UnreadableRecords(f"{self.path}: {exc}") from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def save(self, learned: Sequence[LearnedDay]) -> None:
        """Keep the days (one transaction): each day's record, each household's newest state,
        and drop the days older than ``history_days`` before the newest."""
        if not learned:
            return
        days = [(d.household, d.record.day, encode_day(d.record)) for d in learned]
        newest: dict[str, LearnedDay] = {}
        for d in learned:
            if d.household not in newest or d.at_ms >= newest[d.household].at_ms:
                newest[d.household] = d
        states = [(key, d.record.day, d.at_ms, encode_state(d.state))
                  for key, d in newest.items()]
        oldest_kept = max(d.record.day for d in learned) - self.history_days
        conn = self._require()
        with self._lock, transaction(conn):
            conn.executemany("INSERT OR REPLACE INTO welfare_days (household, day, record) "
                             "VALUES (?, ?, ?)", days)
            conn.executemany("INSERT OR REPLACE INTO welfare_state (household, day, at_ms, "
                             "state) VALUES (?, ?, ?, ?)", states)
            conn.execute("DELETE FROM welfare_days WHERE day <= ?", (oldest_kept,))

    def load(self, households: Iterable[str], now_ms: int
             ) -> tuple[dict[str, SavedHousehold], dict[str, str]]:
        """The kept households of ``households`` whose state is within ``history_days`` of
        ``now_ms``, with their days; and the households whose rows cannot be read (why)."""
        since_ms = now_ms - self.history_days * DAY_MS
        conn = self._require()
        saved: dict[str, SavedHousehold] = {}
        unreadable: dict[str, str] = {}
        try:
            with self._lock:
                for key in households:
                    row = conn.execute("SELECT day, at_ms, state FROM welfare_state WHERE "
                                       "household = ?", (key,)).fetchone()
                    if row is None or not isinstance(row[1], int) or row[1] < since_ms:
                        continue
                    texts = conn.execute("SELECT record FROM welfare_days WHERE household = ? "
                                         "AND day > ? ORDER BY day",
                                         (key, row[0] - self.history_days)).fetchall()
                    try:
                        saved[key] = SavedHousehold([decode_day(t) for (t,) in texts], row[1],
                                                    decode_state(row[2]))
                    except (UnreadableRecords, ValueError, TypeError) as exc:
                        unreadable[key] = str(exc)
        except sqlite3.OperationalError:
            raise  # locked or the disk failing: not the file's content
        except sqlite3.DatabaseError as exc:  # a file damaged past its first page
            raise UnreadableRecords(f"{self.path}: {exc}") from exc
        return saved, unreadable

    def keep_only(self, households: Collection[str]) -> list[str]:
        """Delete the rows of every household not in ``households``; returns those deleted."""
        conn = self._require()
        with self._lock:
            kept = {k for (k,) in conn.execute("SELECT household FROM welfare_state UNION "
                                               "SELECT household FROM welfare_days")}
            gone = sorted(kept - set(households))
            if gone:
                with transaction(conn):
                    conn.executemany("DELETE FROM welfare_days WHERE household = ?",
                                     [(k,) for k in gone])
                    conn.executemany("DELETE FROM welfare_state WHERE household = ?",
                                     [(k,) for k in gone])
        return gone

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("welfare records not open")
        return self._conn


@dataclass(slots=True)
class Opened:
    """The records opened at a start, and what was kept in them."""

    records: WelfareRecords
    saved: dict[str, SavedHousehold]
    unreadable: dict[str, str]  # households whose rows could not be read: why
    problem: str | None = None  # the file could not be read: what was done


def open_kept(path: Path, history_days: int, households: Iterable[str],
              now_ms: int) -> Opened:
    """Open the records at ``path`` and load ``households`` (``WelfareRecords.load``). A file
    that cannot be read is renamed aside (kept for a look) and a new one begun: nothing is
    loaded, and ``problem`` says so. One that cannot be opened for another reason (locked by
    another process, a directory not writable: ``sqlite3.OperationalError``) is left as it is,
    and that is raised."""
    records = WelfareRecords(path, history_days)
    keys = list(households)
    try:
        records.open()
        return Opened(records, *records.load(keys, now_ms))
    except UnreadableRecords as exc:
        records.close()
        if not path.exists():
            raise  # not the file: its directory (the outbox's too) cannot be written
        reason = str(exc.__cause__ or exc)
    except BaseException:
        records.close()
        raise
    aside = set_aside(path)
    records.open()
    return Opened(records, {}, {}, f"the welfare rule's kept days could not be read ({reason}); "
                                   f"the file is kept as {aside.name} and the households are "
                                   "learned again from the recorded telemetry")


def set_aside(path: Path) -> Path:
    """Rename ``path`` (and its WAL files) to ``<name>.unreadable`` (``.2`` and on when taken)."""
    aside = path.with_name(path.name + UNREADABLE_SUFFIX)
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}{UNREADABLE_SUFFIX}.{n}")
    path.rename(aside)
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.rename(aside.with_name(aside.name + suffix))
    return aside
