"""Devices whose recorded rows come further apart than their offline limit.

The replay is faithful: such a device goes offline in every gap between its rows, as it would
live, and the output fills with ``device_offline`` alarms. The usual cause is a registry without
``report_interval_s`` for a device that reports less often than its type's default (a household
monitor recorded once a minute, where the catalogue expects an electrical monitor every 10 s).
The replay still runs as configured; these are said before it, on standard error and in the
summary, so that a flood of offline alarms is not mistaken for the data's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gongzhi.devices.catalogue import spec_for
from gongzhi.devices.registry import Registry
from gongzhi.gateway.backtest.series import DeviceSeries

# The summary lists this many of them (and counts them all).
LISTED = 20


@dataclass(frozen=True, slots=True)
class SlowReporter:
    device_id: str
    median_interval_s: float  # between its recorded rows
    offline_after_s: float  # its offline limit, from report_interval_s (or its type's default)
    report_interval_s: float  # the registry's, or its type's default
    interval_set: bool  # whether the registry sets it

    def message(self) -> str:
        setting = (f"its report_interval_s is {self.report_interval_s:g} s" if self.interval_set
                   else "the registry sets no report_interval_s for it (its type's default: "
                        f"{self.report_interval_s:g} s)")
        return (f"{self.device_id} reports every {self.median_interval_s:g} s (median of its "
                f"rows), past its offline limit of {self.offline_after_s:g} s: {setting}; every "
                "gap raises device_offline. Set report_interval_s in the registry to the "
                "interval it reports at")

    def to_dict(self) -> dict[str, object]:
        return {"device_id": self.device_id, "median_interval_s": self.median_interval_s,
                "offline_after_s": self.offline_after_s,
                "report_interval_s": self.report_interval_s, "interval_set": self.interval_set}


def slow_reporters(registry: Registry, offline_after_ms: Mapping[str, int],
                   all_series: Sequence[DeviceSeries]) -> list[SlowReporter]:
    """The devices of ``all_series`` (two rows at least) most of whose intervals between rows
    (more than half: their median) are longer than their offline limit (``offline_after_ms``,
    per device id; every device in ``registry``, as ``check_series`` makes sure). Counted over
    all devices at once: an estate's thousands of series cost a few array operations, not a few
    per device."""
    sized = [s for s in all_series if len(s) >= 2]
    if not sized:
        return []
    lengths = np.array([len(s) for s in sized], np.int64)
    starts = np.cumsum(lengths) - lengths
    ts = np.concatenate([s.ts for s in sized])
    limits = np.repeat(np.array([offline_after_ms[s.device_id] for s in sized], np.int64),
                       lengths)
    late = np.zeros(ts.size, np.bool_)  # the interval that ends at each row is past the limit
    late[1:] = np.diff(ts) > limits[1:]
    late[starts] = False  # (a series' first row ends no interval of its own)
    counts = np.add.reduceat(late, starts)
    out: list[SlowReporter] = []
    for i in np.flatnonzero(2 * counts > lengths - 1).tolist():
        s = sized[i]
        record = registry.get(s.device_id)
        assert record is not None
        default = spec_for(record.type).report_interval_ms / 1000
        median_s = round(float(np.median(np.diff(s.ts))) / 1000, 3)
        out.append(SlowReporter(s.device_id, median_s, offline_after_ms[s.device_id] / 1000,
                                record.setting("report_interval_s", default),
                                "report_interval_s" in record.settings))
    return out
