"""SKAB's scores on tiny hand-made series (table tests)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gongzhi.evaluation.analytics.scoring import (
    Counts,
    changepoints_of,
    nab_tally,
    nab_windows,
    point_counts,
    total,
)

POINT_CASES = [
    # truth, predicted, skip, (tp, tn, fp, fn), f1, far %, mar %
    ([0, 0, 1, 1, 1, 0], [0, 1, 1, 0, 1, 0], 0, (2, 2, 1, 1), 2 / 3, 100 / 3, 100 / 3),
    ([0, 0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1], 0, (3, 0, 3, 0), 3 / 4.5, 100.0, 0.0),
    ([0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0], 0, (0, 3, 0, 3), 0.0, 0.0, 100.0),
    ([0, 0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0], 2, (3, 1, 0, 0), 1.0, 0.0, 0.0),
]


@pytest.mark.parametrize(("truth", "predicted", "skip", "counts", "f1", "far", "mar"),
                         POINT_CASES)
def test_point_wise_scores(truth: list[int], predicted: list[int], skip: int,
                           counts: tuple[int, int, int, int], f1: float, far: float,
                           mar: float) -> None:
    c = point_counts(truth, predicted, skip)
    assert (c.tp, c.tn, c.fp, c.fn) == counts
    assert c.f1 == pytest.approx(f1)
    assert c.far_pct == pytest.approx(far)
    assert c.mar_pct == pytest.approx(mar)


def test_counts_add_up_over_files_before_the_ratios() -> None:
    summed = total([Counts(tp=10, tn=0, fp=0, fn=0), Counts(tp=0, tn=10, fp=10, fn=0)])
    assert (summed.f1, summed.far_pct) == (pytest.approx(10 / 15), 50.0)


def test_changepoints_of_a_prediction() -> None:
    assert changepoints_of([1, 1, 0, 0, 1, 1]).tolist() == [1, 0, 1, 0, 1, 0]
    assert changepoints_of([0, 0, 0]).tolist() == [0, 0, 0]


def test_overlapping_windows_are_cut_on_the_right() -> None:
    times = np.arange(0, 200_000, 1000, dtype=np.int64)
    cps = np.zeros(times.size, np.int8)
    cps[[10, 40]] = 1
    assert nab_windows(times, cps, 60_000) == [(10_000, 70_000), (70_000, 100_000)]


def nab(detect_at: list[int], cps_at: tuple[int, ...] = (100,), rows: int = 300) -> float:
    times = np.arange(rows, dtype=np.int64) * 1000  # one row a second
    cps = np.zeros(rows, np.int8)
    cps[list(cps_at)] = 1
    predicted = np.zeros(rows, np.int8)
    for start in detect_at:
        predicted[start:start + 5] = 1  # a short alarm: rising edge at start, falling +5
    return nab_tally(times, cps, predicted).normalised()["standard"]


def middle_score() -> float:
    x = -math.pi / 2 + math.pi * 500 / 999
    return -(1.11 / 2) * math.tanh(x) / math.tanh(math.pi / 2) + 1.11 / 2 - 0.11


NAB_CASES = [
    # Each alarm lasts five rows: its rising edge is the detection, its falling edge is one
    # more predicted changepoint, harmless inside the window and a false positive outside.
    ("null detector", [], 0.0),
    ("detected at the changepoint", [100], 100.0),
    ("detected at the end of the window", [160], (-0.11 - 0.11 + 1) / 2 * 100),
    ("detected mid-window", [130], (middle_score() + 1) / 2 * 100),
    ("only false positives", [10], (-0.11 * 2 - 1 + 1) / 2 * 100),
]


@pytest.mark.parametrize(("case", "detect_at", "expected"), NAB_CASES,
                         ids=[c[0] for c in NAB_CASES])
def test_nab_standard_profile(case: str, detect_at: list[int], expected: float) -> None:
    assert nab(detect_at) == pytest.approx(expected, abs=1e-9)


def test_nab_perfect_and_normalised_over_files() -> None:
    times = np.arange(300, dtype=np.int64) * 1000
    cps = np.zeros(300, np.int8)
    cps[100] = 1
    hit = np.zeros(300, np.int8)
    hit[100:] = 1  # raised at the changepoint and never falls: no false positive
    one = nab_tally(times, cps, hit)
    assert one.normalised() == {"standard": 100.0, "low_fp": 100.0, "low_fn": 100.0}
    both = one + nab_tally(times, cps, np.zeros(300, np.int8))
    assert both.normalised()["standard"] == pytest.approx(50.0)
    assert both.normalised()["low_fn"] == pytest.approx(100 * (1 + 2) / (2 + 4))
