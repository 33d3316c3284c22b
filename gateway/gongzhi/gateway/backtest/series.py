"""One device's recorded telemetry, column-wise: what a replay consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gongzhi.gateway.detection.track import FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class DeviceSeries:
    """``ts``: epoch ms, strictly increasing. ``values``: metric name → one float per row, NaN
    where the row did not report that metric. ``source`` names where the rows came from (a file)
    and ``first_line`` the line of the first row, for messages about a row."""

    device_id: str
    ts: IntArray
    values: dict[str, FloatArray]
    source: str = "<memory>"
    first_line: int = 2
    lines: IntArray | None = field(default=None)  # each row's line, when not consecutive

    def __post_init__(self) -> None:
        for name, column in self.values.items():
            if column.shape != self.ts.shape:
                raise ValueError(f"{self.device_id}: {name} has {column.size} rows, ts has "
                                 f"{self.ts.size}")

    def __len__(self) -> int:
        return int(self.ts.size)

    def line_of(self, row: int) -> int:
        return int(self.lines[row]) if self.lines is not None else self.first_line + row

    def where(self, row: int) -> str:
        return f"{self.source}:{self.line_of(row)}"


def series(device_id: str, ts: IntArray | list[int],
           **values: FloatArray | list[float]) -> DeviceSeries:
    """A series built in memory (evaluation, tests)."""
    return DeviceSeries(device_id, np.asarray(ts, np.int64),
                        {k: np.asarray(v, np.float64) for k, v in values.items()})
