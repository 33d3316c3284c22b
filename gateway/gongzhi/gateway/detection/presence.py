"""Heartbeats, last wills and offline clusters, on received time.

A device is offline after its catalogue's ``offline_after_ms`` of silence (scaled by a
``report_interval_s`` override) or at once on its last will. When many devices of one building
fall silent within ``cluster_window_ms``, one ``offline_cluster`` alarm replaces their
per-device ``device_offline`` alarms: those already raised are withdrawn (CLEAR with
``inhibited_by``), later ones are not raised while the cluster lasts. When the cluster clears,
members still offline get their own alarms.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState, alarm_id_for
from gongzhi.devices.catalogue import spec_for
from gongzhi.gateway.detection.carry import Rows, Stateful, rows_by_key
from gongzhi.gateway.detection.config import DetectionConfig
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.track import IntArray

NONE = -1
HEARTBEAT, LAST_WILL = 0, 1


HOUR_MS = 3_600_000


def offline_after_ms(index: DeviceIndex) -> IntArray:
    """The catalogue's silence, scaled to a ``report_interval_s`` override; but never less
    than three intervals for devices reporting more often than hourly (a battery detector set
    to report every 30 s must not be offline after 31 s because its daily rule is 25/24)."""
    out = np.zeros(len(index), np.int64)
    for i, record in enumerate(index.records):
        spec = spec_for(record.type)
        interval = record.setting("report_interval_s", spec.report_interval_ms / 1000) * 1000
        scaled = spec.offline_after_ms * interval / spec.report_interval_ms
        out[i] = round(max(scaled, min(3 * interval, interval + HOUR_MS)))
    return out


def cluster_id(estate_id: str, building: str) -> str:
    """The device id of a building's offline_cluster alarms (no device id has a colon)."""
    return f"{estate_id}:{building}"


class Presence(Stateful):
    DEVICE_STATE = ("last_rx", "offline", "since", "cause", "alarm_onset")
    GROUP_STATE = (("cluster_onset", "buildings"),)  # with ``cluster_members``: carry_more
    DERIVED = ("offline_after", "needed")  # settings, building sizes

    def __init__(self, index: DeviceIndex, config: DetectionConfig) -> None:
        self._index = index
        self._config = config
        n = len(index)
        self.offline_after = offline_after_ms(index)
        self.last_rx = np.full(n, NONE, np.int64)
        self.offline = np.zeros(n, np.bool_)
        self.since = np.full(n, NONE, np.int64)
        self.cause = np.zeros(n, np.int8)
        self.alarm_onset = np.full(n, NONE, np.int64)  # onset of the open device_offline alarm
        sizes = np.bincount(index.building, minlength=len(index.buildings))
        self.needed = np.maximum(config.cluster_min_devices,
                                 np.ceil(config.cluster_fraction * sizes)).astype(np.int64)
        self.cluster_onset = np.full(len(index.buildings), NONE, np.int64)
        self.cluster_members: dict[int, set[int]] = {}

    @property
    def buildings(self) -> list[tuple[str, str]]:
        return self._index.buildings

    def carry_more(self, old: Presence, rows: Rows) -> None:
        """Open clusters go with their building (``cluster_onset``, carried by key); their
        members, whose own alarms they withdrew, with their slots: removed devices leave."""
        slot = rows.mapping()
        building = rows_by_key(old.buildings, self.buildings).mapping()
        for old_building, members in old.cluster_members.items():
            if old_building in building:
                self.cluster_members[building[old_building]] = {
                    slot[m] for m in members if m in slot}

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.offline_after, self.last_rx, self.offline,
                                      self.since, self.cause, self.alarm_onset))

    def seen(self, slots: IntArray, received_ms: IntArray) -> list[Alarm]:
        """Devices that sent anything: alive again if they were offline."""
        np.maximum.at(self.last_rx, slots, received_ms)
        offline = self.offline[slots]
        if not np.count_nonzero(offline):
            return []
        back = np.unique(slots[offline])
        alarms: list[Alarm] = []
        for slot in back:
            alarms += self._back_online(int(slot), int(self.last_rx[slot]))
        if back.size:
            alarms += self._clusters(int(received_ms.max()))
        return alarms

    def last_wills(self, slots: IntArray, received_ms: IntArray) -> list[Alarm]:
        """Last wills of a batch, together: a building's devices dropping at once form their
        cluster before any per-device alarm is raised. A will older than the device's latest
        message is stale (it reconnected since) and ignored."""
        fresh = (received_ms >= self.last_rx[slots]) & ~self.offline[slots]
        slots, first = np.unique(slots[fresh], return_index=True)
        received_ms = received_ms[fresh][first]
        if slots.size == 0:
            return []
        self.last_rx[slots] = received_ms
        self._go_offline(slots, received_ms, LAST_WILL)
        now = int(received_ms.max())
        alarms = self._clusters(now)
        return alarms + self._raise_devices(slots, now)

    def tick(self, now_ms: int) -> list[Alarm]:
        self.last_rx[self.last_rx < 0] = now_ms  # never heard of: silent from now on
        newly = np.flatnonzero(~self.offline & (now_ms - self.last_rx > self.offline_after))
        self._go_offline(newly, self.last_rx[newly], HEARTBEAT)
        alarms = self._clusters(now_ms)
        return alarms + self._raise_devices(newly, now_ms)

    def _go_offline(self, slots: IntArray, since: IntArray | int, cause: int) -> None:
        self.offline[slots] = True
        self.since[slots] = since
        self.cause[slots] = cause

    def _raise_devices(self, slots: IntArray, now_ms: int) -> list[Alarm]:
        alarms = []
        for slot in slots:
            building = int(self._index.building[slot])
            if self.cluster_onset[building] >= 0:
                self.cluster_members[building].add(int(slot))
                continue
            alarms.append(self._device_alarm(int(slot), now_ms))
        return alarms

    def _device_alarm(self, slot: int, now_ms: int) -> Alarm:
        onset = int(self.since[slot])
        self.alarm_onset[slot] = onset
        evidence: dict[str, Any] = {"rule": "last_will"} if self.cause[slot] == LAST_WILL else {
            "rule": "heartbeat", "offline_after_ms": int(self.offline_after[slot]),
            "last_seen_ms": onset, "silent_ms": now_ms - onset}
        return self._index.alarm(slot, AlarmKind.DEVICE_OFFLINE, onset, now_ms,
                                 AlarmState.RAISE, evidence)

    def _back_online(self, slot: int, now_ms: int) -> list[Alarm]:
        self.offline[slot] = False
        alarms = []
        if self.alarm_onset[slot] >= 0:
            evidence = {"rule": "back_online", "offline_since_ms": int(self.since[slot]),
                        "window": {"start_ms": int(self.since[slot]), "end_ms": now_ms}}
            alarms.append(self._index.alarm(slot, AlarmKind.DEVICE_OFFLINE,
                                            int(self.alarm_onset[slot]), now_ms,
                                            AlarmState.CLEAR, evidence))
            self.alarm_onset[slot] = NONE
        return alarms

    def _clusters(self, now_ms: int) -> list[Alarm]:
        recent = self.offline & (self.since >= now_ms - self._config.cluster_window_ms)
        counts = np.bincount(self._index.building[recent], minlength=self.needed.size)
        alarms: list[Alarm] = []
        for forming in np.flatnonzero((counts >= self.needed) & (self.cluster_onset < 0)):
            alarms += self._open_cluster(int(forming), recent, now_ms)
        for building, members in list(self.cluster_members.items()):
            still = [m for m in members if self.offline[m]]
            if len(still) < math.ceil(self.needed[building] / 2):
                alarms += self._close_cluster(building, still, now_ms)
        return alarms

    def _open_cluster(self, building: int, recent: np.ndarray, now_ms: int) -> list[Alarm]:
        members = np.flatnonzero(recent & (self._index.building == building))
        onset = int(self.since[members].min())
        self.cluster_onset[building] = onset
        self.cluster_members[building] = {int(m) for m in members}
        raised = self._cluster_alarm(building, now_ms, AlarmState.RAISE, members)
        alarms = [raised]
        for slot in members[self.alarm_onset[members] >= 0]:
            evidence = {"rule": "inhibited", "inhibited_by": raised.alarm_id}
            alarms.append(self._index.alarm(int(slot), AlarmKind.DEVICE_OFFLINE,
                                            int(self.alarm_onset[slot]), now_ms,
                                            AlarmState.CLEAR, evidence))
            self.alarm_onset[slot] = NONE
        return alarms

    def _close_cluster(self, building: int, still: list[int], now_ms: int) -> list[Alarm]:
        members = np.array(sorted(self.cluster_members.pop(building)), np.int64)
        alarms = [self._cluster_alarm(building, now_ms, AlarmState.CLEAR, members)]
        self.cluster_onset[building] = NONE
        return alarms + [self._device_alarm(slot, now_ms) for slot in still]

    def _cluster_alarm(self, building: int, now_ms: int, state: AlarmState,
                       members: IntArray) -> Alarm:
        estate_id, name = self._index.buildings[building]
        device_id = cluster_id(estate_id, name)
        onset = int(self.cluster_onset[building])
        ids = [self._index.ids[m] for m in members]
        evidence = {"rule": "offline_cluster", "devices": ids[:100], "offline": len(ids),
                    "building_devices": int(np.sum(self._index.building == building)),
                    "needed": int(self.needed[building]),
                    "window_ms": self._config.cluster_window_ms,
                    "window": {"start_ms": onset, "end_ms": now_ms}}
        if state is AlarmState.CLEAR:
            evidence["still_offline"] = int(np.sum(self.offline[members]))
        return Alarm(alarm_id=alarm_id_for(device_id, AlarmKind.OFFLINE_CLUSTER.value, onset),
                     kind=AlarmKind.OFFLINE_CLUSTER, device_id=device_id, estate_id=estate_id,
                     ts_ms=now_ms, state=state, evidence=evidence, building=name)
