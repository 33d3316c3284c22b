"""The simulation: an estate's devices, their signal models and the scenario's faults, advanced
in fixed steps of simulated time into messages. Pure: no network and no wall-clock pacing (the
runner does both); the same layout, scenario, start and seed give the same messages.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from gongzhi.core.clock import Clock
from gongzhi.core.errors import ConfigError
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord
from gongzhi.simulators.estate import Role
from gongzhi.simulators.faults import FAULT_KINDS, Fault
from gongzhi.simulators.groundtruth import TruthRecord
from gongzhi.simulators.layout import EstateLayout
from gongzhi.simulators.outgoing import OFFLINE, ONLINE, Message, Outgoing, status_topic
from gongzhi.simulators.payloads import METRIC_FORMATS, event_payload, telemetry_template
from gongzhi.simulators.scenario import FaultScheduler, FaultSpec, Scenario
from gongzhi.simulators.signals.daily import FloatArray, IntArray
from gongzhi.simulators.signals.electrical import ElectricalModel
from gongzhi.simulators.signals.living import LivingSignal, WaterMeterModel
from gongzhi.simulators.signals.noise import CounterNoise
from gongzhi.simulators.signals.smoke import FAST_REPORT_MS, SmokeModel
from gongzhi.simulators.signals.water import WaterModel

log = logging.getLogger(__name__)

TICK_MS = 1_000  # the runner's pacing granularity
MAX_STEP_MS = 10_000  # longest step; shorter ones end at fault starts and ends
TYPE_ORDER = (DeviceType.SMOKE, DeviceType.WATER_PRESSURE, DeviceType.ELECTRICAL,
              DeviceType.WATER_METER)
ROLE_LIST = list(Role)
EVENT_QOS = 1


class SimulationEngine:
    """Implements the ``Sim`` protocol the faults use."""

    def __init__(self, layout: EstateLayout, scenario: Scenario, start_ms: int, seed: int,
                 wall_clock: Clock, telemetry_qos: int = 1) -> None:
        self.layout = layout
        self.wall_clock = wall_clock
        self.start_ms = start_ms
        self.t_ms = start_ms
        self.telemetry_qos = telemetry_qos
        self.rng = np.random.default_rng([seed, 3])
        noise = CounterNoise(seed)
        devices = layout.devices
        n = len(devices)
        self.records = [d.record for d in devices]
        self.ids = {r.device_id: i for i, r in enumerate(self.records)}
        self.type_code = np.array([TYPE_ORDER.index(r.type) for r in self.records], dtype=np.int8)
        self.role_code = np.array([ROLE_LIST.index(d.role) for d in devices], dtype=np.int8)
        self.elderly = np.array([r.elderly_alone for r in self.records])
        self.building_of = np.array([d.building for d in devices], dtype=np.int64)
        self.estate_of = np.array([layout.buildings[d.building].estate_index for d in devices],
                                  dtype=np.int64)
        self.local_index = np.zeros(n, dtype=np.int64)
        groups: dict[DeviceType, IntArray] = {}
        for code, device_type in enumerate(TYPE_ORDER):
            members = np.flatnonzero(self.type_code == code)
            self.local_index[members] = np.arange(len(members))
            groups[device_type] = members
        self._groups = groups
        self.smoke = SmokeModel(layout, groups[DeviceType.SMOKE],
                                np.random.default_rng([seed, 1, 0]), start_ms, noise)
        self.water = WaterModel(layout, groups[DeviceType.WATER_PRESSURE],
                                np.random.default_rng([seed, 1, 1]), start_ms, noise)
        self.electrical = ElectricalModel(layout, groups[DeviceType.ELECTRICAL],
                                          np.random.default_rng([seed, 1, 2]), start_ms, noise)
        # Elderly-alone households' monitors and every household water meter record one
        # simulated person's daily living.
        lived = np.flatnonzero((self.role_code == ROLE_LIST.index(Role.HOUSEHOLD_ELECTRICAL))
                               & self.elderly)
        meters = groups[DeviceType.WATER_METER]
        self.living = LivingSignal(layout, np.concatenate([lived, meters]), seed, start_ms)
        self._lived = lived
        self.water_meters = WaterMeterModel(meters, self.living)
        self._models: dict[DeviceType,
                           SmokeModel | WaterModel | ElectricalModel | WaterMeterModel] = {
            DeviceType.SMOKE: self.smoke, DeviceType.WATER_PRESSURE: self.water,
            DeviceType.ELECTRICAL: self.electrical, DeviceType.WATER_METER: self.water_meters}
        self._templates = {t: telemetry_template(t) for t in TYPE_ORDER}
        self._metrics = {t: tuple(name for name, _ in METRIC_FORMATS[t]) for t in TYPE_ORDER}
        self._telemetry_topics = [f"estate/{r.estate_id}/{r.device_id}/telemetry"
                                  for r in self.records]

        self.interval_ms = np.array([round(r.setting("report_interval_s", 60.0) * 1000)
                                     for r in self.records], dtype=np.int64)
        phases = np.random.default_rng([seed, 5]).random(n)
        self.next_due = start_ms + 1 + (phases * self.interval_ms).astype(np.int64)
        self.seq = np.zeros(n, dtype=np.int64)
        self.reporting = np.ones(n, dtype=np.bool_)
        self.fast = np.zeros(n, dtype=np.bool_)
        self.busy = np.zeros(n, dtype=np.bool_)
        self.skew_ms = np.zeros(n, dtype=np.int64)
        self._landing: dict[tuple[int, int, int], list[int]] = {}
        self._building: dict[int, list[int]] = {}
        for i, d in enumerate(devices):
            self._landing.setdefault((d.building, d.unit, d.floor), []).append(i)
            self._building.setdefault(d.building, []).append(i)

        utc = layout.estates[0].utc_offset_h if layout.estates else 8.0
        self._scheduler = FaultScheduler(scenario, start_ms, utc, np.random.default_rng([seed, 4]))
        self._check_targets(scenario)
        self._active: list[Fault] = []
        self._intercepts: dict[int, Fault] = {}
        self._scheduled: list[tuple[int, int, Message]] = []
        self._scheduled_n = 0
        self._truth: list[TruthRecord] = []
        self._fault_count = 0
        # Devices announce themselves ("online") just before their first report, so
        # an estate comes online over its first reporting interval, not in one burst.
        self.announced = np.zeros(n, dtype=np.bool_)
        self.faults_injected: Counter[str] = Counter()
        self.faults_skipped: Counter[str] = Counter()

    # The Sim protocol ----------------------------------------------------------------------

    def local(self, device: int) -> int:
        return int(self.local_index[device])

    def record(self, device: int) -> DeviceRecord:
        return self.records[device]

    def role(self, device: int) -> Role:
        return ROLE_LIST[int(self.role_code[device])]

    def telemetry_topic(self, device: int) -> str:
        return self._telemetry_topics[device]

    def event(self, device: int, ts_ms: int, name: str, detail: Mapping[str, Any]) -> Message:
        self.seq[device] += 1
        payload = event_payload(ts_ms + int(self.skew_ms[device]), int(self.seq[device]), name,
                                detail)
        record = self.records[device]
        return Message(device, f"estate/{record.estate_id}/{record.device_id}/event", payload,
                       EVENT_QOS)

    def status(self, device: int, online: bool) -> Message:
        record = self.records[device]
        # Same QoS as telemetry: at QoS 0 a lost status is repaired by the next report (the
        # gateway's presence follows heartbeats); the broker's last will is always QoS 1.
        # Not retained: the deployment broker refuses retained messages (docs/security.md).
        return Message(device, status_topic(record.estate_id, record.device_id),
                       ONLINE if online else OFFLINE, self.telemetry_qos)

    def set_reporting(self, device: int, reporting: bool, t_ms: int) -> None:
        self.reporting[device] = reporting
        if reporting:
            self.next_due[device] = t_ms

    def report_now(self, device: int, t_ms: int) -> None:
        self.next_due[device] = min(int(self.next_due[device]), t_ms)

    def set_clock_skew(self, device: int, skew_ms: int) -> None:
        self.skew_ms[device] = skew_ms

    def schedule(self, at_ms: int, message: Message) -> None:
        self._scheduled_n += 1
        heapq.heappush(self._scheduled, (at_ms, self._scheduled_n, message))

    def same_landing(self, device: int, roles: tuple[Role, ...]) -> list[int]:
        d = self.layout.devices[device]
        return [g for g in self._landing.get((d.building, d.unit, d.floor), [])
                if self.role(g) in roles]

    def in_building(self, device: int, roles: tuple[Role, ...]) -> list[int]:
        return [g for g in self._building.get(self.layout.devices[device].building, [])
                if self.role(g) in roles]

    # Running -------------------------------------------------------------------------------

    def take_truth(self) -> list[TruthRecord]:
        out, self._truth = self._truth, []
        return out

    @property
    def active_faults(self) -> int:
        return len(self._active)

    def advance(self, to_ms: int) -> list[Outgoing]:
        """Everything that happens up to ``to_ms`` (simulated). Steps end at fault starts and
        ends, so the output is the same however the caller slices time."""
        out: list[Outgoing] = []
        while self.t_ms < to_ms:
            self._events_due(self.t_ms, out)
            step_end = min(to_ms, self.t_ms + MAX_STEP_MS, self._next_event_after(self.t_ms))
            self.water.advance(step_end)
            while True:
                due = np.flatnonzero(self.reporting & (self.next_due <= step_end))
                if not due.size:
                    break
                self._report(due[np.argsort(self.next_due[due], kind="stable")], out)
            self.t_ms = step_end
        return out

    def _events_due(self, t: int, out: list[Outgoing]) -> None:
        self._end_faults(t, out)
        for at, spec in self._scheduler.due(t):
            self._start_fault(at, spec, out)
        while self._scheduled and self._scheduled[0][0] <= t:
            out.append(heapq.heappop(self._scheduled)[2])

    def _next_event_after(self, t: int) -> int:
        times = [f.end_ms for f in self._active if f.end_ms > t]
        upcoming = self._scheduler.peek()
        if upcoming is not None:
            times.append(upcoming)
        if self._scheduled:
            times.append(self._scheduled[0][0])
        later = [x for x in times if x > t]
        return min(later) if later else t + MAX_STEP_MS

    def _announce(self, devices: IntArray, out: list[Outgoing]) -> None:
        fresh = devices[~self.announced[devices]]
        if fresh.size:
            self.announced[fresh] = True
            out.extend(self.status(int(g), online=True) for g in fresh)

    def _report(self, due: IntArray, out: list[Outgoing]) -> None:
        self._announce(due, out)
        ts = self.next_due[due].copy()
        self.seq[due] += 1
        seq = self.seq[due]
        stamped = ts + self.skew_ms[due]
        codes = self.type_code[due]
        messages: list[Message | None] = [None] * len(due)
        fast = self.fast[due].copy()
        events: list[Message] = []
        for code, device_type in enumerate(TYPE_ORDER):
            rows = np.flatnonzero(codes == code)
            if not rows.size:
                continue
            gidx = due[rows]
            local = self.local_index[gidx]
            model = self._models[device_type]
            inputs = {k: np.full(len(rows), v) for k, v in model.NEUTRAL_INPUTS.items()}
            self._apply(device_type, gidx, ts[rows], inputs, "inputs")
            values = model.sample(local, ts[rows], gidx, seq[rows], inputs)
            if device_type is DeviceType.ELECTRICAL and self._lived.size:
                self._live(gidx, ts[rows], inputs, values)
            self._apply(device_type, gidx, ts[rows], values, "overlay")
            if device_type is DeviceType.SMOKE:
                detector_events, pre_alarm = self.smoke.react(local, ts[rows], values)
                fast[rows] |= pre_alarm
                group = self._groups[DeviceType.SMOKE]
                events.extend(self.event(int(group[e.local]), e.ts_ms, e.event, e.detail)
                              for e in detector_events)
            self._format(device_type, rows, gidx, stamped[rows], seq[rows], values, messages)
        self.next_due[due] = np.where(fast, ts + FAST_REPORT_MS, ts + self.interval_ms[due])
        if self._intercepts:
            for k, g in enumerate(due.tolist()):
                fault = self._intercepts.get(g)
                message = messages[k]
                if fault is not None and message is not None:
                    out.extend(fault.on_telemetry(self, message, int(ts[k])))
                    messages[k] = None
        out.extend(m for m in messages if m is not None)
        out.extend(events)

    def _live(self, gidx: IntArray, ts: IntArray, inputs: dict[str, FloatArray],
              values: dict[str, FloatArray]) -> None:
        """Elderly-alone households' power is their simulated person's (plus a fault's extra
        load); the current follows, at least a fault's forced current."""
        rows = np.flatnonzero(np.isin(gidx, self._lived))
        if not rows.size:
            return
        voltage = values["voltage_v"][rows]
        pf = values["power_w"][rows] / np.maximum(values["current_a"][rows] * voltage, 1e-6)
        power = self.living.power_w(gidx[rows], ts[rows]) + inputs["extra_w"][rows]
        current = np.maximum(power / np.maximum(voltage * pf, 1.0), inputs["min_current_a"][rows])
        values["current_a"][rows] = current
        values["power_w"][rows] = current * voltage * pf

    def _format(self, device_type: DeviceType, rows: IntArray, gidx: IntArray, ts: IntArray,
                seq: IntArray, values: dict[str, FloatArray],
                messages: list[Message | None]) -> None:
        template = self._templates[device_type]
        columns = [values[m].tolist() for m in self._metrics[device_type]]
        topics = self._telemetry_topics
        qos = self.telemetry_qos
        for row, g, stamp, s, *vals in zip(rows.tolist(), gidx.tolist(), ts.tolist(),
                                           seq.tolist(), *columns, strict=True):
            messages[row] = Message(g, topics[g], template % (stamp, s, *vals), qos)

    def _apply(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
               arrays: dict[str, FloatArray], hook: str) -> None:
        """Let each active fault rewrite the rows of its devices (inputs or measured values)."""
        for fault in self._active:
            if not (fault.has_inputs if hook == "inputs" else fault.has_overlay):
                continue
            rows = np.flatnonzero(np.isin(gidx, fault.devices))
            if not rows.size:
                continue
            part = {k: v[rows].copy() for k, v in arrays.items()}
            if hook == "inputs":
                fault.inputs(self, gidx[rows], ts[rows], part)
            else:
                fault.overlay(device_type, gidx[rows], ts[rows], part)
            for k, v in part.items():
                arrays[k][rows] = v

    # Faults --------------------------------------------------------------------------------

    def _check_targets(self, scenario: Scenario) -> None:
        specs = [t.spec for t in scenario.timed] + [s for b in scenario.random
                                                     for _, s in b.choices]
        for spec in specs:
            if spec.target.device is not None and spec.target.device not in self.ids:
                raise ConfigError(f"target device {spec.target.device!r} is not in the estate",
                                  source=spec.where)

    def _pick_target(self, spec: FaultSpec, cls: type[Fault]) -> int | None:
        target = spec.target
        if target.device is not None:
            return self.ids[target.device]
        roles = target.roles or cls.roles
        mask = np.isin(self.role_code, [ROLE_LIST.index(r) for r in roles]) & ~self.busy \
            & self.reporting
        if cls.elderly_only:
            mask &= self.elderly
        if target.elderly_alone is not None:
            mask &= self.elderly == target.elderly_alone
        if target.building is not None:
            mask &= np.array([self.layout.buildings[b].building_id == target.building
                              for b in self.building_of])
        if target.estate is not None:
            mask &= np.array([self.layout.estates[e].estate_id == target.estate
                              for e in self.estate_of])
        candidates = np.flatnonzero(mask)
        if not candidates.size:
            return None
        return int(self.rng.choice(candidates))

    def _start_fault(self, at: int, spec: FaultSpec, out: list[Outgoing]) -> None:
        cls = FAULT_KINDS[spec.kind]
        target = self._pick_target(spec, cls)
        if target is None:
            self.faults_skipped[spec.kind] += 1
            log.warning("no free device for %s (%s)", spec.kind, spec.where)
            return
        self._fault_count += 1
        fault = cls(f"f{self._fault_count:06d}", target, at, spec.duration_ms, spec.params, self)
        self.busy[fault.devices] = True
        if fault.fast_report:
            self.fast[fault.devices] = True
        if fault.intercepts:
            self._intercepts[target] = fault
        self._announce(fault.devices, out)
        out.extend(fault.start(self, at))
        self._active.append(fault)
        self._truth.extend(fault.truth(self))
        self.faults_injected[spec.kind] += 1

    def _end_faults(self, t: int, out: list[Outgoing]) -> None:
        ending = [f for f in self._active if f.end_ms <= t]
        if not ending:
            return
        self._active = [f for f in self._active if f.end_ms > t]
        for fault in ending:
            out.extend(fault.end(self, t))
            self.busy[fault.devices] = False
            self.fast[fault.devices] = False
            self._intercepts.pop(fault.target, None)

    def finish(self) -> list[Outgoing]:
        """Messages still owed at the end of a run: a held out-of-order message, replays not
        yet due (sent now, still replays: the ground truth stays true)."""
        out: list[Outgoing] = []
        for fault in self._active:
            if fault.intercepts:
                out.extend(fault.end(self, self.t_ms))
        while self._scheduled:
            out.append(heapq.heappop(self._scheduled)[2])
        return out
