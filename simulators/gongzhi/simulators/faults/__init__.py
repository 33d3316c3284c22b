"""The fault kinds a scenario can inject, by name."""

from __future__ import annotations

from gongzhi.simulators.faults.base import Fault, Param, Sim
from gongzhi.simulators.faults.electrical import (
    ArcFault,
    EbikeCharging,
    LeakageRising,
    LooseTerminal,
    Overcurrent,
    VoltageSag,
)
from gongzhi.simulators.faults.living import Away, NoActivity, WaterLeak
from gongzhi.simulators.faults.presence import DeviceOffline, DeviceOfflineWill, PowerCut
from gongzhi.simulators.faults.protocol import (
    ClockSkew,
    Duplicate,
    Garbage,
    OutOfOrder,
    Replay,
)
from gongzhi.simulators.faults.sensor import SensorDrift, SensorStuck
from gongzhi.simulators.faults.smoke import CookingSmoke, Fire, LowBattery, SmokeAlarm, Tamper
from gongzhi.simulators.faults.water import BurstPipe, OverPressure, PressureLow, PumpFailure

FAULT_KINDS: dict[str, type[Fault]] = {
    cls.kind: cls
    for cls in (
        Fire, SmokeAlarm, CookingSmoke, Tamper, LowBattery,
        BurstPipe, PumpFailure, PressureLow, OverPressure,
        LeakageRising, LooseTerminal, Overcurrent, VoltageSag, EbikeCharging, ArcFault,
        SensorStuck, SensorDrift,
        NoActivity, Away, WaterLeak,
        DeviceOffline, DeviceOfflineWill, PowerCut,
        Garbage, Duplicate, Replay, OutOfOrder, ClockSkew,
    )
}

__all__ = ["FAULT_KINDS", "Fault", "Param", "Sim"]
