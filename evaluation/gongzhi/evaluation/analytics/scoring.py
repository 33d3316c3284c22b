"""SKAB's scores (docs/domain.md): point-wise F1, FAR and MAR over the rows after the
training part, summed over files; and the NAB-style changepoint score with SKAB's smoothed
scoring function (a detection at the start of a changepoint's window earns A_tp, at its end
A_fp), summed over files and normalised between the null and the perfect detector."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BinaryArray = npt.NDArray[np.int8]


@dataclass(frozen=True, slots=True)
class Counts:
    tp: int = 0
    tn: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.tn + other.tn, self.fp + other.fp,
                      self.fn + other.fn)

    @property
    def f1(self) -> float:
        denominator = self.tp + (self.fn + self.fp) / 2
        return self.tp / denominator if denominator else 0.0

    @property
    def far_pct(self) -> float:
        return 100 * self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def mar_pct(self) -> float:
        return 100 * self.fn / (self.fn + self.tp) if self.fn + self.tp else 0.0


def point_counts(truth: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray,
                 skip: int = 0) -> Counts:
    """Confusion counts of binary series, ignoring the first ``skip`` rows (training)."""
    t = np.asarray(truth)[skip:] == 1
    p = np.asarray(predicted)[skip:] == 1
    if t.shape != p.shape:
        raise ValueError(f"truth has {t.size} scored rows, prediction {p.size}")
    return Counts(int(np.sum(t & p)), int(np.sum(~t & ~p)), int(np.sum(~t & p)),
                  int(np.sum(t & ~p)))


@dataclass(frozen=True, slots=True)
class NabProfile:
    name: str
    a_tp: float
    a_fp: float
    a_fn: float


NAB_PROFILES = (NabProfile("standard", 1.0, -0.11, -1.0), NabProfile("low_fp", 1.0, -0.22, -1.0),
                NabProfile("low_fn", 1.0, -0.11, -2.0))


def changepoints_of(predicted: Sequence[int] | np.ndarray) -> BinaryArray:
    """Where a binary prediction switches (and its first row when it starts raised)."""
    p = np.asarray(predicted, np.int8)
    out = np.zeros_like(p)
    if p.size:
        out[0] = p[0]
        out[1:] = np.abs(np.diff(p))
    return out


def nab_windows(times_ms: IntArray, changepoints: Sequence[int] | np.ndarray,
                window_ms: int) -> list[tuple[int, int]]:
    """One window [cp, cp + window] after each true changepoint; overlapping windows are
    cut so the later one starts where the earlier one ends."""
    starts = times_ms[np.asarray(changepoints) == 1]
    windows = [[int(s), int(s) + window_ms] for s in starts]
    for i in range(len(windows) - 1):
        if windows[i][1] >= windows[i + 1][0]:
            windows[i + 1][0] = windows[i][1]
    return [(a, b) for a, b in windows]


def _scaled(start: int, detected: int, end: int, profile: NabProfile) -> float:
    """SKAB's improved NAB scoring function sampled at 1000 points across the window."""
    detail = 1000
    position = min(int((detected - start) / (end - start) * detail), detail - 1) \
        if end > start else 0
    x = -math.pi / 2 + math.pi * position / (detail - 1)
    half = (profile.a_tp - profile.a_fp) / 2
    return -half * math.tanh(x) / math.tanh(math.pi / 2) + half + profile.a_fp


@dataclass(frozen=True, slots=True)
class NabTally:
    """Per profile: the raw score, the null detector's and the perfect detector's."""

    score: tuple[float, ...] = (0.0, 0.0, 0.0)
    null: tuple[float, ...] = (0.0, 0.0, 0.0)
    perfect: tuple[float, ...] = (0.0, 0.0, 0.0)

    def __add__(self, other: NabTally) -> NabTally:
        return NabTally(_add(self.score, other.score), _add(self.null, other.null),
                        _add(self.perfect, other.perfect))

    def normalised(self) -> dict[str, float]:
        return {p.name: (100 * (s - n) / (b - n) if b != n else 0.0)
                for p, s, n, b in zip(NAB_PROFILES, self.score, self.null, self.perfect,
                                      strict=True)}


def _add(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def nab_tally(times_ms: IntArray, true_changepoints: Sequence[int] | np.ndarray,
              predicted: Sequence[int] | np.ndarray, window_ms: int = 60_000) -> NabTally:
    windows = nab_windows(times_ms, true_changepoints, window_ms)
    detections = times_ms[changepoints_of(predicted) == 1]
    inside = np.zeros(detections.size, np.bool_)
    firsts: list[int | None] = []
    for start, end in windows:
        hits = (detections >= start) & (detections <= end)
        inside |= hits
        firsts.append(int(detections[hits][0]) if hits.any() else None)
    false_positives = int(np.sum(~inside))
    scores, nulls, perfects = [], [], []
    for profile in NAB_PROFILES:
        score = profile.a_fp * false_positives
        for (start, end), first in zip(windows, firsts, strict=True):
            score += profile.a_fn if first is None else _scaled(start, first, end, profile)
        scores.append(score)
        nulls.append(len(windows) * profile.a_fn)
        perfects.append(len(windows) * profile.a_tp)
    return NabTally(tuple(scores), tuple(nulls), tuple(perfects))


def total(items: Iterable[Counts]) -> Counts:
    result = Counts()
    for item in items:
        result = result + item
    return result
