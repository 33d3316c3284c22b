"""Real fires: NIST's home smoke alarm tests (the "Dunes 2000" series, a manufactured home with
real flaming and smouldering fires) fed to the gateway's detection engine as each room's smoke
detector would have reported them, beside the commercial alarms that sounded in the same rooms.

Data (``nist-smoke-alarms/``): one CSV per test, ``TIME`` (s from ignition) then per room
``SM<room>_<n>`` smoke meters and ``TC<room>_<n>`` thermocouple trees; ``Activation_Times.csv``
the second each commercial alarm sounded (``<test>-<Ion|Pho><n><room>``, -1: never).

What a room's detector reports (``DetectorModel``):

- ``smoke_db_m`` from the room's ceiling smoke meter (``SM<room>_1``). The meters give optical
  density per metre, OD = log10(I0/I) / L; obscuration in dB/m is 10 log10(I0/I) / L, so
  dB/m = 10 x OD/m (1 %/ft, the US alarm standards' unit, is 0.0143 OD/m = 0.143 dB/m).
  Negative readings (meter noise) are 0; readings above the catalogue's 20 dB/m range read 20.
- ``temp_c`` from the room's top thermocouple (``TC<room>_1``, under the ceiling, where the
  detector hangs), held within the catalogue's -40..150 C range (a detector's thermistor
  saturates; above it the gateway would refuse the whole report).
- A detector only knows the latest sample: between the test's samples (2 or 5 s) it reports
  the last one (held, never interpolated from the next).
- Reports: the detector looks at its chamber every ``fast_s``; it reports every
  ``heartbeat_s`` while the air is clear, and at once (then every ``fast_s``) while the smoke is
  at or above ``fast_above_db_m`` (the simulators' detector: every second above 0.1 dB/m), and
  once more when it falls below (so the gateway sees the smoke end).

The engine is the gateway's own, run as ``gongzhi backtest`` runs it (``backtest.Replay``: the
gateway's engine, default configuration, the catalogue's rules, time advancing with the data);
the home is one household, a detector per room, so fire fusion may confirm on two rooms' smoke
or on one room's smoke with its heat rise.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.core.errors import ConfigError
from gongzhi.devices.catalogue import DeviceType, spec_for
from gongzhi.devices.registry import DeviceRecord, Location, Registry
from gongzhi.gateway.backtest.replay import Replay
from gongzhi.gateway.backtest.series import series
from gongzhi.gateway.detection import DetectionConfig, DetectionEngine
from gongzhi.gateway.service import default_detector

FloatArray = npt.NDArray[np.float64]

OD_PER_M_TO_DB_M = 10.0  # dB/m = 10 log10(I0/I) / L = 10 x optical density per metre
IGNITION_MS = 1_767_225_600_000  # an arbitrary epoch for the tests' second 0
ESTATE = "nist"
ACTIVATIONS = "Activation_Times.csv"
_COLUMN = re.compile(r"^(?P<test>[A-Z]+\d+)-(?P<type>Ion|Pho)(?P<n>\d)(?P<room>[A-Z])$")


@dataclass(frozen=True, slots=True)
class DetectorModel:
    heartbeat_s: float = 30.0
    fast_s: float = 1.0
    fast_above_db_m: float = 0.1

    def describe(self) -> dict[str, Any]:
        return {"smoke": "ceiling smoke meter SM<room>_1, OD/m x 10 = dB/m, held between "
                         "samples",
                "temp": "top thermocouple TC<room>_1, within -40..150 C",
                "heartbeat_s": self.heartbeat_s, "fast_s": self.fast_s,
                "fast_above_db_m": self.fast_above_db_m}


@dataclass(frozen=True, slots=True)
class NistTest:
    name: str  # SDC02
    times_s: FloatArray
    channels: dict[str, FloatArray]

    def rooms(self) -> list[str]:
        """Rooms with a ceiling smoke meter and a top thermocouple."""
        return sorted(name[2] for name in self.channels
                      if re.fullmatch(r"SM[A-Z]_1", name) and f"TC{name[2]}_1" in self.channels)

    def smoke_db_m(self, room: str) -> FloatArray:
        high = spec_for(DeviceType.SMOKE).metrics["smoke_db_m"].high
        return np.clip(self.channels[f"SM{room}_1"] * OD_PER_M_TO_DB_M, 0.0, high)

    def temp_c(self, room: str) -> FloatArray:
        metric = spec_for(DeviceType.SMOKE).metrics["temp_c"]
        return np.clip(self.channels[f"TC{room}_1"], metric.low, metric.high)


def read_test(path: Path) -> NistTest:
    match = re.search(r"(SDC\d+)", path.name)
    if match is None:
        raise ConfigError("not a NIST smoke alarm test file (no SDC<n> in its name)",
                          source=str(path))
    rows = _rows(path)
    header = rows[0]
    if not header or header[0] != "TIME":
        raise ConfigError("the first column must be TIME", source=f"{path}:1")
    try:
        data = np.array([[float(v) for v in row] for row in rows[1:]], np.float64)
    except ValueError as exc:
        raise ConfigError(f"bad value: {exc}", source=str(path)) from None
    if data.ndim != 2 or data.shape[1] != len(header):
        raise ConfigError(f"rows must have {len(header)} fields", source=str(path))
    return NistTest(match.group(1), data[:, 0],
                    {name: data[:, i] for i, name in enumerate(header) if i})


@dataclass(frozen=True, slots=True)
class CommercialAlarms:
    """When the commercial alarms of each (test, room) sounded, s from ignition."""

    photoelectric: dict[tuple[str, str], list[float]]
    ionisation: dict[tuple[str, str], list[float]]

    def first(self, kind: str, test: str, room: str) -> float | None:
        times = (self.photoelectric if kind == "photoelectric" else self.ionisation).get(
            (test, room), [])
        return min(times) if times else None


def read_activations(path: Path) -> CommercialAlarms:
    rows = _rows(path)
    if len(rows) < 2 or len(rows[0]) != len(rows[1]):
        raise ConfigError("expected a header and one row of times", source=str(path))
    photo: dict[tuple[str, str], list[float]] = defaultdict(list)
    ion: dict[tuple[str, str], list[float]] = defaultdict(list)
    for name, value in zip(rows[0][1:], rows[1][1:], strict=True):
        match = _COLUMN.match(name)
        if match is None:
            raise ConfigError(f"unexpected column {name!r}", source=f"{path}:1")
        seconds = float(value)
        if seconds < 0:  # never sounded
            continue
        target = photo if match.group("type") == "Pho" else ion
        target[(match.group("test"), match.group("room"))].append(seconds)
    return CommercialAlarms(dict(photo), dict(ion))


def _rows(path: Path) -> list[list[str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return [row for row in csv.reader(handle) if row]
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from None


def reports(test: NistTest, room: str, model: DetectorModel) -> list[tuple[int, float, float]]:
    """(ts_ms, smoke_db_m, temp_c) as the room's detector would have sent them: it looks at its
    chamber every ``fast_s`` and reports at once when the smoke is at or above
    ``fast_above_db_m`` (then every ``fast_s``, and once when it falls below), else when
    ``heartbeat_s`` has passed."""
    times, smoke, temp = test.times_s, test.smoke_db_m(room), test.temp_c(room)
    out: list[tuple[int, float, float]] = []
    start, end = float(times[0]), float(times[-1])
    last, fast = -np.inf, False
    for k in range(int((end - start) / model.fast_s + 1e-9) + 1):
        t = start + k * model.fast_s
        i = int(np.searchsorted(times, t + 1e-9, side="right")) - 1  # the latest, never later
        was_fast, fast = fast, bool(smoke[i] >= model.fast_above_db_m)
        if fast or was_fast or t - last >= model.heartbeat_s - 1e-9:
            out.append((round(t * 1000), float(smoke[i]), float(temp[i])))
            last = t
    return out


def device_id(test: str, room: str) -> str:
    return f"{ESTATE}-{test.lower()}-{room.lower()}"


def registry_for(test: NistTest) -> Registry:
    """The home: one household, one ceiling detector per room, all on one floor."""
    return Registry(DeviceRecord(device_id(test.name, room), DeviceType.SMOKE,
                                 Location(ESTATE, test.name, "1", "1", room),
                                 household=f"{ESTATE}-{test.name}")
                    for room in test.rooms())


@dataclass(slots=True)
class RoomResult:
    room: str
    smoke_alarm_s: float | None
    photoelectric_s: float | None
    ionisation_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"room": self.room, "smoke_alarm_s": self.smoke_alarm_s,
                "photoelectric_s": self.photoelectric_s, "ionisation_s": self.ionisation_s}


@dataclass(slots=True)
class TestResult:
    test: str
    rooms: list[RoomResult] = field(default_factory=list)
    fire_s: float | None = None
    fire_cause: str | None = None
    alarms: list[Alarm] = field(default_factory=list)

    @property
    def first_smoke_alarm_s(self) -> float | None:
        times = [r.smoke_alarm_s for r in self.rooms if r.smoke_alarm_s is not None]
        return min(times) if times else None

    @property
    def confirm_s(self) -> float | None:
        """The fire after the first smoke alarm."""
        first = self.first_smoke_alarm_s
        return None if first is None or self.fire_s is None else self.fire_s - first

    def to_dict(self) -> dict[str, Any]:
        return {"test": self.test, "first_smoke_alarm_s": self.first_smoke_alarm_s,
                "fire_s": self.fire_s, "fire_cause": self.fire_cause,
                "confirm_s": self.confirm_s, "rooms": [r.to_dict() for r in self.rooms]}


def run_test(test: NistTest, commercial: CommercialAlarms, model: DetectorModel | None = None,
             config: DetectionConfig | None = None) -> TestResult:
    model = model or DetectorModel()
    registry = registry_for(test)
    recorded = []
    for room in test.rooms():
        sent = reports(test, room, model)
        recorded.append(series(device_id(test.name, room), [IGNITION_MS + r[0] for r in sent],
                               smoke_db_m=[r[1] for r in sent], temp_c=[r[2] for r in sent]))
    factory = (lambda r: DetectionEngine(r, config)) if config is not None else default_detector
    result = TestResult(test.name)
    result.alarms = list(Replay(registry, detector_factory=factory).run(recorded))
    first_alarm: dict[str, float] = {}
    for alarm in result.alarms:
        if alarm.state is not AlarmState.RAISE:
            continue
        seconds = (alarm.ts_ms - IGNITION_MS) / 1000
        if alarm.kind is AlarmKind.SMOKE_ALARM:
            first_alarm.setdefault(alarm.device_id, seconds)
        elif alarm.kind is AlarmKind.FIRE and result.fire_s is None:
            result.fire_s, result.fire_cause = seconds, str(alarm.evidence.get("cause"))
    for room in test.rooms():
        result.rooms.append(RoomResult(
            room, first_alarm.get(device_id(test.name, room)),
            commercial.first("photoelectric", test.name, room),
            commercial.first("ionisation", test.name, room)))
    return result


@dataclass(slots=True)
class NistEvaluation:
    tests: list[TestResult]

    @property
    def rooms_vs_photoelectric_s(self) -> list[float]:
        """Our smoke alarm minus the room's first photoelectric alarm, where both sounded."""
        return [r.smoke_alarm_s - r.photoelectric_s for t in self.tests for r in t.rooms
                if r.smoke_alarm_s is not None and r.photoelectric_s is not None]

    @property
    def rooms_vs_ionisation_s(self) -> list[float]:
        return [r.smoke_alarm_s - r.ionisation_s for t in self.tests for r in t.rooms
                if r.smoke_alarm_s is not None and r.ionisation_s is not None]

    @property
    def confirm_s(self) -> list[float]:
        return [c for t in self.tests if (c := t.confirm_s) is not None]

    def counts(self) -> dict[str, int]:
        rooms = [r for t in self.tests for r in t.rooms]
        return {
            "tests": len(self.tests), "rooms": len(rooms),
            "rooms_with_photoelectric": sum(r.photoelectric_s is not None for r in rooms),
            "rooms_smoke_alarm": sum(r.smoke_alarm_s is not None for r in rooms),
            # A commercial photoelectric alarm sounded and ours never did.
            "rooms_missed_vs_photoelectric": sum(
                r.photoelectric_s is not None and r.smoke_alarm_s is None for r in rooms),
            "tests_with_fire": sum(t.fire_s is not None for t in self.tests),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts(),
                "vs_photoelectric_s": _stats(self.rooms_vs_photoelectric_s),
                "vs_ionisation_s": _stats(self.rooms_vs_ionisation_s),
                "confirm_s": _stats(self.confirm_s),
                "tests": [t.to_dict() for t in self.tests]}


def nist_files(directory: Path) -> list[Path]:
    """The test files of ``directory``, in order; none is a ``ConfigError``."""
    paths = sorted(directory.glob("NIST_Smoke_Alarms_SDC*.csv"))
    if not paths:
        raise ConfigError(f"no NIST_Smoke_Alarms_SDC*.csv under {directory}")
    return paths


def evaluate_directory(directory: Path, model: DetectorModel | None = None,
                       config: DetectionConfig | None = None) -> NistEvaluation:
    commercial = read_activations(directory / ACTIVATIONS)
    return NistEvaluation([run_test(read_test(p), commercial, model, config)
                           for p in nist_files(directory)])


def _stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": len(values), "median": round(float(np.median(values)), 1),
            "min": round(min(values), 1), "max": round(max(values), 1)}
