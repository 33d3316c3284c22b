"""At a start, the welfare rule learns its households' rhythm from the telemetry recorded before
(the embedded store or InfluxDB, through ``gongzhi.telemetry``'s reader), so a gateway started
again judges its households at once instead of relearning for ``RhythmSettings.min_days`` days
(docs/welfare.md). The recorded reports are replayed through the rule as the stream brought
them, one household and one day at a time (a monitor at 10 s is 8,640 rows a day); the alarms
still active at their end are returned for the outbox, with the ids they had before."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gongzhi.core.alarms import Alarm
from gongzhi.devices.registry import DeviceRecord, Registry
from gongzhi.gateway.messages import Telemetry

DAY_MS = 86_400_000


class RowReader(Protocol):
    """What both telemetry readers give (``EmbeddedReader``, ``InfluxReader``)."""

    def rows(self, device_id: str, since_ms: int,
             until_ms: int) -> list[tuple[int, dict[str, float]]]: ...


@runtime_checkable
class WelfareLearner(Protocol):
    """A detector whose welfare rule learns from recorded reports (``DetectionEngine``)."""

    @property
    def welfare_households(self) -> list[list[str]]: ...

    @property
    def welfare_history_days(self) -> int: ...

    def learn_welfare(self, recorded: Sequence[Telemetry]) -> None: ...

    def welfare_learned(self) -> list[Alarm]: ...


@dataclass(slots=True)
class Learned:
    households: int = 0
    reports: int = 0
    days: int = 0  # the most days of recording a household had
    alarms: list[Alarm] = field(default_factory=list)  # still active at the end


def _day_rows(reader: RowReader, records: Sequence[DeviceRecord], since_ms: int,
              until_ms: int) -> Iterator[list[Telemetry]]:
    for start in range(since_ms, until_ms, DAY_MS):
        end = min(start + DAY_MS, until_ms)
        rows = [Telemetry(r.device_id, r.estate_id, r.type, ts, values, ts)
                for r in records for ts, values in reader.rows(r.device_id, start, end)]
        rows.sort(key=lambda m: m.ts_ms)
        yield rows


def learn_from_history(detector: WelfareLearner, reader: RowReader, registry: Registry,
                       now_ms: int, owns: Callable[[DeviceRecord], bool] = lambda _r: True
                       ) -> Learned:
    """Replay the last ``history_days`` days before ``now_ms`` of every watched household this
    gateway owns (``owns``) through ``detector``'s welfare rule."""
    learned = Learned()
    since = now_ms - detector.welfare_history_days * DAY_MS
    for device_ids in detector.welfare_households:
        records = [r for r in map(registry.get, device_ids) if r is not None]
        if not records or not all(map(owns, records)):
            continue
        learned.households += 1
        days = 0
        for rows in _day_rows(reader, records, since, now_ms):
            days += bool(rows)
            learned.reports += len(rows)
            detector.learn_welfare(rows)
        learned.days = max(learned.days, days)
    learned.alarms = detector.welfare_learned()
    return learned
