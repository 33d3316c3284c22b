"""A circuit's reports split into step edges and small changes. Per device, vectorized.

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

from dataclasses import dataclass

import numpy as np

from gongzhi.gateway.detection.carry import Stateful
from gongzhi.gateway.detection.track import BoolArray, FloatArray, IntArray, constant

MINUTE_MS = 60_000


@dataclass(slots=True)  # (not frozen: a frozen one costs five times as much to build)
class EdgeView:
    """One report per device (read only)."""

    change: FloatArray  # since the previous report, W (0 at the first, or after a gap)
    small: BoolArray  # the change was a small change
    step: FloatArray  # a step completed at this report, W (0: none)
    step_ms: IntArray  # when that step began (its first edge's report)
    head: FloatArray  # that step's first edge, W
    # Whether some report of the round completed a step, and whether some was an edge (a
    # round with neither leaves the work on steps undone).
    stepped: bool
    edged: bool


@dataclass(frozen=True, slots=True)
class Glide:
    """Sums of small changes (the differences of two ``Sums`` snapshots)."""

    total: FloatArray
    squares: FloatArray
    cross: FloatArray  # products of consecutive small changes
    moves: FloatArray  # how many
    falls: FloatArray  # how many were negative
    edges: FloatArray  # how many changes were edges
    blocks: FloatArray  # how many BLOCK_MS blocks ended
    block_falls: FloatArray  # how many of them fell (their small changes' total)
    rises: FloatArray  # how many small changes were positive
    block_rises: FloatArray

    def spread(self, var_min: float) -> FloatArray:
        """The long-run standard deviation of the total: sqrt(n x (variance + 2 x lag-1
        covariance)), never less than one change's x sqrt(2). A load that wanders has changes
        that do not cancel; a meter's noise has changes that do (a high reading is followed by
        a fall)."""
        n = np.maximum(self.moves, 1.0)
        mean = self.total / n
        var = np.maximum(self.squares / n - mean * mean, var_min)
        cov = self.cross / n - mean * mean
        out: FloatArray = np.sqrt(np.maximum(n * (var + 2 * cov), 2 * var))
        return out


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
    # sums: total, squares, cross, moves, falls, edges, blocks, falling blocks, rises, rising
    # blocks
    TOTAL, SQUARES, CROSS, MOVES, FALLS, EDGES, BLOCKS, BLOCK_FALLS, RISES, BLOCK_RISES = range(10)
    SUMS = 10

    def __init__(self, size: int) -> None:
        self.last = np.full(size, np.nan, np.float64)
        self.last_ts = np.zeros(size, np.int64)
        self.run = np.zeros(size, np.float64)  # the step being gathered, W (0: none)
        self.run_head = np.zeros(size, np.float64)  # its first edge
        self.run_first_ms = np.zeros(size, np.int64)
        self.run_last_ms = np.zeros(size, np.int64)
        self.sums = np.zeros((size, self.SUMS), np.float64)
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

    def update(self, s: IntArray, ts: IntArray, x: FloatArray,
               merge_ms: IntArray | int) -> EdgeView:
        """Add one report per slot (unique slots, device-time order)."""
        last, since = self.last[s], ts - self.last_ts[s]
        seen = (last == last) & (since <= _GAP_MS)  # NaN: no report yet
        seens = np.count_nonzero(seen)
        change = x - last if seens == s.size else np.where(seen, x - last, 0.0)
        edge = np.abs(change) >= _EDGE_W  # (a change not seen is 0)
        small = seen ^ edge  # seen, not an edge
        edges = np.count_nonzero(edge)
        run = self.run[s]
        pending = run != _ZERO
        # A step is complete at an edge of the other sign, past merge_ms, or across a gap.
        if np.count_nonzero(pending):
            done = pending & ((edge & (np.sign(change) != np.sign(run)))
                              | (ts - self.run_last_ms[s] > merge_ms) | ~seen)
            stepped = bool(np.count_nonzero(done))
        else:
            done, stepped = pending, False
        if stepped or edges:
            step = np.where(done, run, 0.0)
            step_ms = np.where(done, self.run_first_ms[s], 0)
            head = np.where(done, self.run_head[s], 0.0)
            fresh = edge & (done | ~pending)
            grow = edge & ~fresh
            self.run[s] = np.where(fresh, change, np.where(grow, run + change,
                                                           np.where(done, 0.0, run)))
            self.run_first_ms[s[fresh]] = ts[fresh]
            self.run_head[s[fresh]] = change[fresh]
            self.run_last_ms[s[edge]] = ts[edge]
        else:  # no edge, no step: the step being gathered stays as it is
            step = head = np.zeros(s.size)  # (read only)
            step_ms = np.zeros(s.size, np.int64)

        # Every sum's increment of this report, added at once (zeros elsewhere).
        smalls = seens - edges  # (an edge is seen)
        moves = change if smalls == s.size else np.where(small, change, 0.0)
        add = np.zeros((s.size, self.SUMS))
        add[:, self.TOTAL] = moves
        add[:, self.SQUARES] = moves * moves
        add[:, self.CROSS] = moves * self.prev_small[s]
        add[:, self.MOVES] = small
        add[:, self.FALLS] = moves < _ZERO
        add[:, self.RISES] = moves > _ZERO
        add[:, self.EDGES] = edge
        if smalls:
            at, moved, apart = (s, moves, since) if smalls == s.size else \
                (s[small], moves[small], since[small])
            clip = CLIPS * np.maximum(apart / _MINUTE_MS, _ONE)[:, None]
            # np.clip's own checks cost more than the two comparisons on a report or two.
            self.clipped[at] = self.clipped.take(at, axis=0) \
                + np.minimum(np.maximum(moved[:, None], -clip), clip)
        block = self.block[s] + moves
        ended = ts - self.block_ms[s] >= _BLOCK_MS
        if np.count_nonzero(ended):  # once a BLOCK_MS
            add[:, self.BLOCKS] = ended
            add[:, self.BLOCK_FALLS] = ended & (block < 0)
            add[:, self.BLOCK_RISES] = ended & (block > 0)
            block = np.where(ended, 0.0, block)
            self.block_ms[s[ended]] = ts[ended]
        self.sums[s] = self.sums.take(s, axis=0) + add
        self.block[s] = block
        self.prev_small[s] = moves  # 0 after a change that was not small
        self.last[s], self.last_ts[s] = x, ts
        return EdgeView(change, small, step, step_ms, head, stepped, bool(edges))

    def glide(self, s: IntArray, since: FloatArray) -> Glide:
        """The small changes of ``s`` since the snapshots ``since`` (shape (len(s), k, SUMS):
        ``k`` moments per device, rows of ``sums`` taken then)."""
        d = self.sums.take(s, axis=0)[:, None, :] - since
        return Glide(d[..., self.TOTAL], d[..., self.SQUARES], d[..., self.CROSS],
                     d[..., self.MOVES], d[..., self.FALLS], d[..., self.EDGES],
                     d[..., self.BLOCKS], d[..., self.BLOCK_FALLS], d[..., self.RISES],
                     d[..., self.BLOCK_RISES])


CLIPS: FloatArray = np.asarray(EdgeSplitter.CLIPS_W)[None, :]


_ZERO, _ONE, _EDGE_W = (constant(v, np.float64) for v in (0.0, 1.0, EdgeSplitter.EDGE_W))
_GAP_MS, _BLOCK_MS, _MINUTE_MS = (constant(v, np.int64) for v in (
    EdgeSplitter.GAP_MS, EdgeSplitter.BLOCK_MS, MINUTE_MS))
