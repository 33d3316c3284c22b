"""Counter-based random numbers: each draw is a pure function of (seed, stream, device, sample
number), like Philox or SplitMix counters. A device's signal therefore does not depend on which
other devices happen to report in the same step, so the same seed gives the same messages at
any speed and however the wall clock slices the run.
"""

from __future__ import annotations

import numpy as np

from gongzhi.simulators.signals.daily import FloatArray, IntArray

_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_TWO_POW_53 = float(2**53)
# As numpy scalars once: built on every call they cost more than the arithmetic on the small
# arrays of a small estate.
_U30, _U27, _U31, _U11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_UM1, _UM2, _UGOLDEN = np.uint64(_M1), np.uint64(_M2), np.uint64(_GOLDEN)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: a bijection of uint64 that scatters neighbouring inputs."""
    x = x ^ (x >> _U30)
    x = x * _UM1
    x = x ^ (x >> _U27)
    x = x * _UM2
    return np.asarray(x ^ (x >> _U31))


class CounterNoise:
    def __init__(self, seed: int) -> None:
        self._key = int(_mix(np.array([seed & (2**64 - 1)], dtype=np.uint64))[0])
        self._ukey = np.uint64(self._key)

    def uniform(self, stream: int, device: IntArray, count: IntArray) -> FloatArray:
        """Uniform in [0, 1)."""
        x = (np.asarray(device).astype(np.uint64) * _UGOLDEN
             ^ _mix(np.asarray(count).astype(np.uint64) + self._ukey)
             ^ np.uint64((stream * _M1 + self._key) & (2**64 - 1)))
        return np.asarray((_mix(x) >> _U11).astype(np.float64) / _TWO_POW_53)

    def normal(self, stream: int, device: IntArray, count: IntArray) -> FloatArray:
        """Standard normal (Box-Muller from two streams)."""
        u1 = 1.0 - self.uniform(2 * stream + 1000, device, count)  # (0, 1]: log is finite
        u2 = self.uniform(2 * stream + 1001, device, count)
        return np.asarray(np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2))
