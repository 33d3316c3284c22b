"""The e-bike charging rule's step on one round of reports, compiled (``compiled``): what
``EbikeChargingDetector`` (its docstring says what the rule is) does with each report, one
device after another. The state is the detector's own arrays, passed in the order of its
``DEVICE_STATE`` (``RuleState``); its constants come in an array (``RULE_P``), so a rule whose
constants were changed for a run is compiled once.

Arithmetic follows numpy's on the same arrays: the candidates' levels in float64 from their
float32 state, and float32 where numpy multiplies a float32 array by a Python number.
"""

from __future__ import annotations

import numpy as np

from gongzhi.gateway.detection.arithmetic import maximum, minimum
from gongzhi.gateway.detection.compiled import compiled
from gongzhi.gateway.detection.corridor import BucketState, add_report
from gongzhi.gateway.detection.edges import (
    BLOCK_FALLS,
    BLOCK_RISES,
    CLIP_0,
    CROSS,
    EDGES,
    FALLS,
    MOVES,
    RISES,
    SQUARES,
    TOTAL,
    EdgeState,
    split,
)
from gongzhi.gateway.detection.track import (
    BoolArray,
    Float32Array,
    FloatArray,
    IntArray,
    TrackState,
    advance,
    at_rest,
)
from gongzhi.gateway.detection.window import window_add, window_peak

IDLE, CC, CV = 0, 1, 2
NO_SLOT = -1
_NUMBERS, _FLAGS = 6, 5  # rows of a round's scratch (``_stages``)

# The rule's constants, by position in ``params`` (``EbikeChargingDetector.params``).
RULE_P = ("STEP_MIN_W", "STEP_MAX_W", "OFF_SHARE", "OFF_W", "CREEP_SHARE", "BAND_SHARE",
          "BAND_W", "CC_MIN_MS", "CC_MAX_MS", "CV_MAX_MS", "ROOM_SHARE", "BACK_SHARE",
          "TAPER_SHARE", "GLIDE_MOVES", "GLIDE_T", "SIGN_Z", "BLOCK_SIGN_Z", "BLOCKS_MIN",
          "LANDING_EDGES_MAX", "GLIDE_VAR_MIN", "SETTLE_MS", "CLIP_SHARE", "CLIPPED_SHARE",
          "RISE_SHARE", "RISE_W", "FINISHED_SHARE", "MERGE_MS", "LANDING_MERGE_MS",
          "QUIET_KNOWN_MS")
(STEP_MIN_W, STEP_MAX_W, OFF_SHARE, OFF_W, CREEP_SHARE, BAND_SHARE, BAND_W, CC_MIN_MS, CC_MAX_MS,
 CV_MAX_MS, ROOM_SHARE, BACK_SHARE, TAPER_SHARE, GLIDE_MOVES, GLIDE_T, SIGN_Z, BLOCK_SIGN_Z,
 BLOCKS_MIN, LANDING_EDGES_MAX, GLIDE_VAR_MIN, SETTLE_MS, CLIP_SHARE, CLIPPED_SHARE, RISE_SHARE,
 RISE_W, FINISHED_SHARE, MERGE_MS, LANDING_MERGE_MS, QUIET_KNOWN_MS) = range(len(RULE_P))

I8Array = np.ndarray[tuple[int, ...], np.dtype[np.int8]]
I32Array = np.ndarray[tuple[int, ...], np.dtype[np.int32]]
# ``EbikeChargingDetector.DEVICE_STATE``'s arrays, in its order.
RuleState = tuple[I8Array, IntArray, Float32Array, Float32Array, Float32Array, FloatArray,
                  Float32Array, IntArray, FloatArray, FloatArray, Float32Array, Float32Array,
                  BoolArray, I8Array, IntArray, Float32Array, Float32Array, IntArray,
                  Float32Array, Float32Array, I32Array, I32Array, FloatArray, FloatArray,
                  FloatArray, IntArray, FloatArray]
# The quiet floor's window (``LoadFloor``: its ``WindowMax``'s value and bucket, its width,
# and the devices' first reports).
FloorState = tuple[Float32Array, IntArray, int, IntArray]


@compiled
def observe_round(r: RuleState, e: EdgeState, floor: FloorState, buckets: BucketState,
                  track: TrackState, clear_hold_ms: int, p: FloatArray, edge_p: FloatArray,
                  s: IntArray, ts: IntArray, power: FloatArray, signal: FloatArray,
                  landing: BoolArray, corridor_row: IntArray, start: int) -> tuple[int, int]:
    """Each device ``s[i]``'s report at ``ts[i]`` from row ``start`` on (a device's reports in
    time order): its ``power`` and the ``signal`` the rule reads (its own power on a household's
    circuit, the corridor's own load on a landing's; NaN: not known, the report is passed
    over). Stops after the first report whose alarm moved (``track.advance``), so that the
    caller reads the alarm's evidence as it was then: returns the row after it (the rows' count
    when none moved) and the move. ``buckets``: the corridor's sums, where each report is added
    (``landing`` empty: no landing in the registry, and the sums are added here; else the
    caller added them, to form ``signal``)."""
    # (Taken out of their tuples once: an array taken from a tuple in the loop costs a
    # reference count at every report.)
    phase, recognised, alarm_slot, last_signal, run_before = r[0], r[12], r[13], r[22], r[23]
    run_first_ms, sums = e[4], e[6]
    track_state, track_pending = track[0], track[1]
    window, window_bucket, width, first_ms = floor
    bucket, total_w, count = buckets
    slots = phase.shape[1]
    level = np.empty(slots)
    # Per candidate, what a step works out before it changes anything (allocated once a call:
    # an allocation costs as much as a candidate's stage).
    numbers = np.empty((_NUMBERS, slots))
    flags = np.empty((_FLAGS, slots), np.bool_)
    for i in range(start, s.size):
        j, t, x = s[i], ts[i], signal[i]
        if x != x:  # not reported, or a landing's corridor load not known yet
            continue
        if landing.size == 0:
            add_report(bucket, total_w, count, j, t, x)
        window_add(window, window_bucket, width, j, t, -x)
        if first_ms[j] <= 0:
            first_ms[j] = t
        merge = p[LANDING_MERGE_MS] if landing.size and landing[i] else p[MERGE_MS]
        change, small, step, step_ms, head, edge = split(e, edge_p, j, t, x, int(merge))
        stepped = step != 0.0
        followed = _followed(phase, j)
        if stepped or followed:
            _settling(r, p, j, t, change, small, step, step_ms)
        # The load before the step completed now, then that of a step whose first edge is now.
        before = run_before[j]
        if edge and run_first_ms[j] == t:
            run_before[j] = last_signal[j]
        last_signal[j] = x
        total = sums[j, TOTAL]
        if stepped:
            _level(r, j, total, level)
            # A charger switched on a report before a large appliance: the step's first edge.
            own = head if (p[STEP_MIN_W] <= head <= p[STEP_MAX_W]
                           and step - head > p[STEP_MAX_W]) else step
            _steps(r, e, p, j, own, step, before, x, step_ms, level, total, flags)
            followed = _followed(phase, j)
        on = alarm_slot[j] != NO_SLOT
        live, extra = False, 0.0
        if followed or on:
            _level(r, j, total, level)
        if followed:
            quiet = -window_peak(window, window_bucket, width, j, t)
            quiet_known = t - first_ms[j] >= p[QUIET_KNOWN_MS]
            _stages(r, e, edge_p, p, j, t, x, quiet, quiet_known, level, corridor_row[j] >= 0,
                    numbers, flags)
            on = alarm_slot[j] != NO_SLOT
        if on:
            slot = alarm_slot[j]
            if phase[j, slot] != IDLE and recognised[j, slot]:
                live, extra = True, level[slot]
            else:
                alarm_slot[j] = NO_SLOT
        if at_rest(track_state[j], track_pending[j], live):
            continue
        move = advance(track, clear_hold_ms, j, t, live, not live, 0, power[i], extra)
        if move:
            return i + 1, move
    return s.size, 0


@compiled
def _followed(phase: I8Array, j: int) -> bool:
    for k in range(phase.shape[1]):  # noqa: SIM110 (compiled: a loop, not a generator)
        if phase[j, k] != IDLE:
            return True
    return False


@compiled
def _level(r: RuleState, j: int, total: float, out: FloatArray) -> None:
    """The level of each candidate of ``j``: its step and the small changes since it."""
    step, base = r[2], r[5]
    for k in range(out.size):
        out[k] = float(step[j, k]) + (total - base[j, k])


@compiled
def _settling(r: RuleState, p: FloatArray, j: int, t: int, change: float, small: bool,
              step: float, step_ms: int) -> None:
    """A small fall within ``SETTLE_MS`` of the first edge of the step that started a
    candidate is that load's settling: the candidates begun before it do not take it in
    (their base moves with it); that candidate keeps count, to give back less when it ends."""
    phase, on_ms, base, up_ms, settled_out = r[0], r[1], r[5], r[25], r[26]
    if step > 0.0 and p[STEP_MIN_W] <= step <= p[STEP_MAX_W]:
        up_ms[j] = step_ms
    since = up_ms[j]
    if not (small and change < 0.0 and since > 0 and t - since < p[SETTLE_MS]):
        return
    own = older = False
    for k in range(phase.shape[1]):
        own |= phase[j, k] != IDLE and on_ms[j, k] == since
    if not own:
        return
    for k in range(phase.shape[1]):
        if phase[j, k] != IDLE and on_ms[j, k] < since:
            base[j, k] += change
            older = True
    if older:
        for k in range(phase.shape[1]):
            if phase[j, k] != IDLE and on_ms[j, k] == since:
                settled_out[j, k] += change


@compiled
def _steps(r: RuleState, e: EdgeState, p: FloatArray, j: int, step: float, whole: float,
           before: float, signal: float, step_ms: int, level: FloatArray, total: float,
           flags: BoolArray) -> None:
    """A completed step down ends the candidate whose level it matches best, and any
    candidate it takes the circuit back to where it was before that candidate's step; a
    step up of a charger's size starts a candidate."""
    phase, on_ms, step_, whole_, before_, base, top = r[0], r[1], r[2], r[3], r[4], r[5], r[6]
    recognised, alarm_slot, step_edges, settled_out = r[12], r[13], r[24], r[26]
    slots = phase.shape[1]
    if step < 0.0:
        off = -whole
        matched, ended = flags[0], flags[1]
        matched[:] = False
        ended[:] = False
        best, best_miss = -1, np.inf
        for k in range(slots):
            if phase[j, k] == IDLE:
                continue
            miss = abs(level[k] - off)
            # A candidate that came as the head of a larger step ends with that step's
            # switch-off (a microwave's or a kettle's first minute, averaged by the meter),
            # when that is closer to the whole than to the larger appliance alone.
            their_whole, their_step = whole_[j, k], step_[j, k]
            size = level[k]
            whole_miss = abs(float(their_whole) - off)
            if their_whole > their_step and whole_miss < abs(float(their_whole - their_step)
                                                             - off):
                miss = minimum(miss, whole_miss)
                size = maximum(level[k], float(their_whole))
            tolerance = max(p[OFF_SHARE] * level[k], p[OFF_W])
            match = miss <= max(p[OFF_SHARE] * size, p[OFF_W])
            # A charger does not switch off in one step on the upper part of its taper (it
            # glides down, and cuts off at its end): a step down there matching a candidate's
            # level that leaves the circuit still drawing that level above the load before
            # its step was another load of its size switching off.
            upper = phase[j, k] == CV and level[k] >= float(
                np.float32(1.0 - p[TAPER_SHARE]) * top[j, k])
            if upper and signal - float(before_[j, k]) >= level[k] - tolerance:
                match = False
            matched[k] = match
            if match and miss < best_miss:
                best, best_miss = k, miss
            # A load that switched off in a step that did not match its level (its level took
            # in its own settling, or a meter's averaging split it): a step down as large as
            # half the candidate that leaves the circuit where it was before its step.
            if off >= p[BACK_SHARE] * level[k] and abs(signal - float(before_[j, k])) <= tolerance:
                ended[k] = True
        if best >= 0:
            ended[best] = True
        # What a load that ended on its own matched switch-off glided while it ran (a fridge's
        # compressor settling after its start) was its own: the candidates that began before
        # it get it back.
        for c in range(slots):
            if not (ended[c] and matched[c]):
                continue
            own = level[c] - float(step_[j, c])
            settled = min(max(off - float(step_[j, c]), own) - settled_out[j, c], 0.0)
            for k in range(slots):
                if phase[j, k] != IDLE and on_ms[j, k] < on_ms[j, c]:
                    base[j, k] += settled  # base lower: level higher (settled is a fall)
        for k in range(slots):
            if ended[k]:
                phase[j, k] = IDLE

    # While a charge is recognised, the circuit's small changes are its taper's: a candidate
    # started now would glide with it.
    if not (p[STEP_MIN_W] <= step <= p[STEP_MAX_W] and alarm_slot[j] == NO_SLOT):
        return
    # A free slot, else the candidate on its plateau that began first (a taper is kept; with
    # every slot on its taper, the first).
    col, first = 0, -1
    for k in range(slots):
        if phase[j, k] == IDLE:
            col = k
            break
        if phase[j, k] == CC and (first < 0 or on_ms[j, k] < first):
            col, first = k, on_ms[j, k]
    phase[j, col] = CC
    on_ms[j, col] = step_ms
    step_[j, col] = step
    whole_[j, col] = whole
    before_[j, col] = before
    top[j, col] = step
    base[j, col] = total
    settled_out[j, col] = 0.0
    step_edges[j, col] = e[6][j, EDGES]
    recognised[j, col] = False


@compiled
def _stages(r: RuleState, e: EdgeState, edge_p: FloatArray, p: FloatArray, j: int, t: int,
            signal: float, quiet: float, quiet_known: bool, level: FloatArray, landing: bool,
            numbers: FloatArray, flags: BoolArray) -> None:
    phase, on_ms, step, top, cv_ms, cv_sums = r[0], r[1], r[2], r[6], r[7], r[8]
    cv_clipped, cv_level, low, recognised, alarm_slot = r[9], r[10], r[11], r[12], r[13]
    ev_on_ms, ev_top, ev_low, ev_cv_ms, ev_base = r[14], r[15], r[16], r[17], r[18]
    ev_glide, ev_moves, ev_edges = r[19], r[20], r[21]
    sums = e[6]
    slots = phase.shape[1]
    tops, lows, glide_total = numbers[0], numbers[1], numbers[2]
    glide_moves, glide_edges, was = numbers[3], numbers[4], numbers[5]
    ended, deep, to_cv, back, again = flags[0], flags[1], flags[2], flags[3], flags[4]
    deep[:] = False
    glide_total[:] = 0.0
    glide_moves[:] = 0.0
    glide_edges[:] = 0.0
    for k in range(slots):
        was[k] = phase[j, k]
    share = 1.0 - p[TAPER_SHARE]
    for k in range(slots):
        cc, cv, lv = was[k] == CC, was[k] == CV, level[k]
        # Constant current: the plateau creeps up, never down; a fall out of its band after
        # CC_MIN_MS begins the taper, before it the load was something else.
        tp = float(top[j, k])
        if cc:
            cap = step[j, k] * np.float32(1.0 + p[CREEP_SHARE]) + np.float32(p[BAND_W])
            tp = maximum(tp, minimum(lv, float(cap)))
        top[j, k] = tp
        tops[k] = tp
        band = max(p[BAND_SHARE] * tp, p[BAND_W])
        falling = cc and lv < tp - band
        held = t - on_ms[j, k] >= p[CC_MIN_MS]
        to_cv[k] = falling and held
        ended[k] = (falling and not held and lv < share * tp) \
            or (cc and t - on_ms[j, k] > p[CC_MAX_MS])
        # Constant voltage: the taper glides down without climbing back.
        lows[k] = minimum(float(low[j, k]), lv) if cv else lv
        climbed = cv and lv > lows[k] + max(p[RISE_SHARE] * tp, p[RISE_W])
        back[k] = climbed and lv >= tp - band
        # Climbed, not back to the plateau: another load's wander; the glide starts again.
        again[k] = climbed and not back[k]
        if cv:
            # Only candidates on their taper, deep enough and not yet recognised, can be
            # recognised now: the glide is read for those (most tapers are not that deep yet).
            if not climbed and lv <= share * tp and not recognised[j, k]:
                deep[k], glide_total[k], glide_moves[k], glide_edges[k] = _glides(
                    r, e, edge_p, p, j, k, tp, landing)
            ended[k] |= lv < p[FINISHED_SHARE] * tp or t - cv_ms[j, k] > p[CV_MAX_MS]
        # The circuit must still draw the candidate's load.
        ended[k] |= (cc or cv) and quiet_known and signal - quiet < p[ROOM_SHARE] * lv
    for k in range(slots):
        low[j, k] = lows[k]
        if to_cv[k]:
            phase[j, k] = CV
            cv_ms[j, k] = t
            cv_sums[j, k] = sums[j]
            cv_clipped[j, k] = _clipped(e, edge_p, p, j, top[j, k])
            cv_level[j, k] = level[k]
            low[j, k] = level[k]
        if back[k]:
            phase[j, k] = CC
        # The glide is counted from the taper's highest level: back above where it began, the
        # plateau was still on (its wander took it below its band for a while).
        if (was[k] == CV and not ended[k] and level[k] > float(cv_level[j, k])) or again[k]:
            cv_sums[j, k] = sums[j]
            cv_clipped[j, k] = _clipped(e, edge_p, p, j, top[j, k])
            cv_level[j, k] = maximum(level[k], float(cv_level[j, k]))
            low[j, k] = minimum(level[k], float(low[j, k]))
        if ended[k]:
            phase[j, k] = IDLE

    # The first recognised candidate is the device's alarm while it lasts.
    pick = -1
    for k in range(slots):
        if deep[k] and not ended[k] and not recognised[j, k]:
            recognised[j, k] = True
            if pick < 0:
                pick = k
    if pick < 0 or alarm_slot[j] != NO_SLOT:
        return
    alarm_slot[j] = pick
    for k in range(slots):  # the others glided with it: they end
        if k != pick:
            phase[j, k] = IDLE
    ev_on_ms[j] = on_ms[j, pick]
    ev_top[j] = tops[pick]
    ev_low[j] = level[pick]
    ev_cv_ms[j] = cv_ms[j, pick]
    ev_base[j] = signal - level[pick]
    ev_glide[j] = glide_total[pick]
    ev_moves[j] = int(glide_moves[pick])
    ev_edges[j] = int(glide_edges[pick])


@compiled
def _glides(r: RuleState, e: EdgeState, edge_p: FloatArray, p: FloatArray, j: int, k: int,
            top: float, landing: bool) -> tuple[bool, float, float, float]:
    """Whether candidate ``k`` of ``j`` (on its taper, its level deep enough) falls as a taper
    glides (``top``: its plateau); with its glide's total, count and edges since the glide
    began."""
    cv_sums, cv_clipped, step_edges = r[8], r[9], r[24]
    sums = e[6]
    total, moves = sums[j, TOTAL] - cv_sums[j, k, TOTAL], sums[j, MOVES] - cv_sums[j, k, MOVES]
    squares = sums[j, SQUARES] - cv_sums[j, k, SQUARES]
    cross = sums[j, CROSS] - cv_sums[j, k, CROSS]
    falls, rises = sums[j, FALLS] - cv_sums[j, k, FALLS], sums[j, RISES] - cv_sums[j, k, RISES]
    block_falls = sums[j, BLOCK_FALLS] - cv_sums[j, k, BLOCK_FALLS]
    block_rises = sums[j, BLOCK_RISES] - cv_sums[j, k, BLOCK_RISES]
    # The long-run standard deviation of the total: sqrt(n x (variance + 2 x lag-1
    # covariance)), never less than one change's x sqrt(2). A load that wanders has changes
    # that do not cancel; a meter's noise has changes that do (a high reading is followed by
    # a fall).
    n = max(moves, 1.0)
    mean = total / n
    var = max(squares / n - mean * mean, p[GLIDE_VAR_MIN])
    cov = cross / n - mean * mean
    spread = np.sqrt(max(n * (var + 2 * cov), 2 * var))
    # Sign test: as many falls as rises is a wander; a taper falls at most reports. A slow
    # taper's reports are mostly noise: then its BLOCK_MS blocks fall. (A report that did not
    # move, as a landing's median between its buckets, counts for neither.)
    signs = _sign_z(falls, rises)
    blocks = block_falls + block_rises
    block_signs = _sign_z(block_falls, block_rises)
    glided = moves >= p[GLIDE_MOVES] and total <= -p[GLIDE_T] * spread \
        and (signs >= p[SIGN_Z] or (block_signs >= p[BLOCK_SIGN_Z] and blocks >= p[BLOCKS_MIN]))
    # The fall counted with each report's change clipped at CLIP_SHARE of the plateau: a taper
    # falls a little at every report, appliances switching off (lamps, a computer) fall by
    # their size at a few.
    clipped_fall = cv_clipped[j, k] - _clipped(e, edge_p, p, j, r[6][j, k])
    quiet = not landing or sums[j, EDGES] - step_edges[j, k] <= p[LANDING_EDGES_MAX]
    glides = glided and quiet and clipped_fall >= p[CLIPPED_SHARE] * p[TAPER_SHARE] * top
    return glides, total, moves, sums[j, EDGES] - cv_sums[j, k, EDGES]


@compiled
def _sign_z(falls: float, rises: float) -> float:
    """How far more falls than rises stand out of a fair coin's, in standard deviations."""
    return float((falls - rises) / np.sqrt(max(falls + rises, 1.0)))


@compiled
def _clipped(e: EdgeState, edge_p: FloatArray, p: FloatArray, j: int,
             top: np.float32) -> float:
    """The small changes' clipped total of ``j`` now, at the clip that suits a candidate whose
    plateau is ``top``: the largest of the clips not past ``CLIP_SHARE`` of it (the smallest,
    for a small plateau)."""
    clipped = e[7]
    want = float(np.float32(p[CLIP_SHARE]) * top)
    which = 0
    for c in range(1, clipped.shape[1]):
        if edge_p[CLIP_0 + c] <= want:
            which = c
    return float(clipped[j, which])
