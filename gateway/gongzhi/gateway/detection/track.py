"""The alarm life cycle every stateful rule shares, per device slot (compiled: ``advance``).

States per slot: IDLE (maybe pending: the condition holds since ``pending``, not yet for the
rule's minimum duration), ACTIVE (RAISE sent), CLEARING (the condition is back past its
hysteresis, waiting ``clear_hold_ms`` before the CLEAR). A breach while CLEARING returns to
ACTIVE and counts a re-fire instead of raising a new alarm.

The compiled rules call ``advance`` report by report, each device's in device-time order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled

if TYPE_CHECKING:  # (observations imports this module's array types)
    from gongzhi.gateway.detection.observations import Observations

IDLE, ACTIVE, CLEARING = 0, 1, 2
NONE = np.int64(-1)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]



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

    def arrays(self) -> TrackState:
        """The arrays ``advance`` reads and writes, in its order."""
        return (self.state, self.pending, self.onset, self.clear_since, self.refires,
                self.worst, self.peak)


RAISED, CLEARED = 1, 2  # ``advance``'s results (0: no transition)
_STATES = {RAISED: AlarmState.RAISE, CLEARED: AlarmState.CLEAR}
Move = tuple[int, AlarmState, Alarm]  # an alarm with its row and state


class ObservesMoves:
    """A rule that gives each alarm with its row (``rules.RowRule``): its ``observe`` is
    ``observe_moves``' alarms."""

    def observe_moves(self, obs: Observations) -> list[Move]:
        raise NotImplementedError

    def observe(self, obs: Observations) -> list[Alarm]:
        return [alarm for _, _, alarm in self.observe_moves(obs)]


def moves_of_rows(rows: int, step: Callable[[int], tuple[int, int]],
                  alarm: Callable[[int, AlarmState], Alarm],
                  finish: Callable[[int], None] | None = None) -> list[Move]:
    """The alarms of a compiled loop over ``rows`` rows that stops after each row whose alarm
    moved, so that its evidence is read as it was then: ``step(row)`` runs from ``row`` and
    gives the row after the one that moved (``rows`` when none did) and its move (``advance``'s
    result); ``alarm(row, state)`` builds that row's alarm. Raises first, then clears, each in
    row order (the order a round's alarms of one rule have always come in). A loop may also
    stop at a row it cannot finish alone (its move with ``UNFINISHED`` set): ``finish(row)``
    finishes it first."""
    found: list[Move] = []
    at = 0
    while at < rows:
        at, move = step(at)
        if move & UNFINISHED:
            assert finish is not None
            finish(at - 1)
            move &= ~UNFINISHED
        if move:
            state = _STATES[move]
            found.append((at - 1, state, alarm(at - 1, state)))
    return sorted(found, key=lambda move: (move[1] is AlarmState.CLEAR, move[0]))


UNFINISHED = 4  # (``moves_of_rows``: a flag beside ``advance``'s result)
# ``AlarmTrack.arrays()``: state, pending, onset, clear_since, refires, worst, peak.
TrackState = tuple[npt.NDArray[np.int8], IntArray, IntArray, IntArray, npt.NDArray[np.int32],
                   Float32Array, Float32Array]


@compiled
def at_rest(state: int, pending: int, breach: bool) -> bool:
    """Whether an observation leaves its slot as it is (``state`` and ``pending``: the slot's):
    almost every observation is of a quiet device with nothing pending. A loop tests it before
    it calls ``advance``, whose arrays cost a reference count each at every call."""
    return state == IDLE and not breach and pending < 0


@compiled
def advance(track: TrackState, clear_hold_ms: int, j: int, t: int, breach: bool,
            cleared: bool, hold_ms: int, value: float, score: float) -> int:
    """Advance slot ``j`` of ``track`` by one observation at ``t``; its transition
    (``RAISED``, ``CLEARED``, 0: none)."""
    state, pending, onset, clear_since, refires, worst, peak = track
    was = state[j]
    if at_rest(was, pending[j], breach):
        return 0
    fire = done = False
    if was == IDLE:
        # Start, continue or reset the pending minimum-duration window.
        if not breach:
            pending[j] = -1
        else:
            if pending[j] < 0:
                pending[j] = t
            if t - pending[j] >= hold_ms:
                fire = True
                state[j], onset[j], pending[j], refires[j] = ACTIVE, pending[j], -1, 0
                worst[j] = -np.inf
    elif was == ACTIVE:
        # The value back past the hysteresis band starts the clear hold-off.
        if cleared:
            state[j], clear_since[j] = CLEARING, t
            done = t - clear_since[j] >= clear_hold_ms
    elif not cleared:  # CLEARING: a breach is a re-fire of the same alarm
        state[j] = ACTIVE
        if breach:
            refires[j] += 1
    else:  # inside the band: just not clear yet
        done = t - clear_since[j] >= clear_hold_ms
    if done:
        state[j] = IDLE
    # The peak of the episode, over every observation while raised.
    if (fire or was != IDLE) and score > worst[j]:
        worst[j], peak[j] = score, value
    return RAISED if fire else CLEARED if done else 0
