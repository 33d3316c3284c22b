"""At a start, the welfare rule learns its households' rhythm from the telemetry recorded before
(the embedded store or InfluxDB, through ``gongzhi.telemetry``'s reader), so a gateway started
again judges its households at once instead of relearning for ``RhythmSettings.min_days`` days
(docs/welfare.md). The recorded reports are replayed through the rule as the stream brought
them, one household and one day at a time (a monitor at 10 s is 8,640 rows a day); the alarms
still active at their end are returned for the outbox, with the ids they had before.

A household the gateway kept (``welfare_records``: its learned days and its state as its newest
day began) is put back as it was and only the reports recorded since that day began are
replayed; the others (a first start, a file that could not be read) replay ``history_days``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gongzhi.core.alarms import Alarm
from gongzhi.devices.registry import DeviceRecord, Registry
from gongzhi.gateway.detection.rhythm import DayRecord
from gongzhi.gateway.detection.welfare import LearnedDay
from gongzhi.gateway.messages import Telemetry
from gongzhi.gateway.welfare_records import SavedHousehold

DAY_MS = 86_400_000


class RowReader(Protocol):
    """What both telemetry readers give (``EmbeddedReader``, ``InfluxReader``)."""

    def rows(self, device_id: str, since_ms: int,
             until_ms: int) -> list[tuple[int, dict[str, float]]]: ...


@runtime_checkable
class WelfareLearner(Protocol):
    """A detector whose welfare rule learns from recorded reports (``DetectionEngine``)."""

    @property
    def welfare_households(self) -> dict[str, list[str]]: ...

    @property
    def welfare_history_days(self) -> int: ...

    def learn_welfare(self, recorded: Sequence[Telemetry]) -> None: ...

    def welfare_learned(self) -> list[Alarm]: ...

    def keep_welfare_days(self) -> None: ...

    def take_welfare_days(self) -> list[LearnedDay]: ...

    def resume_welfare(self, household: str, days: Sequence[DayRecord],
                       state: Mapping[str, Any]) -> None: ...


@dataclass(slots=True)
class Learned:
    households: int = 0
    resumed: int = 0  # of them, put back as kept (the rest replayed ``history_days``)
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


def owned_households(detector: WelfareLearner, registry: Registry,
                     owns: Callable[[DeviceRecord], bool]) -> dict[str, list[DeviceRecord]]:
    """The watched households whose devices are all this gateway's (``owns``), by key."""
    owned: dict[str, list[DeviceRecord]] = {}
    for key, device_ids in detector.welfare_households.items():
        records = [r for r in map(registry.get, device_ids) if r is not None]
        if records and all(map(owns, records)):
            owned[key] = records
    return owned


def learn_from_history(detector: WelfareLearner, reader: RowReader, registry: Registry,
                       now_ms: int, owns: Callable[[DeviceRecord], bool] = lambda _r: True,
                       saved: Mapping[str, SavedHousehold] | None = None) -> Learned:
    """Replay the last ``history_days`` days before ``now_ms`` of every watched household this
    gateway owns (``owns``) through ``detector``'s welfare rule; a household in ``saved`` is put
    back as kept first, and only its reports from the kept state's ``at_ms`` on are replayed.
    The kept households are all put back before any report is read, so a reader that fails
    leaves them as kept."""
    learned = Learned()
    since = now_ms - detector.welfare_history_days * DAY_MS
    owned = owned_households(detector, registry, owns)
    starts: dict[str, int] = {}
    for key in owned:
        kept = (saved or {}).get(key)
        if kept is not None and kept.at_ms >= since:
            detector.resume_welfare(key, kept.days, kept.state)
            starts[key] = kept.at_ms
            learned.resumed += 1
        else:
            starts[key] = since
    for key, records in owned.items():
        learned.households += 1
        days = 0
        for rows in _day_rows(reader, records, starts[key], now_ms):
            days += bool(rows)
            learned.reports += len(rows)
            detector.learn_welfare(rows)
        learned.days = max(learned.days, days)
    learned.alarms = detector.welfare_learned()
    return learned
