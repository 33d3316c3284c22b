"""The alarm life cycle every stateful rule shares, vectorized over device slots.

States per slot: IDLE (maybe pending: the condition holds since ``pending``, not yet for the
rule's minimum duration), ACTIVE (RAISE sent), CLEARING (the condition is back past its
hysteresis, waiting ``clear_hold_ms`` before the CLEAR). A breach while CLEARING returns to
ACTIVE and counts a re-fire instead of raising a new alarm.

``step`` is called with unique slots (one message per device per call) in device-time order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gongzhi.core.alarms import AlarmState
from gongzhi.gateway.detection.carry import Stateful

IDLE, ACTIVE, CLEARING = 0, 1, 2
NONE = np.int64(-1)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

EMPTY: IntArray = np.zeros(0, np.int64)


def constant(value: float, dtype: type[np.generic]) -> np.ndarray:
    """``value`` as an array of no dimension, read only: an operand that costs an operation on
    a few rows less than a Python number (converted at every operation), with the same results
    where the other operand has ``dtype``."""
    out = np.array(value, dtype)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, slots=True)
class Transitions:
    """Positions (into the arrays given to ``step``) that raised and that cleared."""

    raised: IntArray
    cleared: IntArray

    def each(self) -> list[tuple[int, AlarmState]]:
        """Every transition with the alarm state it sends, raises first."""
        if not (self.raised.size or self.cleared.size):
            return []
        return ([(int(i), AlarmState.RAISE) for i in self.raised]
                + [(int(i), AlarmState.CLEAR) for i in self.cleared])


NO_TRANSITIONS = Transitions(EMPTY, EMPTY)


class AlarmTrack(Stateful):
    DEVICE_STATE = ("state", "pending", "onset", "clear_since", "refires", "worst", "peak")

    def __init__(self, size: int, clear_hold_ms: int) -> None:
        self.clear_hold_ms = clear_hold_ms
        self.state = np.zeros(size, np.int8)
        self.pending = np.full(size, NONE, np.int64)
        self.onset = np.full(size, NONE, np.int64)
        self.clear_since = np.full(size, NONE, np.int64)
        self.refires = np.zeros(size, np.int32)
        # The worst score seen in the current episode and the value that had it (evidence).
        self.worst = np.full(size, -np.inf, np.float32)
        self.peak = np.zeros(size, np.float32)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.state, self.pending, self.onset, self.clear_since,
                                      self.refires, self.worst, self.peak))

    def step(self, slots: IntArray, ts: IntArray, breach: BoolArray, cleared: BoolArray,
             hold_ms: IntArray | int, value: FloatArray, score: FloatArray) -> Transitions:
        """Advance ``slots`` by one observation each. ``breach``: the alarm condition holds;
        ``cleared``: the value is back past the hysteresis band (``breach`` and ``cleared``
        are never both true); ``score``: larger is worse, to keep the episode's peak."""
        # Almost every observation is of a quiet device with nothing pending: skip those.
        state, pending = self.state[slots], self.pending[slots] >= 0
        if not (np.count_nonzero(breach) or np.count_nonzero(state)  # IDLE is 0
                or np.count_nonzero(pending)):
            return NO_TRANSITIONS
        involved = (breach | (state != IDLE) | pending).nonzero()[0]
        if involved.size < slots.size:
            hold = hold_ms if isinstance(hold_ms, int) else hold_ms[involved]
            moves = self._step(slots[involved], ts[involved], breach[involved],
                               cleared[involved], hold, value[involved], score[involved])
            return Transitions(involved[moves.raised], involved[moves.cleared])
        return self._step(slots, ts, breach, cleared, hold_ms, value, score)

    def _step(self, slots: IntArray, ts: IntArray, breach: BoolArray, cleared: BoolArray,
              hold_ms: IntArray | int, value: FloatArray, score: FloatArray) -> Transitions:
        st = self.state[slots]
        idle, active, clearing = st == IDLE, st == ACTIVE, st == CLEARING

        # IDLE: start, continue or reset the pending minimum-duration window.
        starting = idle & breach & (self.pending[slots] < 0)
        self.pending[slots[starting]] = ts[starting]
        self.pending[slots[idle & ~breach]] = NONE
        pend = self.pending[slots]
        fire = idle & breach & (ts - pend >= hold_ms)
        fired = slots[fire]
        self.state[fired] = ACTIVE
        self.onset[fired] = pend[fire]
        self.pending[fired] = NONE
        self.refires[fired] = 0
        self.worst[fired] = -np.inf

        # ACTIVE: the value back past the hysteresis band starts the clear hold-off.
        leaving = active & cleared
        self.state[slots[leaving]] = CLEARING
        self.clear_since[slots[leaving]] = ts[leaving]

        # CLEARING: a breach is a re-fire of the same alarm; inside the band, just not clear.
        back = clearing & ~cleared
        self.state[slots[back]] = ACTIVE
        refire = slots[back & breach]
        self.refires[refire] += 1
        done = (clearing | leaving) & cleared & (ts - self.clear_since[slots] >= self.clear_hold_ms)
        self.state[slots[done]] = IDLE

        # Peak of the episode, over every observation while raised.
        episode = fire | active | clearing
        ep_slots = slots[episode]
        worse = score[episode] > self.worst[ep_slots]
        self.worst[ep_slots[worse]] = score[episode][worse]
        self.peak[ep_slots[worse]] = value[episode][worse]
        return Transitions(np.nonzero(fire)[0], np.nonzero(done)[0])
