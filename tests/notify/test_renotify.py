"""Re-notification on the real store: the roster's hand-over at 20:00 moves the attempts to the
night guard, they stop at the acknowledgement, and a platform restarted in between (a new app
over the same database) loses and doubles nothing. Each attempt is in the ticket's timeline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from gongzhi.core.alarms import AlarmKind
from gongzhi.hub.notify.renotify import Attempt
from gongzhi.hub.notify.renotify_task import Renotifier
from gongzhi.hub.store.sql import SqlTx
from gongzhi.hub.tickets import Ticket
from tests.hub.hub_helpers import Api
from tests.notify.people_support import MINUTE, People, at, people, raise_alarm, timeline

__all__ = ["people"]  # the fixture


@dataclass
class Outbox:
    """Stands in for the delivery layer: what each attempt would send, in order."""

    sent: list[tuple[int, int, str, tuple[str, ...]]] = field(default_factory=list)

    def enqueue(self, _tx: SqlTx, ticket: Ticket, attempt: Attempt, event: str,
                _now: int) -> int:
        people = tuple(d.person.id for d in attempt.deliveries)
        self.sent.append((ticket.id, attempt.number, event, people))
        return len(people)


def renotifier(api: Api, outbox: Outbox) -> Renotifier:
    """The app's own task, with the stand-in for the delivery layer."""
    task: Renotifier = api.app.state.renotifier
    task.enqueue = outbox.enqueue
    return task


@pytest.mark.parametrize("people", ["sqlite", pytest.param("postgres",
                                                           marks=pytest.mark.postgres)],
                         indirect=True)
def test_hand_over_acknowledgement_and_restart(people: People) -> None:
    outbox = Outbox()
    people.clock.set(at(5, 19, 59))  # Monday: zhao by day, wang by night
    api = people.start()
    fire = raise_alarm(api, AlarmKind.FIRE, "smk-young", at(5, 19, 59))
    task = renotifier(api, outbox)
    task.run_once()
    task.run_once()  # nothing new is due
    assert outbox.sent == [(fire, 0, "opened", ("zhao", "officer-he"))]

    # The platform stops; the second attempt falls due at 20:01 while it is down.
    api.close()
    people.clock.set(at(5, 20, 2))
    api = people.start()
    task = renotifier(api, outbox)
    task.run_once()
    assert outbox.sent[1:] == [(fire, 1, "reminder", ("wang",))]  # the night guard

    # A second replica over the same database makes nothing twice.
    other = renotifier(people.start(), outbox)
    other.run_once()
    task.run_once()
    assert len(outbox.sent) == 2

    people.clock.set(at(5, 20, 3))
    task.run_once()
    assert len(outbox.sent) == 3 and outbox.sent[2][1:3] == (2, "reminder")
    assert outbox.sent[2][3] == ("liu",)  # two attempts on duty, then the backup

    acked = api.act(fire, "property_office", "ack")
    assert acked.status_code == 200, acked.text
    for minutes in (2, 4, 60):
        people.clock.set(at(5, 20, 3) + minutes * MINUTE)
        task.run_once()
        other.run_once()
    assert len(outbox.sent) == 3

    entries = timeline(api, fire, "notification")
    assert [(e["action"], e["data"]["attempt"], e["data"]["outcome"]) for e in entries] == [
        ("notify", 0, "queued"), ("renotify", 1, "queued"), ("renotify", 2, "queued")]
    assert [t["person"] for t in entries[1]["data"]["to"]] == ["wang"]
    assert entries[2]["data"]["step"] == "backup"


def test_the_first_notification_also_tells_the_notified_party(people: People) -> None:
    outbox = Outbox()
    api = people.start()
    # A tamper goes to the police room, and the property office is notified of it.
    tamper = raise_alarm(api, AlarmKind.TAMPER, "smk-young", at(5, 10))
    task = renotifier(api, outbox)
    task.run_once()
    assert outbox.sent == [(tamper, 0, "opened", ("officer-he", "zhao"))]
    people.clock.set(at(5, 10, 10))  # major: every 10 min, to the holder's chain only
    task.run_once()
    assert outbox.sent[1:] == [(tamper, 1, "reminder", ("officer-he",))]


def test_the_platform_runs_it_in_the_background(people: People) -> None:
    api = people.start(background=True)
    fire = raise_alarm(api, AlarmKind.FIRE, "smk-young", at(5, 10))
    deadline = time.monotonic() + 20
    while not timeline(api, fire, "notification"):
        assert time.monotonic() < deadline, "no notification attempt within 20 s"
        time.sleep(0.05)
    entry = timeline(api, fire, "notification")[0]
    # No delivery channel is configured here: the attempt is recorded, nobody is reached.
    assert (entry["action"], entry["data"]["outcome"]) == ("notify", "unreachable")
    assert [t["person"] for t in entry["data"]["to"]] == ["zhao", "officer-he"]
