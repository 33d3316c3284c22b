"""The one SLA statistic: each ticket's outcome (met, breached, still within its deadlines), and
``/api/stats`` and ``/api/supervision`` giving the same figures for the same tickets."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hub_helpers import Api, alarm, make_ticket

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.hub.sla import Outcome, outcome, sla_figures
from gongzhi.hub.tickets import Status

S = 1000
M = 60 * S
T0 = 1_000_000


def test_each_ticket_has_one_outcome() -> None:
    fresh = make_ticket("tamper", now=T0)  # ack due at T0 + 15 min
    assert outcome(fresh, T0 + 15 * M - 1) is Outcome.PENDING
    # The deadline has passed, before the escalation engine has recorded it.
    assert outcome(fresh, T0 + 15 * M) is Outcome.BREACHED
    assert outcome(replace(fresh, breaches=("ack",)), T0) is Outcome.BREACHED
    assert outcome(replace(fresh, escalation_level=1), T0) is Outcome.BREACHED
    in_time = replace(fresh, status=Status.RESOLVED, acknowledged_at=T0 + M, closed_at=T0 + 2 * M)
    assert outcome(in_time, T0 + 99 * M) is Outcome.MET
    assert outcome(replace(in_time, status=Status.FALSE_ALARM), T0 + 99 * M) is Outcome.MET
    late = replace(in_time, breaches=("ack",))
    assert outcome(late, T0 + 99 * M) is Outcome.BREACHED
    # Only pending tickets: nothing is decided, no compliance figure.
    figures = sla_figures([fresh], T0)
    assert (figures["sla_decided"], figures["sla_met"], figures["sla_compliance"]) == (0, 0, None)
    assert figures["time_to_ack"] == {"median_s": None, "p90_s": None}


SHARED = ("acknowledged", "resolved", "false_alarms", "breached", "escalated", "sla_decided",
          "sla_met", "sla_compliance", "time_to_ack", "time_to_resolve")


def test_stats_and_supervision_agree_on_figures_worked_out_by_hand(api: Api,
                                                                   clock: ManualClock) -> None:
    def open_(kind: AlarmKind, device_id: str) -> int:
        ticket_id: int = api.post_alarm(alarm(kind, device_id, ts_ms=clock.now_ms()))["ticket_id"]
        return ticket_id

    def at(minute: float, ticket_id: int, action: str, party: str = "property_office") -> None:
        clock.set(start + int(minute * M))
        assert api.act(ticket_id, party, action).status_code == 200

    start = clock.now_ms()
    # Six tickets opened at minute 0 (deadlines from the default duty matrix):
    leak_a = open_(AlarmKind.ELECTRICAL_LEAKAGE, "el-301")  # ack 15 min, on site 2 h
    leak_b = open_(AlarmKind.ELECTRICAL_LEAKAGE, "el-corr")  # ack 15 min, on site 2 h
    tamper_c = open_(AlarmKind.TAMPER, "smk-b2")  # police room, ack 15 min
    open_(AlarmKind.TAMPER, "smk-young")  # D: nobody acknowledges it
    battery_e = open_(AlarmKind.LOW_BATTERY, "smk-elderly")  # resolve within 7 days
    smoke_f = open_(AlarmKind.SMOKE_ALARM, "smk-b2")  # ack 1 min
    at(0.5, smoke_f, "ack")
    at(2, battery_e, "ack")
    at(2, smoke_f, "false_alarm")
    at(4, leak_a, "ack")
    at(6, leak_b, "ack")
    at(10, leak_a, "arrive")
    clock.set(start + 16 * M)
    api.app.state.escalator.run_once()  # C and D missed their 15 min acknowledgement
    at(20, tamper_c, "ack", party="police_room")
    at(30, leak_a, "resolve")
    at(40, tamper_c, "resolve", party="police_room")
    at(60, leak_b, "resolve")
    clock.set(start + 61 * M)
    api.app.state.escalator.run_once()

    # Outcomes at minute 61: A, B (resolved in time) and F (a false alarm in time) met; C
    # (acknowledged late) and D (never acknowledged) breached; E still within its 7 days.
    #   decided = 3 met + 2 breached = 5; compliance = 3 / 5 = 0.6
    #   (the old supervision figure, 1 - breached / opened, would have said 1 - 2/6 = 0.6667)
    # Time to acknowledge, over the 5 acknowledged: F 30 s, E 120 s, A 240 s, B 360 s, C 1200 s
    #   median = nearest rank ceil(0.5 * 5) = 3rd = 240 s (the mean would be 390 s)
    #   p90 = ceil(0.9 * 5) = 5th = 1200 s
    # Time to resolve, over the 3 resolved (F, a false alarm, is not): A 1800 s, C 2400 s,
    #   B 3600 s; median = ceil(1.5) = 2nd = 2400 s, p90 = ceil(2.7) = 3rd = 3600 s
    expected: dict[str, Any] = {
        "acknowledged": 5, "resolved": 3, "false_alarms": 1, "breached": 2,
        "sla_decided": 5, "sla_met": 3, "sla_compliance": 0.6,
        "time_to_ack": {"median_s": 240.0, "p90_s": 1200.0},
        "time_to_resolve": {"median_s": 2400.0, "p90_s": 3600.0},
    }
    stats = api.get("/api/stats", "npc_liaison", days=7)
    supervision = api.get("/api/supervision", "npc_liaison", days=7)
    assert stats.status_code == supervision.status_code == 200
    totals, total = stats.json()["totals"], supervision.json()["total"]
    assert totals["tickets"] == total["opened"] == 6
    assert {k: totals[k] for k in expected} == expected
    assert {k: totals[k] for k in SHARED} == {k: total[k] for k in SHARED}
    # Per party too: the police room's two tampers, one acknowledged late, one never.
    police = next(g for g in supervision.json()["by_party"] if g["key"] == "police_room")
    tampers = next(r for r in stats.json()["by_party_kind"] if r["kind"] == "tamper")
    assert {k: police[k] for k in SHARED} == {k: tampers[k] for k in SHARED}
    assert (police["sla_decided"], police["sla_met"], police["sla_compliance"]) == (2, 0, 0.0)
