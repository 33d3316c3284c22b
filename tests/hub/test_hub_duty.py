"""The duty matrix: the shipped default for every kind of docs/domain.md, the rules with history,
time of day and location, and the loader's errors (file and line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.errors import ConfigError
from gongzhi.hub.duty_model import HistoryQuery
from gongzhi.hub.duty_parse import load_matrix, parse_matrix
from gongzhi.hub.routing import AlarmFacts, route

M = 60_000
H = 60 * M
D = 24 * H
DEFAULT = load_matrix(None)


def facts(kind: str, *, elderly: bool = False, household: str | None = "H1",
          riser: str | None = "R1", building: str | None = "B1", estate: str = "yijing",
          ts_ms: int = 1_767_225_600_000) -> AlarmFacts:
    return AlarmFacts(kind=kind, device_id="d1", estate_id=estate, building=building,
                      elderly_alone=elderly, household=household, riser=riser, ts_ms=ts_ms)


# kind, severity, assignee, notified, (ack, on_site, resolve), chain
TABLE = [
    ("fire", "critical", "property_office", ["police_room", "party_committee"],
     (M, 3 * M, None), ["property_office", "police_room"]),
    ("smoke_alarm", "critical", "property_office", [], (M, None, None), ["property_office"]),
    ("tamper", "major", "police_room", ["property_office"], (15 * M, None, None),
     ["police_room"]),
    ("offline_cluster", "major", "police_room", ["property_office"], (15 * M, None, None),
     ["police_room"]),
    ("electrical_leakage", "major", "property_office", [], (15 * M, 2 * H, None),
     ["property_office"]),
    ("cable_overheat", "major", "property_office", [], (15 * M, 2 * H, None),
     ["property_office"]),
    ("arc_fault", "major", "property_office", [], (15 * M, 2 * H, None), ["property_office"]),
    ("overcurrent", "major", "property_office", [], (15 * M, 2 * H, None), ["property_office"]),
    ("voltage_abnormal", "major", "property_office", [], (15 * M, 2 * H, None),
     ["property_office"]),
    ("ebike_charging", "major", "property_office", [], (5 * M, None, 7 * D),
     ["property_office"]),
    ("water_pressure_low", "major", "property_office", [], (None, None, D),
     ["property_office"]),
    ("water_pressure_high", "major", "property_office", [], (None, None, D),
     ["property_office"]),
    ("water_pressure_drop", "major", "property_office", [], (None, None, D),
     ["property_office"]),
    ("device_offline", "minor", "property_office", [], (None, None, D), ["property_office"]),
    ("sensor_fault", "minor", "property_office", [], (None, None, D), ["property_office"]),
    ("low_battery", "minor", "property_office", [], (None, None, 7 * D), ["property_office"]),
    ("water_leak", "major", "property_office", [], (30 * M, None, D), ["property_office"]),
    ("welfare_check", "major", "residents_committee", [], (30 * M, 2 * H, None),
     ["residents_committee", "police_room"]),
    ("report_fire_exit", "major", "property_office", ["police_room"], (30 * M, None, D),
     ["property_office", "police_room"]),
    ("report_ebike", "major", "property_office", ["police_room"], (30 * M, None, D),
     ["property_office"]),
    ("report_water_leak", "major", "property_office", [], (H, None, D), ["property_office"]),
    ("report_facility", "minor", "property_office", [], (2 * H, None, 3 * D),
     ["property_office"]),
    ("report_construction", "minor", "property_office", ["residents_committee"],
     (4 * H, None, 7 * D), ["property_office"]),
    ("report_other", "minor", "residents_committee", [], (D, None, 7 * D),
     ["residents_committee"]),
]


def test_the_table_covers_every_kind():
    assert sorted(row[0] for row in TABLE) == sorted(k.value for k in AlarmKind)


@pytest.mark.parametrize(("kind", "severity", "assignee", "notified", "sla", "chain"), TABLE)
def test_default_matrix(kind: str, severity: str, assignee: str, notified: list[str],
                        sla: tuple[int | None, int | None, int | None], chain: list[str]):
    decision = route(DEFAULT, facts(kind), {})
    assert decision.severity.value == severity
    assert decision.assignee == assignee
    assert list(decision.notified) == notified
    assert (decision.sla.ack_ms, decision.sla.on_site_ms, decision.sla.resolve_ms) == sla
    assert list(decision.chain) == chain
    assert decision.rule_ids == (decision.route_id,)


@pytest.mark.parametrize(("kind", "elderly", "notified"), [
    ("smoke_alarm", True, ["residents_committee"]),
    ("smoke_alarm", False, []),
    ("fire", True, ["police_room", "party_committee", "residents_committee"]),
    ("tamper", True, ["property_office"]),  # welfare checks are for fire and smoke only
])
def test_elderly_alone_household_brings_in_the_residents_committee(kind: str, elderly: bool,
                                                                   notified: list[str]):
    decision = route(DEFAULT, facts(kind, elderly=elderly), {})
    assert list(decision.notified) == notified
    assert ("elderly_alone_welfare" in decision.rule_ids) is ("residents_committee" in notified)


def _query(kinds: set[str]) -> HistoryQuery:
    return next(q for q in DEFAULT.history_queries() if q.kinds == kinds)


@pytest.mark.parametrize(("events", "police"), [(1, False), (2, False), (3, True), (7, True)])
def test_third_ebike_event_of_a_household_in_seven_days_notifies_police(events: int,
                                                                        police: bool):
    query = _query({"ebike_charging"})
    assert (query.scope.value, query.counted.value, query.within_ms) == (
        "household", "alarms", 7 * D)
    decision = route(DEFAULT, facts("ebike_charging"), {query: events})
    assert ("police_room" in decision.notified) is police
    assert decision.assignee == "property_office"


def test_ebike_history_needs_a_known_household():
    query = _query({"ebike_charging"})
    decision = route(DEFAULT, facts("ebike_charging", household=None), {query: 9})
    assert decision.notified == ()


@pytest.mark.parametrize("kind", ["water_pressure_low", "water_pressure_high",
                                  "water_pressure_drop"])
@pytest.mark.parametrize(("tickets", "owners"), [(2, False), (3, True)])
def test_third_pressure_ticket_of_a_riser_in_thirty_days_notifies_owners(
        kind: str, tickets: int, owners: bool):
    query = _query({"water_pressure_low", "water_pressure_high", "water_pressure_drop"})
    assert (query.scope.value, query.counted.value, query.within_ms) == (
        "riser", "tickets", 30 * D)
    decision = route(DEFAULT, facts(kind), {query: tickets})
    assert ("owners_committee" in decision.notified) is owners
    assert ("pressure_repeat_riser" in decision.rule_ids) is owners


CUSTOM = """\
version: 1
timezone: Asia/Shanghai
routes:
  - id: night_ebike_b7
    when: {kinds: [ebike_charging], buildings: [B7], hours: "22:00-06:00"}
    severity: critical
    assignee: police_room
    notify: [property_office]
  - id: other_estate_leak
    when: {kinds: [electrical_leakage], estates: [other]}
    severity: minor
    assignee: owners_committee
  - id: all
    when: {kinds: [ALL_KINDS]}
    severity: major
    assignee: property_office
also_notify:
  - id: critical_to_party
    when: {severities: [critical]}
    notify: [party_committee]
""".replace("ALL_KINDS", ", ".join(k.value for k in AlarmKind))


@pytest.mark.parametrize(("building", "local_hour", "route_id"), [
    ("B7", 23, "night_ebike_b7"), ("B7", 3, "night_ebike_b7"), ("B7", 6, "all"),
    ("B7", 12, "all"), ("B1", 23, "all"),
])
def test_time_of_day_and_location(building: str, local_hour: int, route_id: str):
    matrix = parse_matrix(CUSTOM)
    # 2026-01-01T00:00+08:00 is 2025-12-31T16:00Z.
    ts = 1_767_196_800_000 + local_hour * H
    decision = route(matrix, facts("ebike_charging", building=building, ts_ms=ts), {})
    assert decision.route_id == route_id
    assert ("party_committee" in decision.notified) is (route_id == "night_ebike_b7")


def test_estate_match():
    matrix = parse_matrix(CUSTOM)
    assert route(matrix, facts("electrical_leakage", estate="other"), {}).assignee == (
        "owners_committee")
    assert route(matrix, facts("electrical_leakage"), {}).assignee == "property_office"


BROKEN = [
    ("version: 2\nroutes: []\n", 1, "version must be 1"),
    ("version: 1\nroutes:\n  - id: a\n    when: {kinds: [fire]}\n    severity: huge\n"
     "    assignee: property_office\n", 5, "severity: unknown value 'huge'"),
    ("version: 1\nroutes:\n  - id: a\n    when: {kinds: [fire]}\n    severity: major\n"
     "    assignee: mayor\n", 6, "unknown party 'mayor'"),
    ("version: 1\nroutes:\n  - id: a\n    when: {kinds: [fire, meteor]}\n", 4,
     "unknown kind 'meteor'"),
    ("version: 1\nroutes:\n  - id: a\n    when: {kinds: [fire]}\n    severity: major\n"
     "    assignee: police_room\n    sla: {ack: soon}\n", 7, "not a duration: 'soon'"),
    ("version: 1\nroutes:\n  - id: a\n    when: {kinds: [fire]}\n    severity: major\n"
     "    assignee: police_room\n", 2, "no unconditional route for kind(s) arc_fault"),
    ("version: 1\nversion: 1\n", 2, "duplicate key 'version'"),
    ("version: 1\nroutes: [\n", 3, "not valid YAML"),
    ("version: 1\nroute: []\n", 2, "unknown key 'route'"),
    ("version: 1\ntimezone: Mars/Olympus\n", 2, "unknown timezone"),
    ("version: 1\nroutes:\n  - id: a\n    when: {kinds: [fire]}\n    severity: major\n"
     "    assignee: police_room\n    chain: [property_office]\n", 7, "chain must start"),
    ("version: 1\nalso_notify:\n  - id: x\n    when: {hours: '25:00-01:00'}\n"
     "    notify: [npc_liaison]\n", 4, "hours"),
    ("version: 1\nroutes:\n  - id: a\n    when: {kinds: [fire]}\n    severity: major\n"
     "    assignee: police_room\n    sla: {ack: 0s}\n", 7, "sla.ack: input should be greater"),
    ("version: 1\nwebhooks:\n  police_room:\n    url: 'http://127.0.0.1:9/hook'\n"
     "    secret: s3cret-value\n", 5, "a secret is not written in a config file"),
    ("version: 1\nwebhooks:\n  mayor: {url: 'http://127.0.0.1:9/hook', secret: {env: X}}\n",
     3, "unknown party 'mayor'"),
    ("version: 1\nalso_notify:\n  - id: x\n    when: {history: {scope: riser, at_least: 2,"
     " within: 1d}}\n    notify: [npc_liaison]\n", 4, "history needs kinds"),
]


@pytest.mark.parametrize(("text", "line", "message"), BROKEN)
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, message: str):
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_matrix(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read duty matrix"):
        load_matrix(tmp_path / "absent.yaml")


def test_webhook_secret_from_a_file_next_to_the_matrix(tmp_path: Path):
    (tmp_path / "police.secret").write_text("s3cret-value\n")
    text = CUSTOM + ("webhooks:\n  police_room: {url: 'http://127.0.0.1:9/hook', "
                     "secret: {file: police.secret}}\n")
    path = tmp_path / "m.yaml"
    path.write_text(text)
    hook = load_matrix(path).webhook_for("police_room")
    assert hook is not None and hook.secret == "s3cret-value"
    assert "s3cret" not in repr(hook)
    path.write_text(text.replace("police.secret", "absent.secret"))
    with pytest.raises(ConfigError, match="cannot read secret file") as missing:
        load_matrix(path)
    assert missing.value.source == f"{path}:{text.count(chr(10))}"


def test_one_duration_syntax_for_slas_and_history():
    text = CUSTOM.replace("    severity: minor\n", "    severity: minor\n"
                          "    sla: {ack: 1h30m, resolve: 90}\n")
    sla = parse_matrix(text).route_by_id("other_estate_leak").sla  # type: ignore[union-attr]
    assert (sla.ack_ms, sla.resolve_ms) == (90 * M, 90_000)
