"""The action matrix through the HTTP API: every (party, role, state, action), generated.

A duty matrix made for the test gives each handling party a kind of its own (it is the assignee),
the next party in its escalation chain (it takes the ticket over when the acknowledgement deadline
passes), two notified parties and one that does not see the ticket. Tickets of every kind are
opened, half of them escalated, and brought to every state; then every party tries every action
on them. The expectations below are written from the rules as documented (docs/security.md),
not from the code under test.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hub_helpers import ESTATE, Api, alarm

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, write_registry
from gongzhi.hub.app import create_app
from gongzhi.hub.tokens import new_tokens, write_tokens

HANDLERS = ("property_office", "police_room", "residents_committee", "owners_committee",
            "party_committee")
SUPERVISOR = "npc_liaison"
PARTIES = (*HANDLERS, SUPERVISOR)
ACTIONS = ("ack", "dispatch", "arrive", "resolve", "false_alarm", "comment")
STATES = ("open", "acknowledged", "dispatched", "on_site", "resolved", "false_alarm")
ACTIVE = frozenset(STATES[:4])
# The kind each handler is the assignee of in the test's duty matrix.
KINDS = ("fire", "tamper", "smoke_alarm", "ebike_charging", "water_pressure_low")
VARIANTS = ("routed", "escalated")
MINUTE = 60_000

# What the party holding a ticket moves it to, from each state.
MOVES = {
    "open": {"ack": "acknowledged", "dispatch": "dispatched", "arrive": "on_site",
             "false_alarm": "false_alarm"},
    "acknowledged": {"dispatch": "dispatched", "arrive": "on_site", "resolve": "resolved",
                     "false_alarm": "false_alarm"},
    "dispatched": {"arrive": "on_site", "resolve": "resolved", "false_alarm": "false_alarm"},
    "on_site": {"resolve": "resolved", "false_alarm": "false_alarm"},
    "resolved": {},
    "false_alarm": {},
}
# How the holder brings a new ticket to each state.
PATHS = {"open": (), "acknowledged": ("ack",), "dispatched": ("dispatch",),
         "on_site": ("arrive",), "resolved": ("ack", "resolve"), "false_alarm": ("false_alarm",)}
# A notified party's own part, which it acknowledges (every household here is elderly-alone).
DUTIES = frozenset({("police_room", "fire"), ("police_room", "ebike_charging"),
                    ("residents_committee", "fire"), ("residents_committee", "smoke_alarm"),
                    ("owners_committee", "water_pressure_low")})


def _handler(index: int) -> str:
    return HANDLERS[index % len(HANDLERS)]


def role_by_construction(party: str, index: int, variant: str) -> str:
    """The role the test's duty matrix and escalation give ``party`` on a ticket of KINDS[i]."""
    if party == SUPERVISOR:
        return "supervisor" if variant == "escalated" else "unrelated"
    offset = (HANDLERS.index(party) - index) % len(HANDLERS)
    if offset in (2, 3) or (offset == 0 and variant == "escalated"):
        return "notified"  # the party it was taken from is notified from then on
    if offset == 0:
        return "assignee"
    if offset == 1 and variant == "escalated":
        return "escalation_target"
    return "unrelated"  # the chain's next party before the ticket reaches it, and offset 4


@dataclass(frozen=True)
class Expected:
    status: int
    reason: str | None = None
    state: str | None = None  # the ticket's state afterwards

    @property
    def moves(self) -> bool:
        return self.status == 200 and self.state is not None


def expected(party: str, role: str, kind: str, state: str, action: str) -> Expected:
    if role == "unrelated":
        return Expected(404)
    if role == "supervisor":
        return Expected(403, "read_only")
    if action == "comment":
        return Expected(200)
    if role in ("assignee", "escalation_target"):
        target = MOVES[state].get(action)
        return Expected(200, state=target) if target else Expected(409)
    if action == "ack" and (party, kind) in DUTIES:
        return Expected(200) if state in ACTIVE else Expected(409)
    return Expected(403, "not_assignee")


def matrix_yaml() -> str:
    lines = ["version: 1", "routes:"]
    for i, kind in enumerate(KINDS):
        lines += [f"  - id: r_{kind}", f"    when: {{kinds: [{kind}]}}", "    severity: major",
                  f"    assignee: {_handler(i)}",
                  f"    notify: [{_handler(i + 2)}, {_handler(i + 3)}]",
                  "    sla: {ack: 1m}", f"    chain: [{_handler(i)}, {_handler(i + 1)}]"]
    rest = sorted(k.value for k in AlarmKind if k.value not in KINDS)
    lines += ["  - id: rest", f"    when: {{kinds: [{', '.join(rest)}]}}", "    severity: minor",
              "    assignee: property_office"]
    return "\n".join(lines) + "\n"


CASES = [(party, i, variant, state, action)
         for i, variant, state in itertools.product(range(len(KINDS)), VARIANTS, STATES)
         for party in PARTIES for action in ACTIONS]


def _case_id(case: tuple[str, int, str, str, str]) -> str:
    party, i, variant, state, action = case
    return f"{party}-{role_by_construction(party, i, variant)}-{KINDS[i]}-{state}-{action}"


@dataclass
class World:
    """The platform with tickets of every kind, variant and state; ``pool`` holds, for each
    (kind index, variant, state), a ticket that stays in its state (for actions that move no
    ticket) followed by one fresh ticket per move its holder may make."""

    api: Api
    pool: dict[tuple[int, str, str], list[int]] = field(default_factory=dict)

    def ticket_for(self, i: int, variant: str, state: str, moves: bool) -> int:
        tickets = self.pool[(i, variant, state)]
        return tickets.pop() if moves else tickets[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("action-matrix")
    tokens = new_tokens()
    write_tokens(data_dir / "tokens.json", tokens)
    (data_dir / "matrix.yaml").write_text(matrix_yaml(), encoding="utf-8")
    needed = {key: 1 + len(MOVES[key[2]])
              for key in itertools.product(range(len(KINDS)), VARIANTS, STATES)}
    devices = {key: [f"d{n}-{'-'.join(map(str, key))}" for n in range(count)]
               for key, count in needed.items()}
    # Each device in a building of its own: no two tickets form an incident.
    write_registry(data_dir / "registry.csv", [
        DeviceRecord(device_id, DeviceType.SMOKE, Location(ESTATE, device_id, "U1", "1", "101"),
                     elderly_alone=True, household=f"H-{device_id}")
        for ids in devices.values() for device_id in ids])
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'p.db'}",
                        duty_matrix=data_dir / "matrix.yaml")
    clock = ManualClock()
    app = create_app(settings, clock, background=False)
    with TestClient(app) as client:
        api = Api(client, tokens, app)
        world = World(api)

        def open_all(variant: str) -> None:
            for (i, v, state), ids in devices.items():
                if v == variant:
                    world.pool[(i, v, state)] = [
                        api.post_alarm(alarm(AlarmKind(KINDS[i]), d, ts_ms=clock.now_ms()))[
                            "ticket_id"] for d in ids]

        open_all("escalated")
        clock.set(clock.now_ms() + MINUTE)  # the acknowledgement deadline passes
        app.state.escalator.run_once()
        open_all("routed")
        for (i, variant, state), ids in world.pool.items():
            holder = _handler(i + 1) if variant == "escalated" else _handler(i)
            for ticket_id in ids:
                for action in PATHS[state]:
                    done = api.act(ticket_id, holder, action)
                    assert done.status_code == 200, done.text
                assert api.ticket(ticket_id, holder)["status"] == state
        yield world


def test_every_party_has_every_role_it_can_have():
    covered = {(c[0], role_by_construction(c[0], c[1], c[2])) for c in CASES}
    assert covered == {(p, r) for p in HANDLERS
                       for r in ("assignee", "escalation_target", "notified", "unrelated")} | {
        (SUPERVISOR, "supervisor"), (SUPERVISOR, "unrelated")}


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_action_matrix(world: World, case: tuple[str, int, str, str, str]):
    party, i, variant, state, action = case
    kind = KINDS[i]
    role = role_by_construction(party, i, variant)
    want = expected(party, role, kind, state, action)
    ticket_id = world.ticket_for(i, variant, state, want.moves)
    answer = world.api.act(ticket_id, party, action, note=f"{party} {action}")
    assert answer.status_code == want.status, answer.text
    body: dict[str, Any] = answer.json()
    if want.status == 403:
        assert body["detail"]["reason"] == want.reason
        assert party in body["detail"]["message"]
        return
    if want.status != 200:
        return
    assert body["status"] == (want.state or state)
    entry = [e for e in body["timeline"] if e["type"] == "action"][-1]
    assert (entry["actor"], entry["action"], entry["data"]["role"]) == (party, action, role)
    assert entry["data"]["to"] == body["status"]


PAIRS = [(party, i, variant, state) for i, variant, state in
         itertools.product(range(len(KINDS)), VARIANTS, STATES) for party in PARTIES]


@pytest.mark.parametrize("pair", PAIRS, ids=[_case_id((*p, "view"))[:-5] for p in PAIRS])
def test_allowed_actions_offer_exactly_what_succeeds(world: World,
                                                     pair: tuple[str, int, str, str]):
    party, i, variant, state = pair
    role = role_by_construction(party, i, variant)
    ticket_id = world.ticket_for(i, variant, state, moves=False)
    answer = world.api.get(f"/api/tickets/{ticket_id}", party)
    if role == "unrelated":
        assert answer.status_code == 404
        return
    assert answer.status_code == 200, answer.text
    assert answer.json()["allowed_actions"] == [
        a for a in ACTIONS if expected(party, role, KINDS[i], state, a).status == 200]
    listed = {t["id"]: t for t in world.api.get("/api/tickets", party, limit=5000).json()}
    assert listed[ticket_id]["allowed_actions"] == answer.json()["allowed_actions"]


@pytest.mark.parametrize("i", range(len(KINDS)), ids=KINDS)
def test_the_escalation_target_took_over_in_the_timeline(world: World, i: int):
    ticket_id = world.ticket_for(i, "escalated", "open", moves=False)
    ticket = world.api.ticket(ticket_id, _handler(i + 1))
    assert ticket["assignee"] == _handler(i + 1)
    assert _handler(i) in ticket["notified"]
    [takeover] = [e for e in ticket["timeline"] if e["type"] == "escalation"]
    assert (takeover["action"], takeover["data"]["from_party"], takeover["data"]["to_party"]) == (
        "reassign", _handler(i), _handler(i + 1))
