"""The streaming detection engine: validated, deduplicated messages in, alarms out.

Telemetry is detected on device time (``ts_ms``), presence on received time. Pure: no I/O, no
threads, no clock of its own (``tick`` is told the time). A registry reload (``set_registry``)
keeps the state of the devices that stay (see ``carry``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from gongzhi.core.alarms import Alarm
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import Registry
from gongzhi.gateway.detection.carry import carry, in_type_group, kept_devices
from gongzhi.gateway.detection.config import DetectionConfig
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.events import EventAlarms
from gongzhi.gateway.detection.group import TypeGroup, column_rows, fuse_smoke_alarms, metric_rows
from gongzhi.gateway.detection.ledger import OpenAlarms
from gongzhi.gateway.detection.peers import components
from gongzhi.gateway.detection.presence import Presence, cluster_id, offline_after_ms
from gongzhi.gateway.detection.rhythm import DayRecord
from gongzhi.gateway.detection.track import FloatArray, IntArray
from gongzhi.gateway.detection.welfare import LearnedDay, WelfareWatch
from gongzhi.gateway.messages import DeviceEvent, StatusChange, Telemetry
from gongzhi.gateway.messages import Presence as PresenceState

DEVICE_ID = attrgetter("device_id")
TS = attrgetter("ts_ms")
VALUES = attrgetter("values")
RECEIVED = attrgetter("received_ms")

# A type group's metric matrix for some rows of a batch (one row per message, one column per
# metric of the group, NaN where absent); None: every row.
MetricRows = Callable[[tuple[str, ...], IntArray | None], FloatArray]


class DetectionEngine:
    def __init__(self, registry: Registry, config: DetectionConfig | None = None) -> None:
        self.config = config or DetectionConfig()
        self._index = DeviceIndex(registry)
        self._groups = {t: TypeGroup(t, self._index, self.config) for t in DeviceType}
        self._types = list(DeviceType)
        self._presence = Presence(self._index, self.config)
        self._ledger = OpenAlarms()
        self._events = EventAlarms()
        self._welfare = WelfareWatch(self._index, offline_after_ms(self._index).tolist(),
                                     self.config.timezone, self.config.welfare)

    def set_registry(self, registry: Registry) -> None:
        """Swap ``registry`` in. Devices in both registries with the same type keep their
        state, under the new registry's settings and groups; others start fresh (``carry``)."""
        new = DetectionEngine(registry, self.config)
        kept = kept_devices(self._index, new._index)
        for device_type, group in new._groups.items():
            carry(self._groups[device_type], group,
                  in_type_group(kept, self._index, new._index, device_type))
        carry(self._presence, new._presence, kept)
        self._ledger.retain({*(self._index.ids[s] for s in kept.old.tolist()),
                             *(cluster_id(*b) for b in new._index.buildings)})
        self._events.retain(new._index.slot)
        new._welfare.adopt(self._welfare)
        self._index, self._groups, self._presence = new._index, new._groups, new._presence
        self._welfare = new._welfare

    @property
    def state_nbytes(self) -> int:
        """Bytes of numpy state (rules, presence); excludes the registry and id lookups."""
        return self._presence.nbytes + sum(g.nbytes for g in self._groups.values())

    def read_together(self) -> IntArray:
        """Per device slot, its component of devices some rule reads together (-1: every rule
        reads the device alone, so its reports may be taken in any order with other devices'
        as long as its own stay in order; ``peers``): a floor's smoke detectors, a landing's
        circuits, a riser's sensors, a household's meters watched for welfare."""
        slot = self._index.slot
        households = self._welfare.household_devices()
        members = [slot[d] for devices in households.values() for d in devices]
        homes = [n for n, devices in enumerate(households.values()) for _ in devices]
        return components(len(self._index), [
            *((group.globals, groups) for group in self._groups.values()
              for groups in group.peer_groups()),
            (np.array(members, np.int64), np.array(homes, np.int64))])

    def process(self, messages: Sequence[Telemetry | DeviceEvent | StatusChange]) -> list[Alarm]:
        telemetry: list[Telemetry] = []
        others: list[DeviceEvent | StatusChange] = []
        for message in messages:
            (telemetry if type(message) is Telemetry else others).append(message)  # type: ignore[arg-type]
        slot_of = self._index.slot
        if not all(map(slot_of.__contains__, map(DEVICE_ID, messages))):
            # Validated upstream; a registry reload may race it. Unknown devices are skipped.
            telemetry = [m for m in telemetry if m.device_id in slot_of]
            others = [m for m in others if m.device_id in slot_of]
        tel_slots = list(map(slot_of.__getitem__, map(DEVICE_ID, telemetry)))
        tel_ts = list(map(TS, telemetry))
        tel_values = list(map(VALUES, telemetry))
        seen_slots = list(tel_slots)
        seen_rx = list(map(RECEIVED, telemetry))
        events: list[tuple[int, DeviceEvent]] = []
        statuses: list[tuple[int, StatusChange]] = []
        for message in others:
            slot = slot_of[message.device_id]
            if type(message) is DeviceEvent:
                events.append((slot, message))
                seen_slots.append(slot)
                seen_rx.append(message.received_ms)
            elif type(message) is StatusChange:
                statuses.append((slot, message))
        alarms = self._telemetry(  # telemetry's smoke alarms fused round by round
            np.array(tel_slots, np.int64), np.array(tel_ts, np.int64),
            lambda metrics, rows: metric_rows(
                metrics, tel_values if rows is None else [tel_values[i] for i in rows]))
        alarms += self._welfare.observe(telemetry)
        from_events = [a for a in (self._events.alarm(self._index, slot, event)
                                   for slot, event in events) if a is not None]
        fusion = self._groups[DeviceType.SMOKE].fusion
        if fusion is not None:
            from_events += fuse_smoke_alarms(fusion, self._index, from_events)
        alarms += from_events
        alarms += self._presence.seen(np.array(seen_slots, np.int64),
                                      np.array(seen_rx, np.int64))
        online = [(s, m.received_ms) for s, m in statuses if m.presence is PresenceState.ONLINE]
        wills = [(s, m.received_ms) for s, m in statuses if m.presence is PresenceState.OFFLINE]
        if online:
            alarms += self._presence.seen(*_arrays(online))
        if wills:
            alarms += self._presence.last_wills(*_arrays(wills))
        return self._ledger.admit(alarms)

    def telemetry_columns(self, slots: IntArray, ts: IntArray,
                          values: Mapping[str, FloatArray],
                          rank: IntArray | None = None) -> list[Alarm]:
        """Telemetry as columns, each row a message received at its device time (recorded
        data replayed): ``slots`` the devices' global slots (registered devices), ``values``
        metric name -> one value per row, NaN where the row did not report it. The telemetry
        and welfare alarms of ``process`` on the same messages, without building them (presence:
        ``seen``). ``rank``: each row's round (``group.rounds``) where not by arrival, so that
        devices read together (``read_together``) take their rows in time order."""
        alarms = self._telemetry(slots, ts, lambda metrics, rows: column_rows(
            metrics, values, rows, slots.size), rank)
        watched = self._welfare.watched_devices
        if watched:
            alarms += self._welfare.observe(self._messages(slots, ts, values, watched))
        return self._ledger.admit(alarms)

    def seen(self, slots: IntArray, received_ms: IntArray) -> list[Alarm]:
        """Presence of devices heard from (received at ``received_ms``): back online, clusters
        closing. ``process`` does it for its messages."""
        return self._ledger.admit(self._presence.seen(slots, received_ms))

    def _messages(self, slots: IntArray, ts: IntArray, values: Mapping[str, FloatArray],
                  devices: Collection[str]) -> list[Telemetry]:
        """The rows of ``devices`` as the messages ``process`` would have had."""
        out: list[Telemetry] = []
        records = self._index.records
        for row, slot in enumerate(slots.tolist()):
            record = records[slot]
            if record.device_id in devices:
                cells = {m: float(c[row]) for m, c in values.items() if c[row] == c[row]}
                t = int(ts[row])
                out.append(Telemetry(record.device_id, record.estate_id, record.type, t, cells,
                                     t))
        return out

    @property
    def welfare_households(self) -> dict[str, list[str]]:
        """The devices of each household the welfare rule watches, by household."""
        return self._welfare.household_devices()

    def keep_welfare_days(self) -> None:
        """From now on note each day the welfare rule learns (``take_welfare_days``)."""
        if self._welfare.journal is None:
            self._welfare.journal = []

    def take_welfare_days(self) -> list[LearnedDay]:
        """The days learned since the last call (for the gateway to keep across starts)."""
        journal = self._welfare.journal
        if not journal:
            return []
        self._welfare.journal = []
        return journal

    def resume_welfare(self, household: str, days: Sequence[DayRecord],
                       state: Mapping[str, Any]) -> None:
        """Household ``household`` as it was kept (``WelfareWatch.resume``)."""
        self._welfare.resume(household, days, state)

    @property
    def welfare_history_days(self) -> int:
        return self._welfare.history_days

    def learn_welfare(self, recorded: Sequence[Telemetry]) -> None:
        """The welfare rule learns from recorded reports of its households (at a start, before
        the stream; ``gongzhi.gateway.welfare_history``)."""
        self._welfare.learn(recorded)

    def welfare_learned(self) -> list[Alarm]:
        """The welfare alarms still active after learning: for the outbox (a repeat of an
        alarm sent before the start is the same alarm)."""
        return self._ledger.admit(self._welfare.active())

    def tick(self, now_ms: int) -> list[Alarm]:
        """Time-based rules on received time: heartbeats, offline devices and clusters."""
        return self._ledger.admit(self._presence.tick(now_ms))

    def _telemetry(self, slots: IntArray, ts: IntArray, matrix: MetricRows,
                   rank: IntArray | None = None) -> list[Alarm]:
        alarms: list[Alarm] = []
        if slots.size == 0:
            return alarms
        codes = self._index.type_code[slots]
        local = self._index.local[slots].astype(np.int64)
        # One type (a replay of one device, a gateway of one):
        if slots.size == 1 or not np.count_nonzero(codes != codes[0]):
            group = self._groups[self._types[int(codes[0])]]
            return group.process(local, ts, matrix(group.metrics, None), rank)
        for code, device_type in enumerate(self._types):
            rows = np.flatnonzero(codes == code)
            if rows.size == 0:
                continue
            group = self._groups[device_type]
            alarms += group.process(local[rows], ts[rows], matrix(group.metrics, rows),
                                    None if rank is None else rank[rows])
        return alarms


def _arrays(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    slots, times = zip(*pairs, strict=True)
    return np.array(slots, np.int64), np.array(times, np.int64)
