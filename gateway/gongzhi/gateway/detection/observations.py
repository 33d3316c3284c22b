"""Telemetry for a type group's rules: one round (at most one observation per device), or the
rounds of a batch in round order for the rules that take them at once (``rules.row_wise``).
Rules read metric columns (NaN where a message did not carry the metric)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from gongzhi.gateway.detection.track import AlarmTrack, BoolArray, FloatArray, IntArray


@dataclass(slots=True)  # (read only but ``raised``; not frozen: a frozen one costs more to build)
class Observations:
    local: IntArray  # slots within the type group (unique in a round)
    ts: IntArray  # device time, ms
    # One row per observation, one column per metric (its position in ``positions``): the value,
    # NaN when absent.
    values: FloatArray
    positions: Mapping[str, int]
    # Per alarm track, whether it was raised after each row (of the rows reporting its rule's
    # metric): left by the rule that owns it, for a rule after it that reads it
    # (``explained_by``), since rows of many rounds go to one rule before the next.
    raised: dict[AlarmTrack, BoolArray] = field(default_factory=dict)
    # Where each round begins, and where the last ends (``group.rounds``); None: one round.
    starts: IntArray | None = None

    def column(self, metric: str) -> FloatArray:
        j = self.positions.get(metric)
        return np.full(self.local.size, np.nan) if j is None else self.values[:, j]

    def round_starts(self) -> IntArray:
        """Where each round begins, and where the last ends."""
        if self.starts is None:
            return np.array([0, self.local.size], np.int64)
        return self.starts
