"""The dispatcher: sends what the outbox holds, within each provider's limits.

Each run (every half second, off the event loop): hold the leader lease (one sender for the
whole installation), lease the due jobs, group them by destination (a channel and an address),
and for each destination, critical first:

- the channel has a token (``bucket``): one message, a single notice when one ticket waits,
  else one digest (critical first, exact counts); the provider's answer decides each carried
  job: sent; retried with backoff; throttled (the channel pauses, DingTalk's 130101 for ten
  minutes); refused (not retried: failed with the reason, or handed to the person's next
  channel);
- no token, paused, or a number at its daily cap: the jobs wait for the next token, except
  critical ones waiting longer than ``fallback_after`` (or facing a pause or a cap), which fall
  back at once to the person's next channel (SMS).

Every attempt and its outcome goes into the ticket's timeline with the job's new state, in one
transaction. A dispatcher that stops between sending and recording sends that message again
after the lease runs out (at least once; the message keeps its idempotency key for receivers
that can use it: webhooks, SMS ``OutId``, e-mail ``Message-ID``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from gongzhi.core.clock import Clock
from gongzhi.hub.notify import message as msg
from gongzhi.hub.notify.bucket import Buckets
from gongzhi.hub.notify.channel import Channel, Message, Outcome, Result
from gongzhi.hub.notify.outbox import (
    FAILED,
    FALLBACK,
    PENDING,
    SENT,
    AttemptRow,
    Finish,
    Job,
    NewJob,
    NotifyOutbox,
    Target,
)
from gongzhi.hub.webhooks import backoff_ms

log = logging.getLogger(__name__)

#: ``link(ticket_id, party, person, now)``: the link a message carries for one ticket.
LinkMaker = Callable[[int, str, str, int], str]
DestKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Policy:
    lease_ms: int = 60_000  # a job's lease while it is being sent
    leader_lease_ms: int = 15_000  # the one dispatcher's lease, renewed every run
    fallback_after_ms: int = 5_000  # a critical job waiting this long goes to the next channel
    max_attempts: int = 12  # transient failures before a job is given up
    batch: int = 2000  # jobs leased per run
    critical_reserve: int = 1  # tokens a message without a critical ticket leaves in a bucket
    timeout_s: float = 5.0  # per HTTP request


@dataclass
class RunReport:
    messages: int = 0  # requests the providers took
    attempts: int = 0  # requests made
    handed_on: int = 0  # jobs handed to a person's next channel
    results: dict[str, int] = field(default_factory=dict)


def _placeholder_link(ticket_id: int, party: str, person: str, now: int) -> str:
    return f"/m/{ticket_id}"


class Dispatcher:
    def __init__(self, outbox: NotifyOutbox, channels: Mapping[str, Channel], clock: Clock, *,
                 owner: str, link: LinkMaker = _placeholder_link,
                 backoff: Callable[[int], int] = backoff_ms, policy: Policy = Policy(),
                 timezone: str = "Asia/Shanghai",
                 http: Callable[[], httpx.Client] | None = None,
                 observe: Callable[[str, str], None] | None = None) -> None:
        self._outbox = outbox
        self._channels = dict(channels)
        self._clock = clock
        self._owner = owner
        self._link = link
        self._backoff = backoff
        self.policy = policy
        self._zone = ZoneInfo(timezone)
        self._make_http = http or (lambda: httpx.Client(timeout=policy.timeout_s))
        self._http: httpx.Client | None = None
        self._observe = observe  # (channel kind, result) of every request, for the metrics
        self._buckets = Buckets()
        self._paused: dict[DestKey, int] = {}  # (channel, "" or address) -> until
        self._leading = False
        self._lead_until = 0

    # --- one run -----------------------------------------------------------------------------

    def run_once(self) -> RunReport:
        report = RunReport()
        self._pass(report)
        if report.handed_on:  # messages handed to a next channel go in this run too
            self._pass(report)
        return report

    def _pass(self, report: RunReport) -> None:
        now = self._clock.now_ms()
        if not self._lead(now):
            return
        jobs = self._outbox.claim(self._owner, now, self.policy.lease_ms, self.policy.batch)
        if not jobs:
            return
        groups: dict[DestKey, list[Job]] = {}
        for job in jobs:
            groups.setdefault((job.target.channel, job.target.address), []).append(job)
        order = sorted(groups, key=lambda k: min((msg.severity_rank(j.severity), j.id)
                                                 for j in groups[k]))
        if self._http is None:
            self._http = self._make_http()
        for dest in order:
            # A long run (slow providers) renews the lease as it goes, and stops if it lost
            # it: the new leader sends what is left once the jobs' leases run out.
            if not self._lead(self._clock.now_ms()):
                break
            self._destination(self._http, dest, groups[dest], report)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _lead(self, now: int) -> bool:
        """Hold the leader lease, renewed when half of it has run (not every run)."""
        lease = self.policy.leader_lease_ms
        if self._leading and now < self._lead_until - lease // 2:
            return True
        if not self._outbox.lead(self._owner, now, lease):
            self._leading = False
            return False
        if not self._leading:
            self._resume_buckets(now)
            self._leading = True
        self._lead_until = now + lease
        return True

    def _resume_buckets(self, now: int) -> None:
        """A new leader counts the requests made in each limit's window (by the dispatcher it
        replaces) against its buckets, so a restart or a change of leader does not start with
        full ones."""
        windows = {limit.window_ms for c in self._channels.values() for limit in c.limits}
        made = {w: self._outbox.requests_since(now - w) for w in windows}
        for name, channel in self._channels.items():
            used = [made[limit.window_ms].get(name, 0) for limit in channel.limits]
            if any(used):
                self._buckets.charge((name,), channel.limits, now, used)

    # --- one destination -----------------------------------------------------------------------

    def _destination(self, http: httpx.Client, dest: DestKey, jobs: list[Job],
                     report: RunReport) -> None:
        name, address = dest
        now = self._clock.now_ms()
        jobs.sort(key=lambda j: (msg.severity_rank(j.severity), j.id))
        channel = self._channels.get(name)
        if channel is None:
            finished, attempts, handed = self._refuse(
                jobs, f"no channel {name!r} is configured", name, now)
            report.handed_on += len(handed)
            self._outbox.finish(self._owner, now, finished, attempts, handed)
            return
        critical = any(j.severity == "critical" for j in jobs)
        wait, why = self._blocked(channel, address, now, critical)
        if wait > 0:
            finished, fallback = self._wait(jobs, wait, why, now)
            report.handed_on += len(fallback)
            self._outbox.finish(self._owner, now, finished, (), fallback)
            return
        if channel.digests:
            jobs += self._outbox.claim_waiting(self._owner, now, self.policy.lease_ms, name,
                                               address)
            jobs.sort(key=lambda j: (msg.severity_rank(j.severity), j.id))
        carried, rest, message = self._compose(channel, address, jobs, now)
        self._buckets.take((name,), channel.limits, now)
        outcome = channel.send(http, message, now)
        report.attempts += 1
        report.results[outcome.result.value] = report.results.get(outcome.result.value, 0) + 1
        if outcome.result is Result.SENT:
            report.messages += 1
        if self._observe is not None:
            self._observe(channel.kind, outcome.result.value)
        attempt = AttemptRow(now, name, address, message.key, len(carried),
                             len({j.ticket_id for j in carried}), message.digest,
                             outcome.result.value, outcome.detail)
        finished, fallback = self._outcome(channel, address, carried, message, outcome, now)
        finished += [Finish(j, PENDING, next_attempt_at=now) for j in rest]
        report.handed_on += len(fallback)
        if outcome.result is not Result.SENT:
            log.warning("notification on %s (%s) %s: %s", name, channel.kind,
                        outcome.result.value, outcome.detail)
        self._outbox.finish(self._owner, now, finished, [attempt], fallback)

    def _blocked(self, channel: Channel, address: str, now: int,
                 critical: bool = True) -> tuple[int, str]:
        """How long the destination must wait (0: a message may go now) and why. A message
        without a critical ticket waits until the buckets hold the critical reserve too."""
        paused = max(self._paused.get((channel.name, ""), 0),
                     self._paused.get((channel.name, address), 0))
        if paused > now:
            return paused - now, "paused"
        cap = getattr(channel, "daily_cap", None)
        if isinstance(cap, int) and address:
            midnight = self._midnight(now)
            if self._outbox.sent_since(channel.name, address, midnight) >= cap:
                return self._next_midnight(now) - now, "daily cap"
        need = 1 if critical else 1 + self.policy.critical_reserve
        ready = self._buckets.ready_in_ms((channel.name,), channel.limits, now, need)
        return (ready, "limit") if ready > 0 else (0, "")

    def _midnight(self, now: int) -> int:
        local = datetime.fromtimestamp(now / 1000, self._zone)
        return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)

    def _next_midnight(self, now: int) -> int:
        local = datetime.fromtimestamp(self._midnight(now) / 1000, self._zone)
        return int((local + timedelta(days=1)).timestamp() * 1000)

    def _wait(self, jobs: Sequence[Job], wait: int, why: str,
              now: int) -> tuple[list[Finish], list[NewJob]]:
        finished: list[Finish] = []
        fallback: list[NewJob] = []
        for job in jobs:
            urgent = job.severity == "critical" and (
                why != "limit" or now - job.created_at + wait >= self.policy.fallback_after_ms)
            if urgent and self._open(job.fallback, now):
                # Blocked for now, not for good: the channel stays last in the chain.
                item, new = self._fall_back(job, f"{job.target.channel}: {why}", now,
                                            back=True)
                finished.append(item)
                fallback.append(new)
            else:
                finished.append(Finish(job, PENDING, next_attempt_at=now + wait))
        return finished, fallback

    def _open(self, chain: Sequence[Target], now: int) -> bool:
        """Whether the first channel of ``chain`` could take a critical message now."""
        if not chain:
            return False
        channel = self._channels.get(chain[0].channel)
        return channel is None or self._blocked(channel, chain[0].address, now)[0] == 0

    def _fall_back(self, job: Job, reason: str, now: int,
                   back: bool = False) -> tuple[Finish, NewJob]:
        target, rest = job.fallback[0], job.fallback[1:]
        if back:
            rest = (*rest, job.target)
        new = NewJob(key=f"{job.key}>{target.channel}", party=job.party,
                     recipient=job.recipient, recipient_name=job.recipient_name,
                     language=job.language, notice=job.notice, target=target, fallback=rest)
        note = f"{job.target.channel} → {target.channel} ({job.recipient_name}): {reason}"
        return Finish(job, FALLBACK, error=reason, timeline_note=note, timeline_data={
            "channel": job.target.channel, "to": _to(job), "result": "fallback",
            "next_channel": target.channel, "reason": reason}), new

    def _refuse(self, jobs: Sequence[Job], reason: str, name: str,
                now: int) -> tuple[list[Finish], list[AttemptRow], list[NewJob]]:
        finished: list[Finish] = []
        fallback: list[NewJob] = []
        for job in jobs:
            if job.fallback:
                item, new = self._fall_back(job, reason, now)
                finished.append(item)
                fallback.append(new)
            else:
                finished.append(Finish(job, FAILED, error=reason, timeline_note=(
                    f"{name} ({job.recipient_name}): failed, {reason}"), timeline_data={
                    "channel": name, "to": _to(job), "result": "failed",
                    "reason": reason}))
        return finished, [], fallback

    # --- composing -----------------------------------------------------------------------------

    def _compose(self, channel: Channel, address: str, jobs: list[Job],
                 now: int) -> tuple[list[Job], list[Job], Message]:
        """The message for the destination and the jobs it carries (the rest wait)."""
        notices: dict[int, msg.Notice] = {}
        first_job: dict[int, Job] = {}
        for job in jobs:
            notices.setdefault(job.ticket_id, job.notice)
            first_job.setdefault(job.ticket_id, job)
        language = jobs[0].language

        def link(ticket_id: int) -> str:
            j = first_job[ticket_id]
            return self._link(ticket_id, j.party, j.recipient, now)

        if len(notices) == 1 or not channel.digests:
            ticket_id = next(iter(notices))
            carried = [j for j in jobs if j.ticket_id == ticket_id]
            notice = notices[ticket_id]
            url = link(ticket_id)
            message = Message(
                key=carried[0].key if len(carried) == 1 else f"{carried[0].key}+{len(carried)}",
                address=address, title=msg.title(notice, language),
                text=msg.text(notice, url, now, language),
                markdown=msg.markdown(notice, url, now, language), language=language,
                mentions=_mentions(carried), params=_sms_params(notice, url, now, language),
                body={"notices": [_public(notice, url)]})
        else:
            ordered = list(notices.values())
            text_form = msg.digest(ordered, link, now, language, channel.max_bytes)
            md_form = msg.digest(ordered, link, now, language, channel.max_bytes,
                                 markdown_form=True)
            chosen = md_form if md_form.included == text_form.included else text_form
            tickets = {ordered[i].ticket_id for i in chosen.included}
            carried = [j for j in jobs if j.ticket_id in tickets]
            counts = chosen.counts
            critical = [ordered[i] for i in chosen.included if ordered[i].severity == "critical"]
            first = critical[0] if critical else ordered[chosen.included[0]]
            message = Message(
                key=f"digest:{channel.name}:{carried[0].id}:{len(carried)}",
                address=address, title=text_form.text.splitlines()[0],
                text=text_form.text, markdown=md_form.text if md_form is chosen else
                text_form.text, language=language, mentions=_mentions(carried), digest=True,
                params={"total": str(sum(counts.values())),
                        "critical": str(counts.get("critical", 0)),
                        "link": link(first.ticket_id)},
                body={"counts": counts, "notices": [
                    _public(ordered[i], link(ordered[i].ticket_id)) for i in chosen.included]})
        carried_ids = {j.id for j in carried}
        return carried, [j for j in jobs if j.id not in carried_ids], message

    # --- outcomes ------------------------------------------------------------------------------

    def _outcome(self, channel: Channel, address: str, carried: Sequence[Job],
                 message: Message, outcome: Outcome,
                 now: int) -> tuple[list[Finish], list[NewJob]]:
        finished: list[Finish] = []
        fallback: list[NewJob] = []
        if outcome.result is Result.THROTTLED:
            scope = "" if channel.kind != "sms" else address
            self._paused[(channel.name, scope)] = now + outcome.pause_ms
        for job in carried:
            attempts = job.attempts + 1
            data = {"channel": channel.name, "kind": channel.kind, "to": _to(job),
                    "result": outcome.result.value, "detail": outcome.detail,
                    "attempt": attempts, "message": message.key, "digest": message.digest}
            note = (f"{channel.name} ({job.recipient_name}): {outcome.result.value}"
                    f" — {outcome.detail}")
            if outcome.result is Result.SENT:
                finished.append(Finish(job, SENT, attempted=True, via=message.key,
                                       timeline_note=note, timeline_data=data))
                continue
            if outcome.result is Result.REFUSED:
                reason = f"refused by {channel.kind}: {outcome.detail}"
                if job.fallback:
                    item, new = self._fall_back(job, reason, now)
                    finished.append(replace(item, attempted=True, timeline_data={
                        **item.timeline_data, **data, "result": "fallback"}))
                    fallback.append(new)
                else:
                    finished.append(Finish(job, FAILED, attempted=True, error=reason,
                                           timeline_note=note, timeline_data=data))
                continue
            # RETRY or THROTTLED: later, or now on the next channel
            if outcome.result is Result.THROTTLED:
                delay = outcome.pause_ms
            else:
                delay = self._backoff(attempts)
            urgent = job.severity == "critical" and (
                outcome.result is Result.THROTTLED
                or now - job.created_at + delay >= self.policy.fallback_after_ms)
            if urgent and self._open(job.fallback, now):
                item, new = self._fall_back(job, f"{channel.name}: {outcome.detail}", now,
                                            back=True)
                finished.append(replace(item, attempted=True, timeline_data={
                    **item.timeline_data, **data, "result": "fallback"}))
                fallback.append(new)
            elif attempts >= self.policy.max_attempts:
                reason = f"given up after {attempts} attempts: {outcome.detail}"
                finished.append(Finish(job, FAILED, attempted=True, error=reason,
                                       timeline_note=f"{channel.name} ({job.recipient_name}): "
                                                     f"failed — {reason}",
                                       timeline_data={**data, "result": "failed"}))
            else:
                finished.append(Finish(job, PENDING, next_attempt_at=now + delay,
                                       attempted=True, error=outcome.detail,
                                       timeline_note=note, timeline_data={
                                           **data, "next_attempt_at": now + delay}))
        return finished, fallback


def _to(job: Job) -> list[dict[str, str]]:
    """Who a timeline entry names, in the form every notification entry uses (the pages list
    the names)."""
    return [{"party": job.party, "person": job.recipient, "name": job.recipient_name}]


def _mentions(jobs: Sequence[Job]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m for j in jobs for m in j.target.mentions))


def _public(notice: msg.Notice, link: str) -> dict[str, object]:
    return {**notice.to_dict(), "link": link}


def _sms_params(notice: msg.Notice, link: str, now: int, language: str) -> dict[str, str]:
    """The template's variables; each is short (the provider limits a variable's length)."""
    return {"kind": msg.kind_label(notice.kind, language)[:20],
            "severity": msg.severity_label(notice.severity, language),
            "place": notice.place[:35], "sla": msg.sla_left(notice, now, language)[:20],
            "ticket": str(notice.ticket_id), "link": link}
