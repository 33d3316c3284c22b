"""Reading SKAB-format CSV files (``;``-separated: ``datetime``, sensor columns, optional
``anomaly`` and ``changepoint`` labels). The data stays where it is; nothing is copied."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gongzhi.core.errors import ConfigError

LABELS = ("anomaly", "changepoint")


@dataclass(frozen=True, slots=True)
class SkabFile:
    path: Path
    columns: tuple[str, ...]  # sensor columns, in file order
    times_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]  # rows x sensor columns
    anomaly: npt.NDArray[np.int8] | None
    changepoint: npt.NDArray[np.int8] | None

    def __len__(self) -> int:
        return int(self.times_ms.size)


def read_skab(path: Path) -> SkabFile:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle, delimiter=";"))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from None
    if not rows or not rows[0] or rows[0][0] != "datetime":
        raise ConfigError("not a SKAB file: the first column must be 'datetime'",
                          source=f"{path}:1")
    header = rows[0]
    sensors = [i for i, name in enumerate(header) if i > 0 and name not in LABELS]
    labels = {name: header.index(name) for name in LABELS if name in header}
    times = np.empty(len(rows) - 1, np.int64)
    values = np.empty((len(rows) - 1, len(sensors)), np.float64)
    marks = {name: np.zeros(len(rows) - 1, np.int8) for name in labels}
    for n, row in enumerate(rows[1:]):
        where = f"{path}:{n + 2}"
        if len(row) != len(header):
            raise ConfigError(f"expected {len(header)} fields, got {len(row)}", source=where)
        try:
            stamp = datetime.fromisoformat(row[0])
            if stamp.tzinfo is None:  # SKAB's times are local to the test bed
                stamp = stamp.replace(tzinfo=UTC)
            times[n] = int(stamp.timestamp() * 1000)
            values[n] = [float(row[i]) for i in sensors]
            for name, column in labels.items():
                marks[name][n] = int(float(row[column]))
        except ValueError as exc:
            raise ConfigError(f"bad value: {exc}", source=where) from None
    if not np.isfinite(values).all():
        raise ConfigError("non-finite sensor value", source=str(path))
    return SkabFile(path, tuple(header[i] for i in sensors), times, values,
                    marks.get("anomaly"), marks.get("changepoint"))


def skab_files(directory: Path) -> list[Path]:
    """Every CSV below ``directory``, in a stable order."""
    if not directory.is_dir():
        raise ConfigError(f"not a directory: {directory}")
    return sorted(p for p in directory.rglob("*.csv") if p.is_file())
