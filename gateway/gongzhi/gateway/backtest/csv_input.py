"""Recorded telemetry from a directory of CSV files, one per device: ``<device_id>.csv``,
comma-separated, a header with ``ts`` (epoch ms) and any of the catalogue's metric names for the
device's type; an empty cell: the metric was not reported in that row. Errors name the file and
line (``ConfigError``)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from gongzhi.core.errors import ConfigError
from gongzhi.devices.registry import Registry
from gongzhi.gateway.backtest.replay import check_series
from gongzhi.gateway.backtest.series import DeviceSeries

TS_COLUMN = "ts"
# A spreadsheet's "CSV UTF-8" export starts with a byte-order mark: read past it.
ENCODING = "utf-8-sig"
# A float cell that is a whole number of ms is a timestamp (a table written with its ts column
# as floats: "1369085280000.0"), up to where a float still holds every integer.
EXACT_FLOAT_MAX = 2**53


def read_directory(directory: Path, registry: Registry) -> list[DeviceSeries]:
    """Every ``*.csv`` of ``directory`` (sorted by name), checked against ``registry``."""
    if not directory.is_dir():
        raise ConfigError("not a directory", source=str(directory))
    files = sorted(p for p in directory.iterdir() if p.suffix == ".csv" and p.is_file())
    if not files:
        raise ConfigError("no <device_id>.csv files", source=str(directory))
    out: list[DeviceSeries] = []
    for path in files:
        if path.stem not in registry:
            raise ConfigError(f"device {path.stem!r} (from the file name) is not in the "
                              "registry", source=f"{path}:1")
        out.append(read_device_csv(path))
    check_series(registry, out)
    return out


def read_device_csv(path: Path) -> DeviceSeries:
    fast = _read_plain(path)
    if fast is not None:
        return fast
    try:
        with path.open(newline="", encoding=ENCODING) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ConfigError("empty file: a header with 'ts' is needed", source=f"{path}:1")
            names = [h.strip() for h in header]
            _check_header(names, path)
            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", source=str(path)) from None
    except csv.Error as exc:
        raise ConfigError(f"malformed CSV: {exc}", source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from None
    width = len(names)
    for row, line in zip(rows, lines, strict=True):
        if len(row) != width:
            raise ConfigError(f"{len(row)} cells, the header has {width}",
                              source=f"{path}:{line}")
    ts_at = names.index(TS_COLUMN)
    ts = _ts_column([r[ts_at] for r in rows], path, lines)
    values = {name: _metric_column([r[j] for r in rows], name, path, lines)
              for j, name in enumerate(names) if j != ts_at}
    return DeviceSeries(path.stem, ts, values, source=str(path),
                        lines=np.array(lines, np.int64))


def _read_plain(path: Path) -> DeviceSeries | None:
    """The common file, read without the CSV module: plain cells (no quotes, no blank lines,
    every row as wide as the header). None when the file is anything else: the CSV reader then
    reads it. Cells are parsed as the CSV reader's are (with the same errors)."""
    try:
        text = path.read_text(encoding=ENCODING)
    except (UnicodeDecodeError, OSError):
        return None
    if '"' in text or "\r" in text:
        return None
    header, _, body = text.partition("\n")
    names = [h.strip() for h in header.split(",")]
    width = len(names)
    if width < 2 or TS_COLUMN not in names or len(set(names)) != width or "" in names:
        return None
    body = body.removesuffix("\n")
    rows = body.count("\n") + 1 if body else 0
    if rows == 0 or body.count(",") != rows * (width - 1):
        return None
    flat = body.replace("\n", ",").split(",")
    lines = list(range(2, rows + 2))
    ts_at = names.index(TS_COLUMN)
    try:
        ts = np.array(list(map(int, flat[ts_at::width])), np.int64)
    except (ValueError, OverflowError):
        ts = _ts_column(flat[ts_at::width], path, lines)
    values: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        if j != ts_at:
            try:
                values[name] = np.array(list(map(float, flat[j::width])), np.float64)
            except ValueError:  # empty cells (not reported), or a bad one
                values[name] = _metric_column(flat[j::width], name, path, lines)
    return DeviceSeries(path.stem, ts, values, source=str(path),
                        lines=np.array(lines, np.int64))


def _check_header(names: list[str], path: Path) -> None:
    if TS_COLUMN not in names:
        raise ConfigError(f"the header needs a {TS_COLUMN!r} column (epoch ms), got "
                          f"{','.join(names)[:200]!r}", source=f"{path}:1")
    seen: set[str] = set()
    for name in names:
        if not name:
            raise ConfigError("an empty column name in the header", source=f"{path}:1")
        if name in seen:
            raise ConfigError(f"column {name!r} appears twice", source=f"{path}:1")
        seen.add(name)


def _ts_column(cells: list[str], path: Path, lines: list[int]) -> np.ndarray:
    try:
        return np.array([int(c) for c in cells], np.int64)
    except (ValueError, OverflowError):
        pass
    out = np.empty(len(cells), np.int64)
    for i, (cell, line) in enumerate(zip(cells, lines, strict=True)):
        value = _whole_ms(cell)
        if value is None:
            raise ConfigError(f"ts {cell[:40]!r} is not an integer (epoch milliseconds)",
                              source=f"{path}:{line}")
        out[i] = value
    return out


def _whole_ms(cell: str) -> int | None:
    """An integer cell, or a float cell holding a whole number; None for anything else."""
    try:
        value = int(cell)
    except ValueError:
        try:
            number = float(cell)
        except ValueError:
            return None
        if not (number.is_integer() and abs(number) <= EXACT_FLOAT_MAX):
            return None
        value = int(number)
    return value if -2**63 <= value < 2**63 else None


def _metric_column(cells: list[str], name: str, path: Path, lines: list[int]) -> np.ndarray:
    nan = math.nan
    try:
        return np.array([float(c) if c else nan for c in cells], np.float64)
    except ValueError:
        pass
    for cell, line in zip(cells, lines, strict=True):
        text = cell.strip()
        if not text:
            continue
        try:
            float(text)
        except ValueError:
            raise ConfigError(f"{name} {cell[:40]!r} is not a number",
                              source=f"{path}:{line}") from None
    # Only padded cells (" 12 ") failed the fast path: read them stripped.
    return np.array([float(c) if c.strip() else nan for c in cells], np.float64)
