"""Engine-wide detection settings that no device catalogue fixes (design choices, documented)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gongzhi.gateway.detection.rhythm import RhythmSettings


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    # A condition must stay clear this long (device time) before its alarm CLEARs. A re-breach
    # inside this hold-off is the same alarm firing again: no new RAISE, ``refires`` counts it
    # in the CLEAR's evidence. This is what turns a flapping signal into one alarm, not a storm.
    clear_hold_ms: int = 120_000
    # Offline clusters: at least max(cluster_min_devices, cluster_fraction x building size)
    # devices of one building falling silent within cluster_window_ms become one
    # offline_cluster alarm that inhibits their per-device device_offline alarms.
    cluster_window_ms: int = 300_000
    cluster_min_devices: int = 5
    cluster_fraction: float = 0.2
    # Fire fusion: detectors that indicated smoke within fire_window_ms of each other (one
    # household or one floor of a unit) confirm a fire, as does smoke with a heat rise of
    # heat_rise_c within heat_window_ms or a detector temperature of heat_abs_c (the fixed
    # point of a class A1 heat detector, GB 4716 / EN 54-5).
    fire_window_ms: int = 180_000
    heat_rise_c: float = 10.0
    heat_window_ms: int = 600_000
    heat_abs_c: float = 57.0
    # Passive care (docs/welfare.md): the estate's local time (a household's day and its
    # mornings) and how unusual a silence must be.
    timezone: str = "Asia/Shanghai"
    welfare: RhythmSettings = field(default_factory=RhythmSettings)
