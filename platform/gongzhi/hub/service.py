"""Ticket handling: alarms in, routing, lifecycle actions, escalation, reads per party.

Glue between the pure domain (routing, lifecycle, escalation, privacy) and the store; no HTTP.
Every change runs in one store transaction and is announced on the event feed (and to webhooks)
when it commits.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gongzhi.core.alarms import Alarm, AlarmState
from gongzhi.core.clock import Clock
from gongzhi.core.errors import (
    AccessDenied,
    ConfigError,
    StoreUnavailable,
    TicketError,
    TicketNotFound,
)
from gongzhi.devices.registry import DeviceRecord, Location, Registry
from gongzhi.hub.action_matrix import act
from gongzhi.hub.duty_model import Counted, DutyMatrix, HistoryQuery
from gongzhi.hub.escalation import Escalation, escalate
from gongzhi.hub.incidents import (
    GroupRule,
    child_kinds,
    children_of,
    parent_for,
    parent_kinds,
)
from gongzhi.hub.lifecycle import Action
from gongzhi.hub.metrics import Metrics
from gongzhi.hub.open_tickets import HeldTickets
from gongzhi.hub.privacy import can_see, public_ticket, shows_personal_data, supervises
from gongzhi.hub.routing import AlarmFacts, Decision, route
from gongzhi.hub.store.base import Store, StoreConflict
from gongzhi.hub.store.records import AuditEntry, DeviceState, Receipt
from gongzhi.hub.store.sql import ReceiptKey, SqlTx
from gongzhi.hub.tickets import (
    ACTIVE,
    EntryType,
    Ticket,
    TimelineEntry,
    new_ticket,
    open_key,
    widen,
)

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 8
ESCALATION_BATCH = 100
# A batch the database undid to break a deadlock with a concurrent one is run again.
CONFLICT_ATTEMPTS = 8
CONFLICT_PAUSE_S = 0.02


@dataclass(frozen=True, slots=True)
class AlarmOutcome:
    ticket_id: int | None
    created: bool
    duplicate: bool = False
    # Set when this alarm could not be stored now (the others of its batch were): send it again.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Arrival:
    """An alarm of a batch with what routing needs to know of it (read before the transaction)."""

    alarm: Alarm
    device: DeviceRecord | None
    facts: AlarmFacts

    @property
    def key(self) -> ReceiptKey:
        return self.alarm.alarm_id, self.alarm.state.value

    def receipt(self) -> Receipt:
        f = self.facts
        return Receipt(self.alarm.alarm_id, self.alarm.state.value, self.alarm.kind.value,
                       self.alarm.device_id, f.household, f.riser, f.building, self.alarm.ts_ms)


HistoryCorrection = Callable[[HistoryQuery, str, int], int]


def _none_unseen(_query: HistoryQuery, _key: str, _since: int) -> int:
    return 0


class _LaterInBatch:
    """A batch stores all its receipts first; an alarm's history count must not see the ones
    after it in the batch, so it is routed as if the alarms had come one by one."""

    def __init__(self, queries: Iterable[HistoryQuery],
                 raised: Sequence[tuple[int, AlarmFacts]]) -> None:
        self._by_key: dict[tuple[HistoryQuery, str], list[tuple[int, int]]] = defaultdict(list)
        for query in queries:
            if query.counted is not Counted.ALARMS:
                continue
            for index, facts in raised:
                key = facts.scope_key(query.scope)
                if key is not None and facts.kind in query.kinds:
                    self._by_key[(query, key)].append((index, facts.ts_ms))

    def after(self, index: int) -> HistoryCorrection:
        def count(query: HistoryQuery, key: str, since: int) -> int:
            return sum(1 for i, ts in self._by_key.get((query, key), ())
                       if i > index and ts >= since)

        return count


class TicketService:
    def __init__(self, store: Store, matrix: DutyMatrix, registry: Callable[[], Registry],
                 clock: Clock, metrics: Metrics) -> None:
        self.store = store
        self.matrix = matrix
        self.registry = registry
        self.clock = clock
        self.metrics = metrics

    # --- alarms ------------------------------------------------------------------------------

    def receive_alarm(self, alarm: Alarm) -> AlarmOutcome:
        """One alarm, taken as a batch of one: decided on what is read at the start of its
        transaction (its receipt, its active ticket, the history counts routing needs) and
        written at the end, never back and forth between deciding and the database."""
        self.metrics.inc("gongzhi_alarms_received_total", kind=alarm.kind.value,
                         state=alarm.state.value)
        return self._receive(alarm)

    def _receive(self, alarm: Alarm) -> AlarmOutcome:
        device = self.registry().get(alarm.device_id)
        (outcome,) = self._receive_batch([_Arrival(alarm, device, AlarmFacts.of(alarm, device))])
        self._count(alarm, outcome)
        return outcome

    def _count(self, alarm: Alarm, outcome: AlarmOutcome) -> None:
        if outcome.duplicate:
            self.metrics.inc("gongzhi_alarms_duplicate_total")
        elif outcome.created:
            self.metrics.inc("gongzhi_tickets_opened_total", kind=alarm.kind.value)

    def receive_alarms(self, alarms: Sequence[Alarm]) -> list[AlarmOutcome]:
        """Many alarms, one outcome each in their order, in one transaction: every alarm is
        decided against the database as ``receive_alarm`` would one after another, and the
        batch's rows are written together. Exactly one ticket per alarm id holds across
        concurrent batches and platform processes (the receipts' unique key decides, in the
        database); an alarm repeated within the batch is a duplicate like any repeat.

        If something unexpected fails inside the batch, its alarms are taken one by one, so
        only the alarm that fails gets ``error`` (and is sent again by the gateway)."""
        if not alarms:
            return []
        registry = self.registry()
        arrivals = []
        for alarm in alarms:
            device = registry.get(alarm.device_id)
            arrivals.append(_Arrival(alarm, device, AlarmFacts.of(alarm, device)))
            self.metrics.inc("gongzhi_alarms_received_total", kind=alarm.kind.value,
                             state=alarm.state.value)
        try:
            outcomes = self._receive_batch(arrivals)
        except (StoreUnavailable, ConfigError):
            raise  # the database itself: the whole batch is answered "retry"
        except Exception:
            log.exception("a batch of %d alarms failed; taking them one by one", len(arrivals))
            return [self._receive_alone(a.alarm) for a in arrivals]
        for arrival, outcome in zip(arrivals, outcomes, strict=True):
            self._count(arrival.alarm, outcome)
        return outcomes

    def _receive_alone(self, alarm: Alarm) -> AlarmOutcome:
        try:
            return self._receive(alarm)
        except (StoreUnavailable, ConfigError):
            raise
        except Exception as exc:
            log.exception("alarm %s could not be stored", alarm.alarm_id)
            return AlarmOutcome(None, created=False, error=f"{type(exc).__name__}: {exc}")

    def _receive_batch(self, arrivals: Sequence[_Arrival]) -> list[AlarmOutcome]:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            now = self.clock.now_ms()
            try:
                with self.store.transaction(now) as tx:
                    return self._apply_batch(tx, arrivals, now)
            except StoreConflict as exc:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                log.info("batch of %d alarms undone by the database (%s); running it again",
                         len(arrivals), exc)
                time.sleep(CONFLICT_PAUSE_S * attempt)  # let the other transaction finish
        raise AssertionError("unreachable")

    def _apply_batch(self, tx: SqlTx, arrivals: Sequence[_Arrival],
                     now: int) -> list[AlarmOutcome]:
        stored = tx.add_receipts([a.receipt() for a in arrivals], now)
        firsts: dict[ReceiptKey, int] = {}
        for index, arrival in enumerate(arrivals):
            if arrival.key in stored:
                firsts.setdefault(arrival.key, index)
        repeats = [a.key for a in arrivals if a.key not in stored]
        linked: dict[ReceiptKey, int | None] = tx.receipt_tickets(repeats) if repeats else {}
        tickets = HeldTickets(tx, (open_key(arrivals[i].alarm.device_id,
                                            arrivals[i].alarm.kind.value)
                                   for i in firsts.values()
                                   if arrivals[i].alarm.state is AlarmState.RAISE))
        later = _LaterInBatch(self.matrix.history_queries(), [
            (i, arrivals[i].facts) for i in firsts.values()
            if arrivals[i].alarm.state is AlarmState.RAISE])
        outcomes: list[AlarmOutcome] = []
        links: list[tuple[str, str, int]] = []
        for index, arrival in enumerate(arrivals):
            alarm = arrival.alarm
            if firsts.get(arrival.key) != index:
                outcomes.append(AlarmOutcome(linked.get(arrival.key), created=False,
                                             duplicate=True))
                continue
            if alarm.state is AlarmState.CLEAR:
                outcome = self._clear(tx, alarm, linked)
            else:
                ticket, created = self._raise(tx, tickets, alarm, arrival.facts,
                                              arrival.device, now, later.after(index))
                self._announce(tx, ticket, now)
                outcome = AlarmOutcome(ticket.id, created)
            linked[arrival.key] = outcome.ticket_id
            if outcome.ticket_id is not None:
                links.append((alarm.alarm_id, alarm.state.value, outcome.ticket_id))
            outcomes.append(outcome)
        tickets.flush()
        tx.link_receipts(links)
        return outcomes

    def _history(self, tx: SqlTx, facts: AlarmFacts, opening: bool, now: int,
                 unseen: HistoryCorrection = _none_unseen) -> dict[HistoryQuery, int]:
        """What routing needs to know of the past, counted in one statement."""
        asks = []
        for query in self.matrix.history_queries():
            key = facts.scope_key(query.scope)
            if key is None or facts.kind not in query.kinds:
                continue
            # Alarms are counted by when they happened (replays after an outage count right),
            # tickets by when they were opened.
            reference = facts.ts_ms if query.counted is Counted.ALARMS else now
            asks.append((query, key, reference - query.within_ms))
        counts: dict[HistoryQuery, int] = {}
        for (query, key, since), count in zip(asks, tx.count_histories(asks), strict=True):
            # The ticket about to open counts too (its receipt is already stored).
            opened = 1 if opening and query.counted is Counted.TICKETS else 0
            counts[query] = count - unseen(query, key, since) + opened
        return counts

    def _raise(self, tx: SqlTx, tickets: HeldTickets, alarm: Alarm, facts: AlarmFacts,
               device: DeviceRecord | None, now: int,
               unseen: HistoryCorrection = _none_unseen) -> tuple[Ticket, bool]:
        key = open_key(alarm.device_id, alarm.kind.value)
        existing = tickets.get(key)
        location = device.location if device else Location(
            alarm.estate_id, alarm.building or "", "", "", "")
        incident = None
        if existing is None and parent_kinds(alarm.kind.value):
            tickets.flush()  # incidents are read from the database
            incident = self._incident_of(tx, alarm, location)
        if incident is not None and incident[1].inhibit:
            parent = self._inhibit(tx, alarm, *incident, now)
            tickets.written(parent)
            return parent, False
        decision = route(self.matrix, facts,
                         self._history(tx, facts, existing is None, now, unseen))
        for _ in range(SAVE_ATTEMPTS):
            ticket = tickets.occur(key, alarm.ts_ms, now, alarm.evidence)
            if ticket is not None:
                return self._occurred(tx, tickets, ticket, alarm, decision, now), False
            fresh = new_ticket(decision, facts, self.matrix, location=location,
                               phone=device.phone if device else None,
                               evidence=alarm.evidence, now=now)
            if incident is not None:
                fresh = replace(fresh, incident_id=incident[0].id)
            # Another transaction may open the same (device, kind) at once: the unique open
            # key makes this insert wait for it and do nothing, and the loop joins its ticket.
            inserted = tx.insert_ticket(fresh)
            if inserted is None:
                tickets.forget(key)
                continue
            tickets.written(inserted)
            tx.add_timeline(inserted.id, self._alarm_entry(alarm, 1))
            tx.add_timeline(inserted.id, self._routing_entry(decision, alarm.ts_ms, now))
            if incident is not None:
                self._link(tx, incident[0], inserted, incident[1], now)
            if child_kinds(inserted.kind):
                tickets.flush()  # the tickets it takes in are read from the database
                for adopted in self._adopt(tx, inserted, now):
                    tickets.written(adopted)
            return inserted, True
        raise TicketError(f"could not open or join a ticket for {key}")

    def _incident_of(self, tx: SqlTx, alarm: Alarm,
                     location: Location) -> tuple[Ticket, GroupRule] | None:
        parents = parent_kinds(alarm.kind.value)
        if not parents:
            return None
        return parent_for(alarm.kind.value, alarm.device_id, location,
                          tx.active_tickets_at(location.estate_id, location.building, parents))

    def _inhibit(self, tx: SqlTx, alarm: Alarm, parent: Ticket, rule: GroupRule,
                 now: int) -> Ticket:
        """A consequence of an active incident: recorded on it, no ticket of its own."""
        tx.add_timeline(parent.id, TimelineEntry(
            ts_ms=alarm.ts_ms, type=EntryType.ALARM, actor="gateway", rule_id=rule.id,
            data={"alarm_id": alarm.alarm_id, "device_id": alarm.device_id,
                  "kind": alarm.kind.value, "grouped": True,
                  "evidence": dict(alarm.evidence)}))
        saved = tx.save(replace(parent, updated_at=now))
        return saved or parent

    def _link(self, tx: SqlTx, parent: Ticket, child: Ticket, rule: GroupRule,
              now: int) -> None:
        tx.add_timeline(child.id, TimelineEntry(
            ts_ms=now, type=EntryType.ROUTING, actor="system", rule_id=rule.id,
            data={"incident_id": parent.id}))
        tx.add_timeline(parent.id, TimelineEntry(
            ts_ms=now, type=EntryType.ROUTING, actor="system", rule_id=rule.id,
            data={"grouped_ticket": child.id, "device_id": child.device_id,
                  "kind": child.kind}))

    def _adopt(self, tx: SqlTx, parent: Ticket, now: int) -> list[Ticket]:
        """A new incident ticket takes in the active tickets that belong to it."""
        kinds = child_kinds(parent.kind)
        if not kinds:
            return []
        active = tx.active_tickets_at(parent.location.estate_id, parent.location.building, kinds)
        adopted: list[Ticket] = []
        for child, rule in children_of(parent, active):
            saved = tx.save(replace(child, incident_id=parent.id, updated_at=now))
            if saved is not None:
                self._link(tx, parent, saved, rule, now)
                self._announce(tx, saved, now)
                adopted.append(saved)
        return adopted

    def _occurred(self, tx: SqlTx, tickets: HeldTickets, ticket: Ticket, alarm: Alarm,
                  decision: Decision, now: int) -> Ticket:
        tx.add_timeline(ticket.id, self._alarm_entry(alarm, ticket.occurrences))
        widened = widen(ticket, decision)
        if widened is None:
            return ticket
        # The row is locked by add_occurrence in this transaction: the save cannot lose.
        saved = tickets.change(replace(widened, updated_at=now))
        if saved is None:
            raise TicketError(f"ticket {ticket.id} changed under a locked update")
        tx.add_timeline(ticket.id, self._routing_entry(decision, alarm.ts_ms, now))
        return saved

    def _clear(self, tx: SqlTx, alarm: Alarm, linked: dict[ReceiptKey, int | None]
               ) -> AlarmOutcome:
        """The condition went away: noted on the ticket of its raise (``linked``: the tickets
        of the receipts known to the intake); the receipt is linked with the others."""
        raised = (alarm.alarm_id, AlarmState.RAISE.value)
        ticket_id = linked.get(raised)
        if ticket_id is None:
            ticket_id = tx.receipt_ticket(*raised)
        if ticket_id is None:
            active = tx.ticket_by_open_key(open_key(alarm.device_id, alarm.kind.value))
            ticket_id = active.id if active else None
        if ticket_id is not None:
            tx.add_timeline(ticket_id, TimelineEntry(
                ts_ms=alarm.ts_ms, type=EntryType.CLEAR, actor="gateway",
                data={"alarm_id": alarm.alarm_id, "evidence": dict(alarm.evidence)}))
        return AlarmOutcome(ticket_id, created=False)

    @staticmethod
    def _alarm_entry(alarm: Alarm, occurrence: int) -> TimelineEntry:
        return TimelineEntry(ts_ms=alarm.ts_ms, type=EntryType.ALARM, actor="gateway",
                             data={"alarm_id": alarm.alarm_id, "occurrence": occurrence,
                                   "evidence": dict(alarm.evidence)})

    @staticmethod
    def _routing_entry(decision: Decision, ts_ms: int, now: int) -> TimelineEntry:
        return TimelineEntry(ts_ms=now, type=EntryType.ROUTING, actor="system",
                             rule_id=decision.route_id,
                             data={**decision.to_dict(), "alarm_ts": ts_ms})

    # --- actions -----------------------------------------------------------------------------

    def act(self, ticket_id: int, party: str, action: Action, note: str | None, *,
            by: Mapping[str, Any] | None = None) -> Ticket:
        """The action if the action matrix allows it to ``party`` now (``TicketNotFound``,
        ``AccessDenied`` or ``IllegalTransition`` otherwise), saved with its timeline entry.
        ``by`` names who of the party acted and how (a person through a signed link): kept in
        the entry's data and the audit log."""
        for _ in range(SAVE_ATTEMPTS):
            now = self.clock.now_ms()
            with self.store.transaction(now) as tx:
                current = tx.get_ticket(ticket_id)
                if current is None:
                    raise TicketNotFound(f"no ticket {ticket_id}")
                try:
                    changed, entry = act(current, party, action, note, now)
                    if by:
                        entry = replace(entry, data={**entry.data, **by})
                except AccessDenied as refused:
                    self.metrics.inc("gongzhi_actions_refused_total", reason=refused.reason)
                    raise
                saved = tx.save(changed)
                if saved is None:
                    continue  # changed meanwhile (another party, an escalation): read again
                tx.add_timeline(saved.id, entry)
                tx.audit(AuditEntry(now, party, action.value, ticket_id=saved.id,
                                    detail={"note": entry.note, **entry.data}))
                self._announce(tx, saved, now)
            self.metrics.inc("gongzhi_actions_total", action=action.value)
            return saved
        raise TicketError(f"ticket {ticket_id} is changing too often; try again")

    # --- escalation --------------------------------------------------------------------------

    def escalate_due(self, limit: int = 1000) -> list[Escalation]:
        """Apply every escalation due now. Each ticket's steps are saved only if the ticket is
        unchanged since it was read, so concurrent passes (replicas) apply each step once.
        Tickets are written in id order, in batches, so concurrent writers lock rows in one
        order (no deadlock) and a pass over many tickets costs few commits."""
        now = self.clock.now_ms()
        with self.store.transaction(now) as tx:
            due = tx.due_tickets(now, limit)
        planned = sorted((p for t in due if (p := escalate(t, now, self.matrix)) is not None),
                         key=lambda p: p.before.id)
        applied: list[Escalation] = []
        for start in range(0, len(planned), ESCALATION_BATCH):
            batch: list[Escalation] = []
            with self.store.transaction(now) as tx:
                for escalation in planned[start:start + ESCALATION_BATCH]:
                    saved = tx.save(replace(escalation.after, updated_at=now))
                    if saved is None:
                        continue  # someone else changed it first; the next pass looks again
                    for step in escalation.steps:
                        tx.add_timeline(saved.id, step.entry(now))
                    self._announce(tx, saved, now)
                    batch.append(Escalation(escalation.before, saved, escalation.steps))
            for escalation in batch:
                for step in escalation.steps:
                    self.metrics.inc("gongzhi_escalations_total", step=step.kind.value)
            applied.extend(batch)
        return applied

    # --- reads -------------------------------------------------------------------------------

    def tickets_for(self, party: str, *, statuses: Sequence[str] = (),
                    kinds: Sequence[str] = (), since: int | None = None,
                    limit: int = 500) -> list[Ticket]:
        now = self.clock.now_ms()
        with self.store.transaction(now) as tx:
            found = [t for t in tx.list_tickets(statuses=statuses, kinds=kinds, since=since,
                                                party=party, supervisor=supervises(party),
                                                limit=limit)
                     if can_see(t, party)]
            self._audit_read(tx, party, now, [t.id for t in found])
        return found

    def tickets_for_figures(self, opened_since: int, limit: int = 200_000) -> list[Ticket]:
        """The tickets opened since ``opened_since`` and every ticket still open, for aggregate
        statistics only (no per-party filter, no personal data leaves)."""
        with self.store.transaction(self.clock.now_ms()) as tx:
            found = {t.id: t for t in tx.list_tickets(opened_since=opened_since, limit=limit)}
            found.update((t.id, t) for t in tx.list_tickets(
                statuses=[s.value for s in ACTIVE], limit=limit))
        return list(found.values())

    def ticket_for(self, party: str, ticket_id: int) -> tuple[Ticket, list[TimelineEntry]]:
        now = self.clock.now_ms()
        with self.store.transaction(now) as tx:
            ticket = tx.get_ticket(ticket_id)
            if ticket is None or not can_see(ticket, party):
                raise TicketNotFound(f"no ticket {ticket_id}")
            timeline = tx.timeline(ticket_id)
            self._audit_read(tx, party, now, [ticket_id], one=True)
        return ticket, timeline

    def _audit_read(self, tx: SqlTx, party: str, now: int, ticket_ids: list[int], *,
                    one: bool = False) -> None:
        if ticket_ids and shows_personal_data(party):
            tx.audit(AuditEntry(now, party, "read", ticket_id=ticket_ids[0] if one else None,
                                detail={"tickets": ticket_ids}))

    # --- devices -----------------------------------------------------------------------------

    def put_device_states(self, states: Sequence[DeviceState]) -> int:
        now = self.clock.now_ms()
        with self.store.transaction(now) as tx:
            for state in states:
                tx.put_device_state(state, now)
        return len(states)

    def device_states(self, device_ids: Sequence[str] | None,
                      party: str) -> dict[str, DeviceState]:
        now = self.clock.now_ms()
        with self.store.transaction(now) as tx:
            states = tx.device_states(device_ids)
            if shows_personal_data(party):
                tx.audit(AuditEntry(now, party, "read", detail={
                    "devices": list(device_ids) if device_ids is not None else "all"}))
        return states

    # --- announcements -----------------------------------------------------------------------

    def _announce(self, tx: SqlTx, ticket: Ticket, now: int) -> None:
        """The event feed (server push) and the webhook outbox, in the same transaction."""
        tx.publish(ticket)
        for hook in self.matrix.webhooks:
            if can_see(ticket, hook.party):
                body = json.dumps({"event": "ticket", "sent_at": now,
                                   "ticket": public_ticket(ticket, hook.party)},
                                  separators=(",", ":"))
                tx.enqueue_webhook(hook.party, hook.url, body, now)
