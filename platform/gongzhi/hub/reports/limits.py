"""Abuse limits without accounts: accepted reports per device (a random cookie the page sets)
and per client address, each per building, in sliding windows. A resident reporting three
hazards in an hour is normal; a script posting hundreds is not, and one address (a phone
carrier's NAT) may stand for many residents, so its limit is wider.

The windows' state is in the ticket store (table ``report_limit_hits``, migration 7), so every
platform replica on one database counts against the same allowance and a restart forgets
nothing. It is a sliding log: one row per key (scope, who, building) and millisecond, whose
``hits`` an accepted report raises with one atomic ``INSERT ... ON CONFLICT DO UPDATE``; a check
reads the key's rows of the longest window. Rows older than the longest window are deleted by a
sweep each process makes at most once per ``sweep_every_ms``, so a row outlives the longest
window by that much at most.

A report takes its place in the windows before it is made (``reserve``): the check and the count
are one transaction, which first takes each key's lock row (``LOCK_AT_MS``, by the same atomic
upsert), so that requests checked at the same moment, on one replica or several, pass one at a
time and cannot all take the last place. A report then refused (a photo that is not one) gives
its place back (``release``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select

from gongzhi.core.clock import Clock
from gongzhi.core.errors import StoreUnavailable
from gongzhi.hub.store.base import Store
from gongzhi.hub.store.dialect import insert_for
from gongzhi.hub.store.tables import report_limit_hits

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
SWEEP_EVERY_MS = 10 * 60_000
LOCK_AT_MS = -1  # a key's lock row: no report's time

log = logging.getLogger(__name__)

_H = report_limit_hits.c


@dataclass(frozen=True, slots=True)
class Window:
    scope: str  # "device" or "address"
    limit: int
    span_ms: int
    reason: str  # for machines, e.g. "device_hour"
    message: str


DEFAULT_WINDOWS: tuple[Window, ...] = (
    Window("device", 3, HOUR_MS, "device_hour",
           "this phone has sent 3 reports for this building in the last hour"),
    Window("device", 10, DAY_MS, "device_day",
           "this phone has sent 10 reports for this building today"),
    Window("address", 10, HOUR_MS, "address_hour",
           "your network has sent 10 reports for this building in the last hour"),
    Window("address", 40, DAY_MS, "address_day",
           "your network has sent 40 reports for this building today"),
)


@dataclass(frozen=True, slots=True)
class Limited:
    reason: str
    message: str
    retry_after_s: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """A report's place in its windows, taken by ``reserve``."""

    keys: tuple[str, ...]
    at_ms: int


def _key(scope: str, who: str, building: str) -> str:
    return f"{scope}|{who}|{building}"


def _limited(window: Window, hits: list[tuple[int, int]], now: int) -> Limited | None:
    """``hits``: the key's (at_ms, hits), newest first. Limited when the window holds ``limit``
    reports; it lifts when the ``limit``-th newest leaves it."""
    total = 0
    for at_ms, count in hits:
        if at_ms <= now - window.span_ms:
            break
        total += count
        if total >= window.limit:
            wait_ms = at_ms + window.span_ms - now
            return Limited(window.reason, window.message, max(1, -(-wait_ms // 1000)))
    return None


class ReportLimiter:
    """Thread-safe (each call is a transaction of the store). ``reserve`` takes a report's
    place or says why not, ``release`` gives back the place of a report then refused (a refused
    or invalid report does not use up the resident's allowance); ``check`` only looks."""

    def __init__(self, store: Store, clock: Clock,
                 windows: tuple[Window, ...] = DEFAULT_WINDOWS, *,
                 sweep_every_ms: int = SWEEP_EVERY_MS) -> None:
        self._store = store
        self._clock = clock
        self._windows = windows
        self._sweep_every_ms = sweep_every_ms
        self._swept_at: int | None = None
        self._longest = {scope: max(w.span_ms for w in windows if w.scope == scope)
                         for scope in {w.scope for w in windows}}

    def check(self, *, device: str, address: str, building: str) -> Limited | None:
        """Whether a report would be refused now (nothing taken)."""
        if not self._windows:
            return None
        now = self._clock.now_ms()
        with self._store.transaction(now) as tx:
            return self._first_limited(tx.connection, self._keys(device, address, building),
                                       now)

    def reserve(self, *, device: str, address: str,
                building: str) -> Reservation | Limited:
        """The report's place in every window, or the first window that has none left (then
        nothing is counted). ``StoreUnavailable`` when the store cannot say: the report could
        not be kept either."""
        now = self._clock.now_ms()
        keys = self._keys(device, address, building)
        if self._windows:
            with self._store.transaction(now) as tx:
                conn = tx.connection
                for key in keys.values():
                    _add(conn, key, LOCK_AT_MS, 0)  # waits for another reserver of the key
                limited = self._first_limited(conn, keys, now)
                if limited is not None:
                    return limited
                for key in keys.values():
                    _add(conn, key, now, 1)
            self._sweep(now)
        return Reservation(tuple(keys.values()), now)

    def _keys(self, device: str, address: str, building: str) -> dict[str, str]:
        """The report's key in each scope, in one order (no deadlock between replicas)."""
        who = {"device": device, "address": address}
        return {scope: _key(scope, who[scope], building) for scope in sorted(self._longest)}

    def _first_limited(self, conn: Connection, keys: dict[str, str],
                       now: int) -> Limited | None:
        hits = {scope: self._hits(conn, key, now - self._longest[scope])
                for scope, key in keys.items()}
        for window in self._windows:
            limited = _limited(window, hits[window.scope], now)
            if limited is not None:
                return limited
        return None

    def release(self, reservation: Reservation) -> None:
        """Give back the place of a report that was refused after all. A store failing here is
        logged (the allowance counts one report too many for a while), not the resident's
        error: the refusal's own reason is."""
        if not reservation.keys:
            return
        try:
            with self._store.transaction(self._clock.now_ms()) as tx:
                conn = tx.connection
                for key in reservation.keys:
                    _add(conn, key, reservation.at_ms, -1)
                conn.execute(delete(report_limit_hits).where(
                    _H.key.in_(reservation.keys), _H.at_ms == reservation.at_ms, _H.hits <= 0))
        except StoreUnavailable as error:
            log.warning("report limits: a refused report's place was not given back: %s", error)

    @staticmethod
    def _hits(conn: Connection, key: str, after: int) -> list[tuple[int, int]]:
        rows = conn.execute(select(_H.at_ms, _H.hits)
                            .where(_H.key == key, _H.at_ms > max(after, LOCK_AT_MS))
                            .order_by(_H.at_ms.desc()))
        return [(int(at_ms), int(count)) for at_ms, count in rows]

    def _sweep(self, now: int) -> None:
        """Delete every key's rows past the longest window, at most once per ``sweep_every_ms``
        (in a transaction of its own: a conflict with another replica's sweep costs nothing)."""
        if self._swept_at is not None and now - self._swept_at < self._sweep_every_ms:
            return
        self._swept_at = now
        try:
            with self._store.transaction(now) as tx:
                tx.connection.execute(delete(report_limit_hits).where(
                    _H.at_ms <= now - max(self._longest.values())))
        except StoreUnavailable as error:
            log.info("report limits: old windows not swept this time: %s", error)


def _add(conn: Connection, key: str, at_ms: int, hits: int) -> None:
    """``hits`` more on the key's row at ``at_ms`` (made when missing): one atomic upsert, which
    holds the row's lock until the transaction ends."""
    stmt = insert_for(conn, report_limit_hits).values(key=key, at_ms=at_ms, hits=max(hits, 0))
    conn.execute(stmt.on_conflict_do_update(index_elements=["key", "at_ms"],
                                            set_={"hits": _H.hits + hits}))
