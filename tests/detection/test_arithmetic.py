"""The compiled rules' arithmetic is numpy's to the bit (``arithmetic``)."""

from __future__ import annotations

import numpy as np
import pytest

from gongzhi.gateway.detection.arithmetic import PAIRWISE_BLOCK, maximum, minimum, row_sum


@pytest.mark.parametrize("n", [0, 1, 5, 7, 8, 9, 15, 16, 23, 24, 25, 100, PAIRWISE_BLOCK])
def test_a_row_s_sum_is_numpy_s_to_the_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    rows = rng.random((2000, n)) * rng.choice([1e-4, 1.0, 1e4], (2000, 1))
    rows[rng.random(rows.shape) < 0.3] = 0.0  # hours of a meter that did not move
    expected = rows.sum(axis=1)
    got = np.array([row_sum(row) for row in rows])
    assert got.tobytes() == expected.tobytes()
    # (A plain loop is not numpy's sum from eight numbers on: the test can tell them apart.)
    plain = np.array([sum(row.tolist(), 0.0) for row in rows])
    assert (n < 8) == (plain.tobytes() == expected.tobytes())


def test_maximum_and_minimum_are_numpy_s_with_nan() -> None:
    pairs = [(1.0, 2.0), (2.0, 1.0), (np.nan, 1.0), (1.0, np.nan), (-0.0, 0.0)]
    for a, b in pairs:
        for compiled_op, numpy_op in ((maximum, np.maximum), (minimum, np.minimum)):
            got, want = compiled_op(a, b), float(numpy_op(a, b))
            assert (np.isnan(got) and np.isnan(want)) or got == want
