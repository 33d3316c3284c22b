"""Replay recorded telemetry through the gateway's detection engine, time advancing with the data.

The engine is the one the gateway builds (``service.default_detector``: same rules, same
configuration, the registry's per-device overrides), fed as the gateway's pipeline feeds it:
- every row is a telemetry message received at its own timestamp (time advances with the data);
- rows are checked against the catalogue as the gateway's decoder checks them (a known metric,
  finite, within the sensor's physical range); a row the gateway would refuse is not shown to
  detection and is counted by the decoder's reason, as a dead letter would be;
- all devices' rows are merged in time order; the rows of one second of data form one batch,
  and the engine is ticked on the second after it, as the gateway ticks about once a second
  (the gateway's own engine takes its rules' rows in rounds across devices and presence a few
  seconds at a time, which gives the same alarms: ``batches``); the alarms come out in time
  order;
- the gateway ticks every second; a tick only changes anything when a device's silence passes
  its offline limit, so the replay ticks at exactly those seconds (and at the first second),
  which gives the alarms of ticking every second at a fraction of the cost.

A device that reports only some of its type's metrics is normal: a missing cell is simply not
in that message's values, as when a real monitor sends ``power_w`` alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.core.errors import ConfigError
from gongzhi.devices.catalogue import spec_for
from gongzhi.devices.registry import Registry
from gongzhi.gateway.backtest.batches import (
    TICK_MS,
    Seconds,
    ranks,
    silence_ticks,
    tick_after,
    windows,
)
from gongzhi.gateway.backtest.intervals import LISTED, SlowReporter, slow_reporters
from gongzhi.gateway.backtest.series import DeviceSeries
from gongzhi.gateway.decode import MIN_TS_MS
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.engine import DetectionEngine
from gongzhi.gateway.detection.presence import offline_after_ms
from gongzhi.gateway.messages import Telemetry
from gongzhi.gateway.pipeline import Detector
from gongzhi.gateway.reasons import Reason
from gongzhi.gateway.service import default_detector

TIME = attrgetter("ts_ms")

DetectorFactory = Callable[[Registry], Detector]


@dataclass(slots=True)
class ReplaySummary:
    rows: int = 0
    devices: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    first_rejected: dict[str, str] = field(default_factory=dict)  # reason -> file:line
    raised: Counter[str] = field(default_factory=Counter)
    cleared: Counter[str] = field(default_factory=Counter)
    first_ts_ms: int | None = None
    last_ts_ms: int | None = None
    ticks: int = 0
    slow: list[SlowReporter] = field(default_factory=list)
    left_out: int = 0  # devices of the registry without rows, not replayed (the command's)

    def to_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "devices": self.devices,
                "registry_devices_left_out": self.left_out,
                "rows_rejected": dict(sorted(self.rejected.items())),
                "first_rejected": dict(sorted(self.first_rejected.items())),
                "alarms": sum(self.raised.values()),
                "alarms_by_kind": dict(sorted(self.raised.items())),
                "clears_by_kind": dict(sorted(self.cleared.items())),
                "first_ts_ms": self.first_ts_ms, "last_ts_ms": self.last_ts_ms,
                "slow_reporters": len(self.slow),
                "slow_reporters_listed": [r.to_dict() for r in self.slow[:LISTED]]}


def check_series(registry: Registry, all_series: Iterable[DeviceSeries]) -> None:
    """Refuse what the replay cannot run (``ConfigError`` naming the file and line): a device
    not in the registry, a column that is not a metric of the device's type, a timestamp that
    is not after the previous row's or not in epoch milliseconds."""
    for s in all_series:
        record = registry.get(s.device_id)
        if record is None:
            raise ConfigError(f"device {s.device_id!r} is not in the registry",
                              source=f"{s.source}:1")
        metrics = spec_for(record.type).metrics
        unknown = sorted(set(s.values) - set(metrics))
        if unknown:
            raise ConfigError(f"{', '.join(unknown)} not a metric of {record.type.value} devices "
                              f"(metrics: {', '.join(metrics)})", source=f"{s.source}:1")
        if len(s) == 0:
            continue
        early = np.flatnonzero(s.ts < MIN_TS_MS)
        if early.size:
            raise ConfigError(f"ts {int(s.ts[early[0]])} is before 2000-01-01 in epoch ms "
                              "(epoch seconds?)", source=s.where(int(early[0])))
        back = np.flatnonzero(np.diff(s.ts) <= 0)
        if back.size:
            row = int(back[0]) + 1
            raise ConfigError(f"ts {int(s.ts[row])} is not after the previous row's "
                              f"{int(s.ts[row - 1])}: rows must be in time order, one per ts",
                              source=s.where(row))


def _accepted(registry: Registry, s: DeviceSeries, summary: ReplaySummary) -> np.ndarray:
    """Rows the gateway's decoder would accept (bool per row); the others are counted."""
    spec = spec_for(registry.get(s.device_id).type)  # type: ignore[union-attr]
    ok = np.ones(len(s), np.bool_)
    reported = np.zeros(len(s), np.bool_)
    for name, column in s.values.items():
        limits = spec.metrics[name]
        present = column == column  # NaN: not reported
        reported |= present
        outside = (column < limits.low) | (column > limits.high)  # an infinity too
        if outside.any():
            infinite = np.isinf(column)
            for reason, bad in ((Reason.NON_FINITE, infinite), (Reason.OUT_OF_RANGE,
                                                                outside & ~infinite)):
                _reject(s, ok & bad, reason, summary)
                ok &= ~bad
    if not reported.all():
        _reject(s, ok & ~reported, Reason.BAD_SHAPE, summary)  # a row with no values
    return ok & reported


def _reject(s: DeviceSeries, bad: np.ndarray, reason: str, summary: ReplaySummary) -> None:
    rows = np.flatnonzero(bad)
    if rows.size:
        summary.rejected[reason] += int(rows.size)
        summary.first_rejected.setdefault(reason, s.where(int(rows[0])))


class Replay:
    """One replay over a registry; ``run`` yields the detector's alarms, in time order for the
    gateway's engine (another detector's in the order it emits them, a second at a time). The
    detector comes from ``detector_factory`` (the gateway's by default)."""

    def __init__(self, registry: Registry, *,
                 detector_factory: DetectorFactory = default_detector) -> None:
        self.registry = registry
        self.detector = detector_factory(registry)
        self.summary = ReplaySummary()
        index = DeviceIndex(registry)
        self._slot = index.slot
        self._offline_after = offline_after_ms(index).tolist()
        self._checked: tuple[Sequence[DeviceSeries], list[SlowReporter]] | None = None

    def check(self, all_series: Sequence[DeviceSeries]) -> list[SlowReporter]:
        """Refuse what cannot run (``check_series``); the devices that will go offline in
        every gap between their rows (``intervals``), which ``run`` puts in the summary. A
        caller may check first (to warn before a long run): ``run`` then takes the result."""
        if self._checked is not None and self._checked[0] is all_series:
            return self._checked[1]
        check_series(self.registry, all_series)
        limits = {d: self._offline_after[slot] for d, slot in self._slot.items()}
        slow = slow_reporters(self.registry, limits, all_series)
        self._checked = (all_series, slow)
        return slow

    def run(self, all_series: Sequence[DeviceSeries]) -> Iterator[Alarm]:
        summary = self.summary
        summary.slow = self.check(all_series)
        summary.devices = len(all_series)
        keep = [_accepted(self.registry, s, summary) for s in all_series]
        # Every accepted row, all devices merged in time order (ties: in the order the series
        # were given), as columns: the engine takes them without a message object per row.
        ts = np.concatenate([s.ts[k] for s, k in zip(all_series, keep, strict=True)]
                            or [np.zeros(0, np.int64)]).astype(np.int64)
        slots = np.concatenate([np.full(int(k.sum()), self._slot[s.device_id], np.int64)
                                for s, k in zip(all_series, keep, strict=True)]
                               or [np.zeros(0, np.int64)])
        order = np.argsort(ts, kind="stable")
        ts, slots = ts[order], slots[order]
        columns = {name: _column(all_series, keep, name)[order]
                   for name in dict.fromkeys(n for s in all_series for n in s.values)}
        summary.rows = int(ts.size)
        if ts.size == 0:
            return
        summary.first_ts_ms, summary.last_ts_ms = int(ts[0]), int(ts[-1])
        detector = self.detector
        if isinstance(detector, DetectionEngine):
            found = self._telemetry(detector, slots, ts, columns)
            found += self._ticked(slots, ts, lambda start, end: detector.seen(
                slots[start:end], ts[start:end]), merge=True)
            found.sort(key=TIME)  # stable: at one time, the rules' alarms before presence's
            alarms: Iterable[Alarm] = found
        else:
            messages: list[Telemetry] = []
            for s, k in zip(all_series, keep, strict=True):
                messages += _messages(self.registry, s, k)
            alarms = self._ticked(slots, ts, lambda start, end: detector.process(
                [messages[i] for i in order[start:end].tolist()]), merge=False)
        for alarm in alarms:
            self._count(alarm)
            yield alarm

    def _telemetry(self, engine: DetectionEngine, slots: np.ndarray, ts: np.ndarray,
                   columns: dict[str, np.ndarray]) -> list[Alarm]:
        """The telemetry and welfare rules' alarms, the rows taken in rounds across devices
        (``batches.ranks``), many rounds a batch."""
        rank = ranks(slots, ts, engine.read_together())
        by_round = np.argsort(rank, kind="stable")
        alarms: list[Alarm] = []
        for lo, hi in windows(rank[by_round]):
            rows = by_round[lo:hi]
            alarms += engine.telemetry_columns(
                slots[rows], ts[rows], {m: c[rows] for m, c in columns.items()},
                rank[rows] - rank[rows[0]])
        return alarms

    def _ticked(self, slots: np.ndarray, ts: np.ndarray,
                batch: Callable[[int, int], list[Alarm]], *, merge: bool) -> Iterator[Alarm]:
        """The rows ``start:end`` to ``batch`` a second of data at a time (consecutive seconds
        together where ``merge`` and nothing in between depends on their order:
        ``Seconds.merged_end``), with the ticks at which a device falls silent between them."""
        seconds = Seconds(slots, ts)
        # Presence covers every registered device, whether or not it has rows.
        limits = np.array(self._offline_after, np.int64)
        deadlines = _Deadlines(limits)
        starts, ends = seconds.starts.tolist(), seconds.ends.tolist()
        starts_ms = (seconds.seconds * TICK_MS).tolist()
        silences = silence_ticks(slots, ts, limits, ends[0])
        first, i = True, 0
        while i < len(starts):
            if not first:  # the seconds between batches where a device falls silent
                for tick_ms in deadlines.ticks_until(starts_ms[i]):
                    yield from self._tick(tick_ms)
            j = seconds.merged_end(i, _later(deadlines.next_tick(), silences, starts_ms[i]),
                                   deadlines.offline) if merge and not first else i + 1
            start, end = starts[i], ends[j - 1]
            yield from batch(start, end)
            deadlines.seen(slots[start:end], ts[start:end])
            tick_ms = tick_after(starts_ms[j - 1])
            if first or deadlines.due(tick_ms):
                deadlines.ticked(tick_ms)  # devices never heard of are silent from the first tick
                yield from self._tick(tick_ms)
            first, i = False, j

    def _tick(self, now_ms: int) -> list[Alarm]:
        self.summary.ticks += 1
        return self.detector.tick(now_ms)

    def _count(self, alarm: Alarm) -> None:
        kind = alarm.kind.value
        if alarm.state is AlarmState.RAISE:
            self.summary.raised[kind] += 1
        else:
            self.summary.cleared[kind] += 1


def _later(next_tick_ms: int | None, silences: np.ndarray, after_ms: int) -> int | None:
    """The later of two bounds on the next tick after ``after_ms``: the deadlines as they stand
    (a report only moves them later) and the first tick in the data's ``silences`` after it."""
    n = int(np.searchsorted(silences, after_ms, "right"))
    if n == silences.size:
        return None  # no device falls silent again
    silent = int(silences[n])
    return silent if next_tick_ms is None else max(next_tick_ms, silent)


def _column(all_series: Sequence[DeviceSeries], keep: list[np.ndarray], name: str
            ) -> np.ndarray:
    """One metric over every accepted row (series after series), NaN where not reported."""
    return np.concatenate([s.values[name][k] if name in s.values
                           else np.full(int(k.sum()), np.nan) for s, k in
                           zip(all_series, keep, strict=True)]).astype(np.float64)


def _messages(registry: Registry, s: DeviceSeries, keep: np.ndarray) -> list[Telemetry]:
    record = registry.get(s.device_id)
    assert record is not None
    names = list(s.values)
    columns = [s.values[name][keep].tolist() for name in names]
    head = (record.device_id, record.estate_id, record.type)
    times = s.ts[keep].tolist()
    complete = all(not np.isnan(s.values[name][keep]).any() for name in names)
    if complete:  # every row reports every column (the common case): no NaN to skip
        return [Telemetry(*head, t, dict(zip(names, cells, strict=True)), t)
                for t, *cells in zip(times, *columns, strict=True)]
    return [Telemetry(*head, t, {name: value for name, value in zip(names, cells, strict=True)
                                 if value == value}, t)  # NaN: not reported in this row
            for t, *cells in zip(times, *columns, strict=True)]


class _Deadlines:
    """When each device's silence passes its offline limit: presence marks a device offline at
    the first tick with ``now - last report > limit``."""

    def __init__(self, limits: np.ndarray) -> None:
        self._limits = limits
        self._last = np.full(limits.size, -1, np.int64)  # -1: never heard of
        self._last_tick = -1
        self._next: int | None = None  # ``next_tick``, while nothing it reads has changed
        self._known = False

    def seen(self, slots: np.ndarray, ts: np.ndarray) -> None:
        self._last[slots] = ts  # in time order: the last write is the newest
        self._known = False

    def ticked(self, tick_ms: int) -> None:
        if self._last_tick < 0:
            self._last[self._last < 0] = tick_ms
        self._last_tick = tick_ms
        self._known = False

    def ticks_until(self, until_ms: int) -> Iterator[int]:
        """The seconds up to ``until_ms`` at which some device falls silent."""
        while (tick_ms := self.next_tick()) is not None and tick_ms <= until_ms:
            self._last_tick = tick_ms
            self._known = False
            yield tick_ms

    def offline(self, slots: np.ndarray) -> np.ndarray:
        """Which of ``slots`` are offline: silent past their limit at the last tick."""
        offline: np.ndarray = self._last[slots] + self._limits[slots] < self._last_tick
        return offline

    def due(self, tick_ms: int) -> bool:
        """Some device falls silent by the tick at ``tick_ms``."""
        next_tick = self.next_tick()
        return next_tick is not None and next_tick <= tick_ms

    def next_tick(self) -> int | None:
        """The first tick after the last one at which some device is silent past its limit
        (``_last_tick``: the last tick run, so devices due before it are offline already)."""
        if not self._known:
            due = self._last + self._limits
            pending = due[due >= self._last_tick]  # the others are offline already
            self._next = None if pending.size == 0 else \
                tick_after(int(np.minimum.reduce(pending)))
            self._known = True
        return self._next
