"""One open alarm per (device, kind). Several rules can see the same condition (the smoke
threshold and the detector's own alarm event; the fixed low-pressure threshold and the learned
baseline): the first RAISE opens the alarm, later RAISEs of the same kind on the device while
it is open are folded into it (not sent), and so are their CLEARs. The CLEAR of the alarm that
opened it closes it. Latched kinds (events, fire) have no CLEAR and never stay open, so each
event remains its own occurrence unless a telemetry rule holds the kind open."""

from __future__ import annotations

from collections.abc import Container

from gongzhi.core.alarms import Alarm, AlarmState


class OpenAlarms:
    def __init__(self) -> None:
        self._open: dict[tuple[str, str], str] = {}  # (device, kind) -> alarm_id
        self._folded: dict[str, str] = {}  # alarm_id -> device_id, until its CLEAR
        self.folded_total = 0

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, alarms: list[Alarm]) -> list[Alarm]:
        passed: list[Alarm] = []
        for alarm in alarms:
            key = (alarm.device_id, alarm.kind.value)
            holder = self._open.get(key)
            if alarm.state is AlarmState.CLEAR:
                if alarm.alarm_id in self._folded:
                    del self._folded[alarm.alarm_id]
                    continue
                if holder == alarm.alarm_id:
                    del self._open[key]
                passed.append(alarm)
            elif holder is not None and holder != alarm.alarm_id:
                self.folded_total += 1
                if alarm.evidence.get("rule") != "event":
                    self._folded[alarm.alarm_id] = alarm.device_id
            else:
                if alarm.evidence.get("rule") not in LATCHED_RULES:
                    self._open[key] = alarm.alarm_id
                passed.append(alarm)
        return passed

    def retain(self, device_ids: Container[str]) -> None:
        """Forget the alarms of devices not in ``device_ids`` (a registry reload dropped their
        state: no rule would ever CLEAR them, and an entry left open would fold away their
        next alarm of the same kind)."""
        self._open = {key: held for key, held in self._open.items() if key[0] in device_ids}
        self._folded = {alarm_id: device for alarm_id, device in self._folded.items()
                        if device in device_ids}


# Rules whose alarms never CLEAR: they must not hold their kind open.
LATCHED_RULES = frozenset({"event", "fire_fusion"})
