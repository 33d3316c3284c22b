"""A storm of alarms through the delivery layer on the injected clock, against the local
providers: what the storm test asserts and what bench/bench_notify.py measures.

Four parties: the property office's people on a WeCom robot, the police room's on a DingTalk
robot, the residents' committee's on a Feishu bot (each person with SMS behind), the owners'
committee on a signed webhook. Alarms arrive at random moments of one simulated minute; the
dispatcher runs every 250 ms of simulated time until everything is sent.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from notify_parts import channels, make_parts
from notify_providers import Providers, serve

from gongzhi.core.clock import ManualClock
from gongzhi.hub.notify.dispatcher import Policy
from gongzhi.hub.notify.message import Notice
from gongzhi.hub.notify.outbox import NewJob, Target

PEOPLE = {
    "property_office": ("wecom", (("wang", "13800000001"), ("zhao", "13800000002"))),
    "police_room": ("dingtalk", (("liu", "13800000011"), ("chen", "13800000012"))),
    "residents_committee": ("feishu", (("zhou", "13800000021"), ("wu", "13800000022"))),
    "owners_committee": ("hook", (("office", ""),)),
}
PARTY_SHARE = (("property_office", 0.5), ("police_room", 0.2), ("residents_committee", 0.2),
               ("owners_committee", 0.1))
SEVERITY_SHARE = (("critical", 0.15), ("major", 0.35), ("minor", 0.5))
KINDS = {"critical": ("fire",), "major": ("smoke_alarm", "electrical_leakage", "tamper"),
         "minor": ("low_battery", "device_offline", "water_pressure_low")}
LIMITS_PER_MIN = {"wecom": 20, "dingtalk": 20, "feishu": 100}
STEP_MS = 250
_HEADER = re.compile(r"(?:共 (\d+) 条|(\d+) alarms)\s*[（(]([^）)]*)[）)]")
_TICKET = re.compile(r"#(\d+)")


@dataclass
class Alarm:
    ticket_id: int
    at_ms: int  # when it arrived, from the storm's start
    party: str
    severity: str
    kind: str


@dataclass
class StormResult:
    alarms: list[Alarm]
    critical_latency_ms: dict[int, int]  # ticket -> first message carrying it, from arrival
    dropped_critical: list[int]
    max_per_min: dict[str, int]
    max_per_s: dict[str, int]
    throttle_answers: int
    messages: int
    digests: int
    digest_problems: list[str] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    simulated_ms: int = 0


def _pick(rng: random.Random, shares: tuple[tuple[str, float], ...]) -> str:
    roll, total = rng.random(), 0.0
    for name, share in shares:
        total += share
        if roll < total:
            return name
    return shares[-1][0]


def alarms_of(count: int, seed: int, span_ms: int = 60_000) -> list[Alarm]:
    rng = random.Random(seed)
    found = []
    for i in range(count):
        severity = _pick(rng, SEVERITY_SHARE)
        found.append(Alarm(1000 + i, int(rng.uniform(0, span_ms)), _pick(rng, PARTY_SHARE),
                           severity, rng.choice(KINDS[severity])))
    return sorted(found, key=lambda a: a.at_ms)


def _jobs(alarm: Alarm, start: int) -> list[NewJob]:
    channel, people = PEOPLE[alarm.party]
    notice = Notice(alarm.ticket_id, alarm.kind, alarm.severity,
                    f"yijing B{alarm.ticket_id % 9} U1 {alarm.ticket_id % 17}F",
                    "opened", "ack", start + alarm.at_ms + 300_000)
    jobs = []
    for person, mobile in people:
        mentions = (mobile,) if channel in ("wecom", "dingtalk") else ()
        fallback = (Target("sms", mobile),) if mobile else ()
        jobs.append(NewJob(f"{alarm.ticket_id}:opened:0:{alarm.party}:{person}", alarm.party,
                           person, person.title(), "zh", notice,
                           Target(channel, "", mentions), fallback))
    return jobs


def run_storm(db: Path, *, count: int = 1000, seed: int = 1,
              horizon_ms: int = 15 * 60_000) -> StormResult:
    clock = ManualClock()
    start = clock.now_ms()
    providers = Providers(clock, sms_daily_cap=10)
    storm = alarms_of(count, seed)
    with serve(providers) as base:
        parts = make_parts(db, channels(base, sms_cap=10), clock,
                           policy=Policy(fallback_after_ms=5_000))
        pending = list(storm)
        while clock.now_ms() - start <= horizon_ms:
            now = clock.now_ms()
            due = [a for a in pending if start + a.at_ms <= now]
            pending = pending[len(due):]
            if due:
                parts.add(*(j for a in due for j in _jobs(a, start)))
            parts.dispatcher.run_once()
            if not pending and parts.outbox.backlog() == 0:
                break
            clock.advance(STEP_MS)
        simulated = clock.now_ms() - start
        parts.dispatcher.close()
    return _judge(storm, parts.outbox.jobs(), parts.outbox.attempts(), providers, start,
                  simulated, parts.outbox.states())


def _judge(storm: list[Alarm], jobs: list[dict[str, object]], attempts: list[object],
           providers: Providers, start: int, simulated: int,
           states: Counter[str]) -> StormResult:
    arrival = {a.ticket_id: start + a.at_ms for a in storm}
    first_sent: dict[int, int] = {}
    for row in jobs:
        if row["state"] == "sent":
            tid, done = int(str(row["ticket_id"])), int(str(row["done_at"]))
            first_sent[tid] = min(first_sent.get(tid, done), done)
    critical = [a.ticket_id for a in storm if a.severity == "critical"]
    latency = {t: first_sent[t] - arrival[t] for t in critical if t in first_sent}
    dropped = [t for t in critical if t not in first_sent]
    # What the providers saw agrees: every critical ticket's id is in some message they took.
    seen: set[int] = set()
    for d in providers.delivered:
        if d.provider == "sms":
            seen.update(int(t) for t in re.findall(r'"ticket": "(\d+)"', d.text))
        else:
            seen.update(int(t) for t in _TICKET.findall(d.text))
    dropped += [t for t in critical if t in first_sent and t not in seen
                and not _sms_digest_only(t, jobs)]
    problems = check_digests(providers, jobs)
    return StormResult(
        storm, latency, sorted(set(dropped)),
        {p: providers.sent_in_window(p, 60_000) for p in ("wecom", "dingtalk", "feishu",
                                                          "webhook", "sms")},
        {p: providers.sent_in_window(p, 1_000) for p in ("wecom", "dingtalk", "feishu")},
        sum(1 for p, _, code in providers.answers if code in ("45009", "130101", "11232")),
        len(providers.delivered), sum(1 for d in providers.delivered if _HEADER.search(d.text)),
        problems, dict(states), simulated)


def _sms_digest_only(ticket_id: int, jobs: list[dict[str, object]]) -> bool:
    return any(r["ticket_id"] == ticket_id and r["state"] == "sent"
               and str(r["via"]).startswith("digest:sms") for r in jobs)


def check_digests(providers: Providers, jobs: list[dict[str, object]]) -> list[str]:
    """Each digest's counts: the total is the sum of its severities and the number of tickets
    it carries (as the outbox records); every ticket of a destination is carried once."""
    carried: dict[str, set[int]] = defaultdict(set)
    for row in jobs:
        if row["state"] == "sent" and str(row["via"]).startswith("digest:"):
            carried[str(row["via"])].add(int(str(row["ticket_id"])))
    problems = []
    for d in providers.delivered:
        head = _HEADER.search(d.text)
        if head is None:
            continue
        total = int(head.group(1) or head.group(2))
        parts = [int(n) for n in re.findall(r"\d+", head.group(3))]
        if sum(parts) != total:
            problems.append(f"{d.provider}: {head.group(0)} does not add up")
        listed = {int(t) for t in _TICKET.findall(d.text)}
        matching = [k for k, ids in carried.items() if listed <= ids and len(ids) == total]
        if not matching:
            problems.append(f"{d.provider}: no digest in the outbox carries {total} tickets "
                            f"including {sorted(listed)[:5]}")
    per_dest: dict[tuple[str, int], int] = Counter()
    for row in jobs:
        if row["state"] == "sent":
            per_dest[(str(row["via"]), int(str(row["ticket_id"])))] += 1
    return problems
