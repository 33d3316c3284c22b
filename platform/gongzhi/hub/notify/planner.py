"""From a ticket and who is to be told (an attempt of the re-notification plan) to outbox jobs:
one per person, on the first of their channels the party has, with their other channels as the
fallback chain. Pure."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Connection

from gongzhi.hub.notify.config import NotifyConfig
from gongzhi.hub.notify.message import Notice
from gongzhi.hub.notify.outbox import NewJob, Target, enqueue
from gongzhi.hub.notify.renotify import Attempt
from gongzhi.hub.notify.roster import Person
from gongzhi.hub.tickets import ACTIVE, Status, Ticket

_ROBOTS = ("wecom", "dingtalk")  # mention people by mobile number


def place_of(ticket: Ticket) -> str:
    loc = ticket.location
    parts = [loc.estate_id, loc.building, loc.unit, f"{loc.floor}F", loc.room]
    return " ".join(p for p in parts if p)


def notice_of(ticket: Ticket, event: str) -> Notice:
    """The ticket as a message tells it: its next deadline still to be met."""
    stage, due = None, None
    if ticket.status in ACTIVE:
        for name, at, done in (("ack", ticket.ack_due_at, ticket.status is not Status.OPEN),
                               ("on_site", ticket.on_site_due_at, ticket.on_site_at is not None),
                               ("resolve", ticket.resolve_due_at, False)):
            if at is not None and not done:
                stage, due = name, at
                break
    return Notice(ticket.id, str(ticket.kind), str(ticket.severity), place_of(ticket), event,
                  stage, due)


def target(config: NotifyConfig, party: str, kind: str, person: Person) -> Target | None:
    """Where ``person`` of ``party`` is reached on ``kind`` (None: nowhere)."""
    name = config.channel_of(party, kind)
    if name is None:
        return None
    if kind in _ROBOTS:
        return Target(name, "", (person.mobile,) if person.mobile else ())
    if kind in ("feishu", "webhook"):
        return Target(name, "")
    if kind == "sms":
        return Target(name, person.mobile) if person.mobile else None
    if kind == "email":
        return Target(name, person.email) if person.email else None
    return None


def jobs_for(ticket: Ticket, attempt: Attempt, config: NotifyConfig,
             event: str = "opened") -> list[NewJob]:
    """The jobs of ``attempt``; a person reachable on none of their channels gets none (the
    caller records that in the timeline). Keys repeat for the same attempt, so planning it
    again adds nothing."""
    notice = notice_of(ticket, event)
    jobs: list[NewJob] = []
    for delivery in attempt.deliveries:
        person = delivery.person
        targets = [t for kind in delivery.channels
                   if (t := target(config, delivery.party, kind, person)) is not None]
        if not targets:
            continue
        group = targets[0].address == ""  # a group robot: the party's language, if it has one
        language = (config.robot_language(delivery.party) if group else None) or person.language
        jobs.append(NewJob(
            key=f"{ticket.id}:{event}:{attempt.number}:{delivery.party}:{person.id}",
            party=delivery.party, recipient=person.id, recipient_name=person.name,
            language=language, notice=notice, target=targets[0],
            fallback=tuple(targets[1:])))
    return jobs


class InTransaction(Protocol):
    """A store transaction (``SqlTx``) as far as the outbox needs it."""

    @property
    def connection(self) -> Connection: ...


class AttemptQueue:
    """``queue(tx, ticket, attempt, event, now)``: the jobs of a re-notification attempt written
    in the transaction that claims it; returns how many were queued (0: nobody reachable)."""

    def __init__(self, config: NotifyConfig) -> None:
        self.config = config

    def __call__(self, tx: InTransaction, ticket: Ticket, attempt: Attempt, event: str,
                 now: int) -> int:
        jobs = jobs_for(ticket, attempt, self.config, event)
        enqueue(tx.connection, jobs, now)
        return len(jobs)
