"""A circuit's reports split into step edges and small changes. Per device, compiled.

An appliance switching on or off moves a circuit's reading by its own size between two reports
(or, when it switched between two samples of a meter that averages, over two reports): an
*edge*. Everything else that moves the reading is a *small change*: a charger's creep and
taper, a television's picture, a meter's noise. Changes of one sign at least ``EDGE_W`` apart by
at most ``merge_ms`` are one edge (a *step*), given once it is complete (the next report past
``merge_ms``, or an edge of the other sign). Small changes are added up since the device's first
report (their sum, squares, products of consecutive ones, counts): a rule reads what happened
between two moments as the difference of these sums, so any number of candidates can each
keep a moment of their own for the price of a few numbers.

A change across a silence longer than ``GAP_MS`` is neither: what happened in it is unknown.
"""

from __future__ import annotations

import numpy as np

from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.track import FloatArray, IntArray

# ``EdgeSplitter.state()``: last, last_ts, run, run_head, run_first_ms, run_last_ms, sums,
# clipped, prev_small, block, block_ms.
EdgeState = tuple[FloatArray, IntArray, FloatArray, FloatArray, IntArray, IntArray, FloatArray,
                  FloatArray, FloatArray, FloatArray, IntArray]

MINUTE_MS = 60_000
# The sums of small changes (``EdgeSplitter.sums``): their total, squares, products of consecutive
# ones, count, falls among them, edges (not small changes), BLOCK_MS blocks, falling blocks, rises,
# rising blocks.
TOTAL, SQUARES, CROSS, MOVES, FALLS, EDGES, BLOCKS, BLOCK_FALLS, RISES, BLOCK_RISES = range(10)
SUMS = 10


class EdgeSplitter(Stateful):
    DEVICE_STATE = ("last", "last_ts", "run", "run_head", "run_first_ms", "run_last_ms", "sums",
                    "clipped", "prev_small", "block", "block_ms")

    EDGE_W = 30.0
    # Small changes are also added up clipped at each of these (W a minute): a glide is many
    # small falls, a small appliance switching off is one fall of its size.
    CLIPS_W = (6.0, 12.0, 24.0)
    GAP_MS = 5 * MINUTE_MS
    # The small changes also in blocks of BLOCK_MS: a slow glide falls in most blocks even where
    # a report's change is mostly noise.
    BLOCK_MS = 5 * MINUTE_MS

    def state(self) -> EdgeState:
        """The arrays ``split`` reads and writes, in its order."""
        return (self.last, self.last_ts, self.run, self.run_head, self.run_first_ms,
                self.run_last_ms, self.sums, self.clipped, self.prev_small, self.block,
                self.block_ms)

    def __init__(self, size: int) -> None:
        self.last = np.full(size, np.nan, np.float64)
        self.last_ts = np.zeros(size, np.int64)
        self.run = np.zeros(size, np.float64)  # the step being gathered, W (0: none)
        self.run_head = np.zeros(size, np.float64)  # its first edge
        self.run_first_ms = np.zeros(size, np.int64)
        self.run_last_ms = np.zeros(size, np.int64)
        self.sums = np.zeros((size, SUMS), np.float64)
        self.clipped = np.zeros((size, len(self.CLIPS_W)), np.float64)
        self.prev_small = np.zeros(size, np.float64)
        self.block = np.zeros(size, np.float64)  # the small changes of the block so far
        self.block_ms = np.zeros(size, np.int64)  # when the block began

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.last, self.last_ts, self.run, self.run_head,
                                      self.run_first_ms,
                                      self.run_last_ms, self.sums, self.clipped,
                                      self.prev_small, self.block, self.block_ms))

    def params(self) -> FloatArray:
        """The constants ``split`` reads, as the class has them now (at ``_EDGE_W``...)."""
        return np.array([self.EDGE_W, self.GAP_MS, self.BLOCK_MS, *self.CLIPS_W], np.float64)


_EDGE_W, _GAP_MS, _BLOCK_MS, CLIP_0 = range(4)


@compiled
def split(e: EdgeState, params: FloatArray, slot: int, ts: int, x: float,
          merge_ms: int) -> tuple[float, bool, float, int, float, bool]:
    """Add one report ``x`` at ``ts`` to ``slot``'s state ``e`` (``EdgeSplitter.state()``);
    return its change since the previous report (0 at the first, or after a gap), whether that
    was a small change, the step completed at this report (0: none), when that step began, its
    first edge, and whether the report was an edge."""
    last, last_ts, run_, run_head, run_first_ms, run_last_ms, sums, clipped, prev_small, \
        block_, block_ms = e
    since = ts - last_ts[slot]
    seen = last[slot] == last[slot] and since <= params[_GAP_MS]  # NaN: no report yet
    change = x - last[slot] if seen else 0.0
    edge = abs(change) >= params[_EDGE_W]  # (a change not seen is 0)
    small = seen and not edge
    run = run_[slot]
    # A step is complete at an edge of the other sign, past merge_ms, or across a gap.
    done = run != 0.0 and ((edge and np.sign(change) != np.sign(run))
                           or ts - run_last_ms[slot] > merge_ms or not seen)
    step, step_ms, head = 0.0, 0, 0.0
    if done:
        step, step_ms, head = run, run_first_ms[slot], run_head[slot]
    if edge:
        if done or run == 0.0:  # a step begins
            run_[slot], run_first_ms[slot], run_head[slot] = change, ts, change
        else:
            run_[slot] = run + change
        run_last_ms[slot] = ts
    elif done:
        run_[slot] = 0.0

    moves = change if small else 0.0
    sums[slot, TOTAL] += moves
    sums[slot, SQUARES] += moves * moves
    sums[slot, CROSS] += moves * prev_small[slot]
    sums[slot, MOVES] += 1.0 if small else 0.0
    sums[slot, FALLS] += 1.0 if moves < 0.0 else 0.0
    sums[slot, RISES] += 1.0 if moves > 0.0 else 0.0
    sums[slot, EDGES] += 1.0 if edge else 0.0
    if small:
        # The clip grows with the time since the previous report (a report's change is W per
        # that time).
        minutes = max(since / MINUTE_MS, 1.0)
        for k in range(clipped.shape[1]):
            clip = params[CLIP_0 + k] * minutes
            clipped[slot, k] += min(max(moves, -clip), clip)
    block = block_[slot] + moves
    if ts - block_ms[slot] >= params[_BLOCK_MS]:  # once a BLOCK_MS
        sums[slot, BLOCKS] += 1.0
        sums[slot, BLOCK_FALLS] += 1.0 if block < 0.0 else 0.0
        sums[slot, BLOCK_RISES] += 1.0 if block > 0.0 else 0.0
        block, block_ms[slot] = 0.0, ts
    block_[slot] = block
    prev_small[slot] = moves  # 0 after a change that was not small
    last[slot], last_ts[slot] = x, ts
    return change, small, step, step_ms, head, edge
