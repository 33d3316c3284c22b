"""Each fault kind, injected by a scenario into the small estate: what the devices send, and the
ground truth written for it. The gateway's own decoder checks the messages against the contract.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sim_helpers import MIDNIGHT_CST, Run, layout_of, longest_run_ms, max_drop_within, run

from gongzhi.core.clock import ManualClock
from gongzhi.core.errors import RejectedMessage
from gongzhi.devices.catalogue import DeviceType
from gongzhi.gateway.decode import Decoder
from gongzhi.gateway.messages import RawMessage
from gongzhi.simulators.engine import SimulationEngine
from gongzhi.simulators.estate import Role
from gongzhi.simulators.faults import FAULT_KINDS
from gongzhi.simulators.faults.smoke import FIRE_DRAWS
from gongzhi.simulators.outgoing import Link, LinkAction
from gongzhi.simulators.scenario import load_scenario
from gongzhi.simulators.signals.electrical import charger_power_w

MINUTE = 60_000
START = MIDNIGHT_CST + 10 * 3_600_000
AT = START + MINUTE


def inject(kind: str, *, duration: str | None = None, params: str = "",
           target: str = "", sim_ms: int = 20 * MINUTE, **kw: object) -> Run:
    extra = ((f", duration: {duration}" if duration else "")
             + (f", params: {{{params}}}" if params else "")
             + (f", target: {{{target}}}" if target else ""))
    return run(f"faults:\n  - {{at: 1m, kind: {kind}{extra}}}\n", sim_ms, **kw)  # type: ignore[arg-type]


def only_truth(r: Run) -> dict[str, Any]:
    assert len(r.truth) == 1
    return r.truth[0].to_dict()


def test_every_fault_kind_has_a_test_here() -> None:
    tested = {"fire", "smoke_alarm", "cooking_smoke", "tamper", "low_battery", "burst_pipe",
              "pump_failure", "pressure_low", "over_pressure", "leakage_rising",
              "loose_terminal", "overcurrent", "voltage_sag", "ebike_charging", "arc_fault",
              "sensor_stuck", "sensor_drift", "device_offline", "device_offline_will",
              "power_cut", "garbage", "duplicate", "replay", "out_of_order", "clock_skew",
              "no_activity", "away", "water_leak"}  # the last two: test_sim_living.py
    assert set(FAULT_KINDS) == tested


# Smoke ---------------------------------------------------------------------------------------

FLAMING = ("mode: flaming, growth_db_m_s2: 0.00007, peak_db_m: 4.0, temp_rise_c: 40, "
           "corridor_delay_s: 60, corridor_share: 0.5")


def test_fire_spreads_from_the_household_to_its_corridor_with_heat() -> None:
    r = inject("fire", duration="8m", params=FLAMING)
    truth = only_truth(r)
    household, corridor = truth["devices"]
    assert truth["expected"]["kind"] == "fire"
    assert truth["also"] == ["smoke_alarm"]
    assert r.engine.role(r.engine.ids[corridor]) is Role.CORRIDOR_SMOKE
    first_alarm = {}
    for device in (household, corridor):
        ts, smoke = r.series(device, "smoke_db_m")
        window = (ts >= AT) & (ts < AT + 8 * MINUTE)
        assert longest_run_ms(ts[window], smoke[window] >= 0.2) >= 60_000
        first_alarm[device] = ts[window][smoke[window] >= 0.2][0]
        assert [e["event"] for e in r.events(device)] == ["smoke_alarm"]
        # During the incident the detector reports every second.
        assert np.diff(ts[window]).max() <= 1_000
    assert first_alarm[corridor] > first_alarm[household] + 30_000
    ts, temp = r.series(household, "temp_c")
    before = temp[ts < AT].mean()
    assert temp[(ts > AT + 5 * MINUTE) & (ts < AT + 8 * MINUTE)].min() > before + 30


def test_a_smouldering_fire_stays_on_one_detector_for_minutes_without_heat() -> None:
    r = inject("fire", sim_ms=30 * MINUTE, params=(
        "mode: smouldering, growth_db_m_s2: 0.000002, peak_db_m: 1.5, temp_rise_c: 6, "
        "corridor_delay_s: 600, corridor_share: 0.4"))
    truth = only_truth(r)
    household, corridor = truth["devices"]
    assert truth["end_ms"] - truth["start_ms"] == 45 * MINUTE
    assert truth["detail"]["mode"] == "smouldering"
    ts, smoke = r.series(household, "smoke_db_m")
    first = ts[smoke >= 0.2][0]
    # 0.2 dB/m after sqrt(0.2 / 2e-6) = 316 s.
    assert AT + 310_000 <= first <= AT + 325_000
    ts_c, smoke_c = r.series(corridor, "smoke_db_m")
    assert ts_c[smoke_c >= 0.2][0] > first + 10 * MINUTE
    ts, temp = r.series(household, "temp_c")
    assert temp[ts > AT].max() - temp[ts < AT].mean() < 8


def test_fault_parameters_are_drawn_from_their_ranges() -> None:
    """Fires from fast flaming to slow smouldering, cooking from seconds to minutes."""
    sim = _DrawingSim()
    fires = [FAULT_KINDS["fire"](f"f{n}", 0, 0, None, {}, sim) for n in range(300)]
    modes = [f.p["mode"] for f in fires]
    assert 0.3 < modes.count("smouldering") / len(modes) < 0.5
    for fire in fires:
        low, high, _ = FIRE_DRAWS[fire.p["mode"]]["growth_db_m_s2"]
        assert low <= fire.p["growth_db_m_s2"] <= high
    smouldering = [f for f in fires if f.p["mode"] == "smouldering"]
    assert max(f.p["temp_rise_c"] for f in smouldering) < 10
    assert max(f.end_ms for f in smouldering) == 45 * MINUTE
    to_alarm = [np.sqrt(0.2 / f.p["growth_db_m_s2"]) for f in fires]
    assert min(to_alarm) < 30 and max(to_alarm) > 300  # seconds from ignition to 0.2 dB/m
    cooking = [FAULT_KINDS["cooking_smoke"](f"c{n}", 0, 0, None, {}, sim) for n in range(300)]
    seconds = np.array([c.end_ms / 1000 for c in cooking])
    assert seconds.min() < 6 and seconds.max() > 180
    peaks = np.array([c.p["peak_db_m"] for c in cooking])
    assert 0.4 < (peaks > 0.2).mean() < 0.7
    assert max(c.p["temp_rise_c"] for c in cooking) < 10
    chargers = [FAULT_KINDS["ebike_charging"](f"e{n}", 0, 0, None, {}, sim) for n in range(300)]
    real = [c for c in chargers if c.p["charger"] == "48v"]
    assert 0.2 < len(real) / len(chargers) < 0.4
    assert all(95 <= c.p["power_w"] <= 115 for c in real)
    hours = np.array([c.end_ms / 3_600_000 for c in chargers])
    watts = np.array([c.p["power_w"] for c in chargers])
    assert 1.0 <= hours.min() < 1.5 and 4.5 < hours.max() <= 5.0
    assert watts.min() < 100 and watts.max() > 380


class _DrawingSim:
    """Just what a fault needs to draw its parameters."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(3)

    def role(self, device: int) -> Role:
        return Role.HOUSEHOLD_ELECTRICAL

    def same_landing(self, device: int, roles: tuple[Role, ...]) -> list[int]:
        return []


def test_smoke_alarm_is_one_detector_without_heat() -> None:
    r = inject("smoke_alarm", target="elderly_alone: true")
    truth = only_truth(r)
    device = truth["device_id"]
    assert truth["expected"] == {"kind": "smoke_alarm", "severity": "critical",
                                 "assignee": "property_office",
                                 "notified": ["residents_committee"]}
    events = r.events(device)
    assert [e["event"] for e in events] == ["smoke_alarm"]
    assert AT + 5_000 <= events[0]["ts"] <= AT + 20_000
    ts, temp = r.series(device, "temp_c")
    assert np.ptp(temp[(ts > AT - 5 * MINUTE) & (ts < AT + 90_000)]) < 2.5


def test_cooking_smoke_is_a_short_spike_without_alarm() -> None:
    r = inject("cooking_smoke", params="peak_db_m: 0.34, duration_s: 4")
    truth = only_truth(r)
    assert truth["expected"] is None and truth["outcome"] == "none"
    ts, smoke = r.series(truth["device_id"], "smoke_db_m")
    assert smoke.max() >= 0.2
    # Seen by the detector's 1 s reports, and above the alarm level for less than 5 s.
    assert np.diff(ts[smoke >= 0.1]).max() <= 1_000
    assert longest_run_ms(ts, smoke >= 0.2) < 5_000
    assert r.events(truth["device_id"]) == []


def test_long_cooking_smoke_sounds_the_detector_without_heat() -> None:
    """Nuisance the detector cannot tell from a fire's first smoke: a smoke_alarm, no fire."""
    r = inject("cooking_smoke", params="peak_db_m: 0.8, duration_s: 150, temp_rise_c: 5")
    truth = only_truth(r)
    assert truth["expected"] is None and truth["end_ms"] - truth["start_ms"] == 150_000
    device = truth["device_id"]
    ts, smoke = r.series(device, "smoke_db_m")
    assert longest_run_ms(ts, smoke >= 0.2) >= 60_000
    assert [e["event"] for e in r.events(device)] == ["smoke_alarm"]
    ts, temp = r.series(device, "temp_c")
    assert temp[ts > AT].max() - temp[ts < AT].mean() < 7


def test_tamper_and_arc_fault_are_device_events() -> None:
    for kind, event in (("tamper", "tamper"), ("arc_fault", "arc_fault")):
        r = inject(kind)
        truth = only_truth(r)
        events = r.events(truth["device_id"])
        assert [e["event"] for e in events] == [event]
        assert events[0]["ts"] == AT
    assert only_truth(inject("tamper"))["expected"]["assignee"] == "police_room"


def test_low_battery_reads_low_and_says_so_once() -> None:
    r = inject("low_battery", duration="10m", params="battery_pct: 17")
    device = only_truth(r)["device_id"]
    ts, battery = r.series(device, "battery_pct")
    during = (ts >= AT) & (ts < AT + 10 * MINUTE)
    assert (battery[during] == 17).all() and (battery[ts < AT] > 20).all()
    assert [e["event"] for e in r.events(device)] == ["low_battery"]


# Water ---------------------------------------------------------------------------------------

def _pressure(r: Run, device: str) -> tuple[np.ndarray, np.ndarray]:
    return r.series(device, "pressure_mpa")


def test_burst_pipe_is_a_sudden_drop() -> None:
    r = inject("burst_pipe")
    ts, p = _pressure(r, only_truth(r)["device_id"])
    assert max_drop_within(ts[ts < AT], p[ts < AT], MINUTE) < 0.02
    assert max_drop_within(ts, p, MINUTE) >= 0.07


def test_pump_failure_declines_slowly_below_the_low_level_on_every_riser() -> None:
    r = inject("pump_failure", sim_ms=60 * MINUTE)
    assert [t.expected.kind.value for t in r.truth] == ["water_pressure_low"] * 2
    for line in r.truth:
        ts, p = _pressure(r, line.device_id)
        assert max_drop_within(ts, p, MINUTE) < 0.05  # never a "sudden drop"
        assert longest_run_ms(ts, p < 0.10) > 30_000
        assert p[ts < AT].min() > 0.15


def test_low_pressure_is_sustained_below_the_alarm_level() -> None:
    r = inject("pressure_low")
    ts, p = _pressure(r, only_truth(r)["device_id"])
    assert longest_run_ms(ts, p < 0.10) > 60_000
    assert max_drop_within(ts, p, MINUTE) < 0.05


def test_over_pressure_is_sustained_above_the_alarm_level() -> None:
    r = inject("over_pressure")
    truth = only_truth(r)
    assert r.engine.role(r.engine.ids[truth["device_id"]]) is Role.PUMP_ROOM
    ts, p = _pressure(r, truth["device_id"])
    assert longest_run_ms(ts, p > 1.0) > 60_000


def test_sensor_drift_departs_linearly_from_the_truth() -> None:
    faulty = inject("sensor_drift", params="rate_mpa_per_h: 0.03", sim_ms=30 * MINUTE)
    clean = run("name: quiet\n", 30 * MINUTE)
    device = only_truth(faulty)["device_id"]
    ts, p = _pressure(faulty, device)
    ts0, p0 = _pressure(clean, device)
    assert (ts == ts0).all()
    expected = np.clip((ts - AT) / 3_600_000, 0, None) * 0.03
    assert np.abs((p - p0) - expected).max() <= 1.0001e-4  # payloads carry 0.0001 MPa


# Electrical ----------------------------------------------------------------------------------

def test_leakage_rises_past_300_mA() -> None:
    r = inject("leakage_rising", params="peak_ma: 450")
    ts, leak = r.series(only_truth(r)["device_id"], "residual_ma")
    assert leak[ts < AT].max() < 200
    assert longest_run_ms(ts, leak >= 300) >= 3 * MINUTE
    assert leak.max() == pytest.approx(450, abs=20)


def test_loose_terminal_heats_the_cable_with_a_lag_at_unchanged_load() -> None:
    r = inject("loose_terminal", sim_ms=50 * MINUTE, params="rise_c: 60")
    device = only_truth(r)["device_id"]
    ts, cable = r.series(device, "cable_temp_c")
    assert cable[ts < AT].max() < 45
    assert cable[(ts >= AT) & (ts < AT + MINUTE)].max() < cable[ts < AT].max() + 6
    assert longest_run_ms(ts, cable >= 70) > 60_000


def test_overcurrent_is_above_the_rating_with_consistent_power() -> None:
    r = inject("overcurrent", params="multiple: 1.3")
    device = only_truth(r)["device_id"]
    payloads = [p for p in r.telemetry(device) if AT < p["ts"] < AT + 4 * MINUTE]
    rated = r.engine.record(r.engine.ids[device]).setting("rated_current_a", 0)
    assert payloads and all(p["values"]["current_a"] >= 1.3 * rated - 0.01 for p in payloads)
    for p in payloads:
        v = p["values"]
        assert 0.88 <= v["power_w"] / (v["voltage_v"] * v["current_a"]) <= 0.99


def test_voltage_sag_across_a_building() -> None:
    r = inject("voltage_sag", params="scope: building, level_v: 178")
    assert len(r.truth) == 24  # every electrical monitor of the building (18 + 6 landings)
    for line in r.truth[:3]:
        ts, volts = r.series(line.device_id, "voltage_v")
        assert longest_run_ms(ts, volts < 187) >= 2 * MINUTE


def test_ebike_charging_adds_exactly_the_charger_signature() -> None:
    faulty = inject("ebike_charging", params="power_w: 250, cc_h: 0.5, taper_h: 0.25",
                    target="roles: [household_electrical]", sim_ms=60 * MINUTE)
    clean = run("name: quiet\n", 60 * MINUTE)
    device = only_truth(faulty)["device_id"]
    ts, power = faulty.series(device, "power_w")
    _, base = clean.series(device, "power_w")
    expected = charger_power_w((ts - AT) / 1000.0, np.array(250.0), np.array(1800.0),
                               np.array(900.0))
    # Payloads carry whole watts; the base load's current draw is unchanged by the charger.
    assert np.abs((power - base) - expected).max() <= 1.0
    assert expected.max() > 240
    # The landing's distribution box feeds the household: it carries the charger too, as the
    # household's monitor measured it 10-20 s before.
    truth = only_truth(faulty)
    landing = truth["devices"][1]
    assert faulty.engine.role(faulty.engine.ids[landing]) is Role.CORRIDOR_ELECTRICAL
    assert truth["also"] == ["ebike_charging"]
    ts, landing_w = faulty.series(landing, "power_w")
    _, landing_base = clean.series(landing, "power_w")
    lagged = charger_power_w((ts - 20_000 - AT) / 1000.0, np.array(250.0), np.array(1800.0),
                             np.array(900.0))
    ahead = charger_power_w((ts - 10_000 - AT) / 1000.0, np.array(250.0), np.array(1800.0),
                            np.array(900.0))
    extra = landing_w - landing_base
    steady = (ts > AT + 60_000) & (ts < AT + 1800_000)
    assert (extra[steady] >= np.minimum(lagged, ahead)[steady] * 0.97 - 2).all()
    assert (extra[steady] <= np.maximum(lagged, ahead)[steady] * 1.03 + 2).all()


def test_stuck_sensor_repeats_its_values_exactly() -> None:
    r = inject("sensor_stuck", target="roles: [household_electrical]", duration="10m")
    device = only_truth(r)["device_id"]
    stuck = [p["values"] for p in r.telemetry(device) if AT < p["ts"] < AT + 10 * MINUTE]
    assert len(stuck) > 30 and all(v == stuck[0] for v in stuck)
    after = [p["values"] for p in r.telemetry(device) if p["ts"] > AT + 11 * MINUTE]
    assert len({str(v) for v in after}) == len(after)


# Presence ------------------------------------------------------------------------------------

def test_device_offline_says_goodbye_and_comes_back() -> None:
    r = inject("device_offline", duration="5m")
    device = only_truth(r)["device_id"]
    g = r.engine.ids[device]
    assert r.statuses(device) == [b"online", b"offline", b"online"]
    assert [link.action for link in r.links if link.device == g] == [
        LinkAction.DISCONNECT, LinkAction.CONNECT]
    ts, _ = r.series(device, (r.engine.records[g].type == DeviceType.SMOKE and "smoke_db_m")
                     or next(iter(r.telemetry(device)[0]["values"])))
    assert not ((ts > AT) & (ts < AT + 5 * MINUTE)).any()
    assert (ts >= AT + 5 * MINUTE).any()


def test_last_will_is_a_dropped_connection() -> None:
    r = inject("device_offline_will", duration="5m")
    truth = only_truth(r)
    g = r.engine.ids[truth["device_id"]]
    assert truth["detail"]["via"] == "last_will"
    assert [link.action for link in r.links if link.device == g] == [LinkAction.DROP,
                                                                     LinkAction.CONNECT]
    # We do not publish the offline status: the broker does, from the will.
    assert r.statuses(truth["device_id"]) == [b"online", b"online"]


def test_power_cut_drops_every_mains_device_of_the_building_at_once() -> None:
    r = inject("power_cut", duration="5m")
    truth = only_truth(r)
    assert truth["device_id"] is None and truth["building"] == "B01"
    assert truth["expected"]["kind"] == "offline_cluster"
    dropped = {r.engine.role(link.device) for link in r.links if link.action is LinkAction.DROP}
    assert dropped == {Role.HOUSEHOLD_ELECTRICAL, Role.CORRIDOR_ELECTRICAL, Role.RISER,
                       Role.ROOF_TANK}
    drops = [link for link in r.links if link.action is LinkAction.DROP]
    assert len(drops) == 24 + 2 + 1 == len(truth["devices"])


# Protocol ------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["not_json", "wrong_type", "nan", "unknown_device", "huge",
                                     "out_of_range", "unknown_metric", "bad_shape"])
def test_garbage_is_rejected_by_the_gateway_for_the_stated_reason(variant: str) -> None:
    r = inject("garbage", params=f"variant: {variant}", sim_ms=2 * MINUTE)
    truth = only_truth(r)
    assert truth["expected"] is None and truth["outcome"] == "rejected"
    decoder = Decoder(r.engine.layout.registry())
    reasons = []
    for m in r.messages:
        try:
            decoder.decode(RawMessage(m.topic, m.payload, AT + MINUTE))
        except RejectedMessage as exc:
            reasons.append(exc.reason)
    assert reasons == [truth["reason"]]


def test_duplicate_and_replay_repeat_a_message_with_its_seq() -> None:
    for kind, gap in (("duplicate", 0), ("replay", 600_000)):
        r = inject(kind, sim_ms=15 * MINUTE)
        truth = only_truth(r)
        assert truth["outcome"] == "dropped" and truth["reason"] == "duplicate"
        payloads = r.telemetry(truth["device_id"])
        seqs = [p["seq"] for p in payloads]
        repeated = [s for s in set(seqs) if seqs.count(s) > 1]
        assert len(repeated) == 1
        positions = [i for i, s in enumerate(seqs) if s == repeated[0]]
        if gap == 0:
            assert positions[1] == positions[0] + 1
        else:
            later = payloads[positions[1] - 1]["ts"]
            assert later - payloads[positions[0]]["ts"] >= gap - 10_000


def test_out_of_order_swaps_two_messages_and_loses_none() -> None:
    r = inject("out_of_order", sim_ms=5 * MINUTE)
    clean = run("name: quiet\n", 5 * MINUTE)
    device = only_truth(r)["device_id"]
    seqs = [p["seq"] for p in r.telemetry(device)]
    assert sorted(seqs) == [p["seq"] for p in clean.telemetry(device)]
    swaps = [i for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1]]
    assert len(swaps) == 1


@pytest.mark.parametrize(("skew_s", "wall_offset_ms", "outcome", "reason"), [
    (480, 0, "rejected", "future_timestamp"),
    (120, 0, "clock_corrected", None),
    (-300, 0, "accepted", None),
    # A fast run started in the past: the skewed clock is still behind the receive time.
    (480, 3_600_000, "accepted", None),
])
def test_clock_skew_outcome_follows_the_gateway_rule(skew_s: int, wall_offset_ms: int,
                                                     outcome: str, reason: str | None) -> None:
    r = inject("clock_skew", params=f"skew_s: {skew_s}", duration="5m", sim_ms=10 * MINUTE,
               wall_ms=AT + wall_offset_ms)
    truth = only_truth(r)
    assert (truth["outcome"], truth["reason"]) == (outcome, reason)
    clean = run("name: quiet\n", 10 * MINUTE)
    clean_ts = {p["seq"]: p["ts"] for p in clean.telemetry(truth["device_id"])}
    shifts = {p["seq"]: p["ts"] - clean_ts[p["seq"]] for p in r.telemetry(truth["device_id"])}
    for seq, shift in shifts.items():
        during = AT <= clean_ts[seq] < AT + 5 * MINUTE
        assert shift == (skew_s * 1000 if during else 0)
    assert skew_s * 1000 in shifts.values()


# All of them together -------------------------------------------------------------------------

def test_all_faults_scenario_messages_follow_the_contract() -> None:
    """Every message of the reference scenario decodes, received as a real-time run would
    deliver it, except the garbage and the far-ahead clock, which are rejected with the reasons
    their ground truth states."""
    clock = ManualClock(START)
    engine = SimulationEngine(layout_of("small"), load_scenario("all-faults"), START, 0, clock)
    decoder = Decoder(engine.layout.registry())
    rejected: list[str] = []
    for t in range(START, START + 30 * MINUTE, 10_000):
        clock.set(t)
        for m in engine.advance(t):
            if isinstance(m, Link):
                continue
            try:
                decoder.decode(RawMessage(m.topic, m.payload, t))
            except RejectedMessage as exc:
                rejected.append(exc.reason)
    truth = engine.take_truth()
    garbage = sorted(str(t.reason) for t in truth if t.fault == "garbage")
    assert len(garbage) == 8
    skew = next(t for t in truth if t.fault == "clock_skew")
    expected = garbage + (["future_timestamp"] * (rejected.count("future_timestamp"))
                          if skew.reason == "future_timestamp" else [])
    assert sorted(rejected) == sorted(expected)
    if skew.reason == "future_timestamp":
        assert rejected.count("future_timestamp") >= 5
