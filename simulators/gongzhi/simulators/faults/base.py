"""The shape of a fault: what it targets, how long it lasts, what it does to the signals and
messages, and the ground truth it writes.

A fault acts through four hooks, all optional: ``start``/``end`` return messages and connection
changes (an event, a status, a dropped connection) and may change model state (a failed pump);
``inputs`` sets the signal models' inputs for its devices' samples before the physics (extra
load, a forced voltage); ``overlay`` rewrites measured values after the physics (a pressure
ramp, a stuck sensor); ``on_telemetry`` intercepts a device's telemetry messages (duplicates,
replays, reordering). ``inputs`` and ``overlay`` see each sample's own time, so a fault's effect
does not depend on how the engine slices time into steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

import numpy as np

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import Clock
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord
from gongzhi.simulators.estate import Role
from gongzhi.simulators.expected import expected_ticket
from gongzhi.simulators.groundtruth import TruthRecord
from gongzhi.simulators.layout import EstateLayout
from gongzhi.simulators.outgoing import Message, Outgoing
from gongzhi.simulators.signals.daily import FloatArray, IntArray
from gongzhi.simulators.signals.electrical import ElectricalModel
from gongzhi.simulators.signals.living import LivingSignal
from gongzhi.simulators.signals.smoke import SmokeModel
from gongzhi.simulators.signals.water import WaterModel

ALL_ROLES = tuple(Role)
SMOKE_ROLES = (Role.HOUSEHOLD_SMOKE, Role.CORRIDOR_SMOKE)
ELECTRICAL_ROLES = (Role.HOUSEHOLD_ELECTRICAL, Role.CORRIDOR_ELECTRICAL)
WATER_ROLES = (Role.RISER, Role.ROOF_TANK, Role.PUMP_ROOM)


@dataclass(frozen=True, slots=True)
class Param:
    """A fault parameter: a number (``default`` None: drawn at random per fault, see ``help``)
    or one of ``choices``."""

    default: float | str | None
    help: str
    choices: tuple[str, ...] = ()

    def check(self, value: Any) -> float | str:
        if self.choices:
            if value not in self.choices:
                raise ValueError(f"must be one of {', '.join(self.choices)}, got {value!r}")
            return str(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, got {value!r}")
        return float(value)


def params_table(params: Mapping[str, Param]) -> Mapping[str, Param]:
    """A fault kind's parameters, read-only (they are shared by every fault of the kind)."""
    return MappingProxyType(dict(params))


class Sim(Protocol):
    """What the simulation engine offers its faults."""

    layout: EstateLayout
    rng: np.random.Generator
    wall_clock: Clock
    smoke: SmokeModel
    water: WaterModel
    electrical: ElectricalModel
    living: LivingSignal

    def local(self, device: int) -> int: ...
    def record(self, device: int) -> DeviceRecord: ...
    def role(self, device: int) -> Role: ...
    def telemetry_topic(self, device: int) -> str: ...
    def event(self, device: int, ts_ms: int, name: str, detail: Mapping[str, Any]) -> Message: ...
    def status(self, device: int, online: bool) -> Message: ...
    def set_reporting(self, device: int, reporting: bool, t_ms: int) -> None: ...
    def report_now(self, device: int, t_ms: int) -> None: ...
    def set_clock_skew(self, device: int, skew_ms: int) -> None: ...
    def schedule(self, at_ms: int, message: Message) -> None: ...
    def same_landing(self, device: int, roles: tuple[Role, ...]) -> list[int]: ...
    def in_building(self, device: int, roles: tuple[Role, ...]) -> list[int]: ...


class Fault:
    kind: ClassVar[str]
    summary: ClassVar[str]
    roles: ClassVar[tuple[Role, ...]]
    duration_ms: ClassVar[int]
    params: ClassVar[Mapping[str, Param]] = {}
    ticket: ClassVar[AlarmKind | None] = None
    also: ClassVar[tuple[AlarmKind, ...]] = ()
    outcome: ClassVar[str] = "ticket"
    # Targets only devices of elderly-alone households (whose daily living is simulated).
    elderly_only: ClassVar[bool] = False
    has_inputs: ClassVar[bool] = False
    has_overlay: ClassVar[bool] = False
    # Its devices report every second while it lasts (an incident in progress).
    fast_report: ClassVar[bool] = False
    intercepts: ClassVar[bool] = False
    # A choice parameter drawn first, with its odds, when the other parameters' random draws
    # depend on it (a fire's mode, a charger's kind): ``draw`` sees it as ``self.mode``.
    mode_param: ClassVar[tuple[str, Mapping[str, float]] | None] = None
    mode = ""

    def __init__(self, fault_id: str, target: int, start_ms: int, duration_ms: int | None,
                 params: Mapping[str, float | str], sim: Sim) -> None:
        self.fault_id = fault_id
        self.target = target
        self.start_ms = start_ms
        self.p = self._resolve_params(params, sim.rng)
        self.end_ms = start_ms + (self.default_duration_ms() if duration_ms is None
                                  else duration_ms)
        self.devices: IntArray = np.array(self.involved(sim), dtype=np.int64)

    def default_duration_ms(self) -> int:
        return self.duration_ms

    def _resolve_params(self, given: Mapping[str, float | str],
                        rng: np.random.Generator) -> dict[str, Any]:
        if self.mode_param is not None:
            name, odds = self.mode_param
            value = given.get(name)
            if value is None:
                value = str(rng.choice(list(odds), p=list(odds.values())))
            self.mode = str(self.params[name].check(value))
            given = {**given, name: self.mode}
        out: dict[str, Any] = {}
        for name, spec in self.params.items():
            value = given.get(name, spec.default)
            out[name] = self.draw(name, rng) if value is None else value
        return out

    def draw(self, name: str, rng: np.random.Generator) -> float | str:
        """A random value for a parameter whose default is None."""
        raise NotImplementedError(name)

    def involved(self, sim: Sim) -> list[int]:
        """Every device the fault touches (the target first)."""
        return [self.target]

    # Hooks ---------------------------------------------------------------------------------

    def start(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        return []

    def inputs(self, sim: Sim, gidx: IntArray, ts: IntArray,
               inputs: dict[str, FloatArray]) -> None:
        return None

    def overlay(self, device_type: DeviceType, gidx: IntArray, ts: IntArray,
                values: dict[str, FloatArray]) -> None:
        return None

    def end(self, sim: Sim, t_ms: int) -> list[Outgoing]:
        return []

    def on_telemetry(self, sim: Sim, message: Message, ts_ms: int) -> list[Message]:
        return [message]

    # Ground truth --------------------------------------------------------------------------

    def truth(self, sim: Sim) -> list[TruthRecord]:
        record = sim.record(self.target)
        return [self.truth_line(sim, record, self.ticket)]

    def truth_line(self, sim: Sim, record: DeviceRecord | None, ticket: AlarmKind | None,
                   *, outcome: str | None = None, reason: str | None = None,
                   building: str | None = None, also: tuple[AlarmKind, ...] | None = None,
                   **detail: Any) -> TruthRecord:
        target = sim.record(self.target)
        return TruthRecord(
            fault_id=self.fault_id,
            fault=self.kind,
            estate_id=target.estate_id,
            device_id=record.device_id if record else None,
            building=building or (record or target).location.building,
            start_ms=self.start_ms,
            end_ms=self.end_ms,
            expected=expected_ticket(ticket, (record or target).elderly_alone) if ticket
            else None,
            outcome=outcome or (self.outcome if ticket or self.outcome != "ticket" else "none"),
            reason=reason,
            devices=tuple(sim.record(int(g)).device_id for g in self.devices),
            also=tuple(k.value for k in (self.also if also is None else also)),
            detail={**{k: _plain(v) for k, v in self.p.items()}, **detail},
        )

    # Helpers for subclasses ----------------------------------------------------------------

    def progress(self, t_ms: IntArray | int, over_s: float) -> FloatArray:
        """0 at the start, 1 after ``over_s`` seconds."""
        elapsed = (np.asarray(t_ms, dtype=np.float64) - self.start_ms) / 1000.0
        return np.asarray(np.clip(elapsed / max(over_s, 1e-3), 0.0, 1.0), dtype=np.float64)

    def elapsed_s(self, t_ms: IntArray | int) -> FloatArray:
        return np.asarray((np.asarray(t_ms, dtype=np.float64) - self.start_ms) / 1000.0)


def uniform(rng: np.random.Generator, low: float, high: float, log: bool = False) -> float:
    """A draw between ``low`` and ``high``, uniform in the logarithm when ``log``."""
    if log:
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return float(rng.uniform(low, high))


def _plain(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value
