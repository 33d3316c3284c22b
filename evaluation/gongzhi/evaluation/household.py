"""Real household electricity (``shared/data/household-power``: UK-DALE house 2 and REFIT house 2,
1-minute whole-house power with four appliances' own power) as the gateway would see it from one
household circuit monitor, run through the backtest engine path (``gongzhi.gateway.backtest``).

Houses are split before any result is looked at: settings are chosen on the development house
only; the report house is kept for the reported figures (``HOUSES``).

A monitor reports ``power_w`` and ``current_a`` (P / 230 V, as the data's README suggests) once a
minute; a minute the data fills with 0 W (a gap) is a minute the monitor did not report. It does
not report ``voltage_v``: the data has none, and a made-up constant voltage would be a stuck
sensor to the flatline rule.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np

from gongzhi.core.alarms import Alarm
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, Registry
from gongzhi.gateway.backtest.replay import Replay
from gongzhi.gateway.backtest.series import DeviceSeries

MINUTE_MS = 60_000
DAY_MS = 86_400_000
VOLTS = 230.0
APPLIANCES = ("Kettle", "Dishwasher", "WashingMachine", "Microwave")
UNMETERED = "not sub-metered"

# Declared before any figure was measured: settings are chosen on DEVELOPMENT only; REPORT is
# the held-out house whose figures are reported (the bench lines).
DEVELOPMENT = ("UKDALE_House2",)
REPORT = ("REFIT_House2",)
HOUSES = {"development": DEVELOPMENT, "report": REPORT}

# Replays run many devices side by side (the engine is vectorized over devices): each piece of
# a recording is shifted by whole days onto one common timeline (hour of day kept).
PIECE_DAYS = 7
ORIGIN_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Recording:
    """One month file of one house."""

    house: str
    month: str
    ts: np.ndarray  # epoch ms, one per minute with data
    aggregate: np.ndarray  # W
    appliances: dict[str, np.ndarray]  # W, same rows

    @property
    def days(self) -> float:
        return float(self.ts.size) / 1440.0


def default_data_dir() -> Path:
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


@cache
def load_recordings(data_dir: Path, house: str) -> tuple[Recording, ...]:
    """The house's month files, in time order, gap minutes dropped."""
    files = sorted((data_dir / "household-power").glob(f"{house}_*.gzip"))
    return tuple(_read_month(path, house) for path in files)


def _read_month(path: Path, house: str) -> Recording:
    with gzip.open(path, "rt", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [r for r in reader if r]
    col = {name: i for i, name in enumerate(header)}
    stamps = np.array([r[col["Time"]] for r in rows], dtype="datetime64[ms]")
    ts = stamps.astype(np.int64)
    aggregate = np.array([float(r[col["Aggregate"]]) for r in rows])
    appliances = {a: np.array([float(r[col[a]]) for r in rows]) for a in APPLIANCES}
    keep = aggregate > 0  # 0 W: a gap in the recording, not a report
    return Recording(house, path.stem.split("_")[-1], ts[keep], aggregate[keep],
                     {a: v[keep] for a, v in appliances.items()})


def monitor_record(device_id: str) -> DeviceRecord:
    """A household circuit monitor reporting once a minute."""
    return DeviceRecord(device_id=device_id, type=DeviceType.ELECTRICAL,
                        location=Location("real", device_id, "1", "1", "1"),
                        settings={"report_interval_s": 60.0}, household=device_id,
                        position="household")


def monitor_series(device_id: str, ts: np.ndarray, power: np.ndarray) -> DeviceSeries:
    return DeviceSeries(device_id, ts.astype(np.int64),
                        {"power_w": power.astype(np.float64),
                         "current_a": np.round(power / VOLTS, 3)})


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of one recording played as its own device, shifted by ``shift_ms`` (whole
    days) onto the common timeline; its alarms count from ``count_from_ms`` (real time), the
    time before is warm-up (the detector watches the day before, as a running gateway has)."""

    device_id: str
    house: str
    ts: np.ndarray  # real time
    power: np.ndarray
    shift_ms: int
    count_from_ms: int


def replay_pieces(pieces: Sequence[Piece]) -> list[tuple[Piece, Alarm]]:
    """All pieces side by side through one replay; each alarm with its piece, in real time
    (``Alarm.ts_ms`` and evidence stay on the common timeline: use ``real_ms``)."""
    registry = Registry(monitor_record(p.device_id) for p in pieces)
    by_id = {p.device_id: p for p in pieces}
    series = [monitor_series(p.device_id, p.ts + p.shift_ms, p.power) for p in pieces]
    replay = Replay(registry)
    return [(by_id[a.device_id], a) for a in replay.run(series) if a.device_id in by_id]


def real_ms(piece: Piece, timeline_ms: int) -> int:
    return timeline_ms - piece.shift_ms


def recording_pieces(recordings: Iterable[Recording], days: int = PIECE_DAYS,
                     warmup_ms: int = DAY_MS) -> list[Piece]:
    """A house's recordings cut into pieces of ``days`` days, each with the ``warmup_ms`` before
    it in front as warm-up (alarms raised there belong to the previous piece)."""
    recs = list(recordings)
    if not recs:
        return []
    house = recs[0].house
    ts = np.concatenate([r.ts for r in recs])
    power = np.concatenate([r.aggregate for r in recs])
    if ts.size == 0:
        return []
    pieces: list[Piece] = []
    first_day = int(ts[0]) // DAY_MS
    last_day = int(ts[-1]) // DAY_MS
    for n, day in enumerate(range(first_day, last_day + 1, days)):
        start, end = day * DAY_MS, (day + days) * DAY_MS
        rows = (ts >= start - warmup_ms) & (ts < end)
        if not (rows & (ts >= start)).any():
            continue
        day0 = int(ts[rows][0]) // DAY_MS * DAY_MS
        pieces.append(Piece(f"{house}-p{n}", house, ts[rows], power[rows], ORIGIN_MS - day0,
                            start))
    return pieces


def household_days(recordings: Iterable[Recording]) -> float:
    return sum(r.days for r in recordings)


def attribute(recordings: Sequence[Recording], start_ms: int, end_ms: int,
              step_w: float) -> str:
    """The appliance whose own power best explains a load held between ``start_ms`` and
    ``end_ms`` (real time) of about ``step_w``: the sub-metered appliance with the largest
    median power there (what it held, not a burst), if that is at least a third of the step;
    else ``UNMETERED`` (a load the data does not meter on its own: lighting, a fridge, a
    computer, heating)."""
    best, best_level = UNMETERED, 0.0
    for name in APPLIANCES:
        power = np.concatenate([r.appliances[name][(r.ts >= start_ms) & (r.ts <= end_ms)]
                                for r in recordings])
        if power.size and (level := float(np.median(power))) > best_level:
            best, best_level = name, level
    return best if best_level >= step_w / 3 else UNMETERED
