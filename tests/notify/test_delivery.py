"""Durable delivery: planned once per key, sent by one dispatcher at a time (two replicas never
both send), nothing lost or doubled across a restart or a dispatcher that dies holding a lease;
the channels file read through the config kit; the digest's text."""

from __future__ import annotations

from pathlib import Path

import pytest
from notify_parts import START, channels, job, link, make_parts, notice
from notify_providers import Providers

from gongzhi.core.clock import ManualClock
from gongzhi.core.errors import ConfigError
from gongzhi.devices.registry import Location
from gongzhi.hub.notify import message
from gongzhi.hub.notify.config import build_channels, load_notify
from gongzhi.hub.notify.dispatcher import Dispatcher, Policy
from gongzhi.hub.notify.outbox import Target
from gongzhi.hub.notify.planner import jobs_for, notice_of
from gongzhi.hub.notify.renotify import Attempt, Delivery, StepKind
from gongzhi.hub.notify.roster import Person
from gongzhi.hub.tickets import Status, Ticket


def test_the_same_key_is_one_job(tmp_path: Path, base: str, clock: ManualClock,
                                 providers: Providers):
    parts = make_parts(tmp_path / "n.db", channels(base), clock)
    assert parts.add(job(1, "feishu"), job(2, "feishu")) == 2
    assert parts.add(job(1, "feishu")) == 0  # planned again (a restart, a second replica)
    parts.dispatcher.run_once()
    assert len(providers.delivered) == 1  # one digest of the two tickets
    assert providers.delivered[0].text.startswith("【共治·告警汇总】共 2 条（危急 2）")
    assert parts.outbox.states() == {"sent": 2}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    if request.param == "sqlite":
        return tmp_path / "n.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_two_replicas_never_both_send_and_the_second_takes_over(where: Path | str, base: str,
                                                               clock: ManualClock,
                                                               providers: Providers):
    policy = Policy(leader_lease_ms=10_000)
    a = make_parts(where, channels(base), clock, owner="replica-a", policy=policy)
    b = Dispatcher(a.outbox, channels(base), clock, owner="replica-b", link=link,
                   policy=policy)
    sent_by: dict[str, int] = {"a": 0, "b": 0}
    for i in range(40):
        a.add(job(100 + i, "hook", severity="minor", party="police_room"))
        sent_by["a"] += a.dispatcher.run_once().messages
        sent_by["b"] += b.run_once().messages
        clock.advance(1_000)
    assert sent_by["b"] == 0 and sent_by["a"] > 0  # a leads while it runs
    # a stops (its lease is not renewed): b takes over once the lease has run out
    for i in range(40):
        a.add(job(200 + i, "hook", severity="minor", party="police_room"))
        sent_by["b"] += b.run_once().messages
        clock.advance(1_000)
    assert sent_by["b"] > 0
    carried = [int(t) for d in providers.delivered for t in
               __import__("re").findall(r"#(\d+)", d.text)]
    assert sorted(carried) == list(range(100, 140)) + list(range(200, 240))  # once each
    assert a.outbox.states() == {"sent": 80}
    a.dispatcher.close()
    b.close()
    a.engine.dispose()


def test_a_restart_loses_and_doubles_nothing(where: Path | str, base: str, clock: ManualClock,
                                             providers: Providers):
    first = make_parts(where, channels(base), clock, owner="before")
    first.add(*(job(300 + i, "wecom", severity="major") for i in range(3)))
    first.dispatcher.run_once()  # a digest of three
    first.add(*(job(310 + i, "wecom", severity="minor") for i in range(3)))
    # The process dies after leasing the next jobs and before sending them.
    leased = first.outbox.claim("before", clock.now_ms(), Policy().lease_ms)
    assert len(leased) == 3
    first.dispatcher.close()

    clock.advance(20_000)  # the old leader's lease has run out; the jobs' leases have not
    after = Dispatcher(first.outbox, channels(base), clock, owner="after", link=link)
    assert after.run_once().attempts == 0
    clock.advance(Policy().lease_ms)
    assert after.run_once().messages == 1
    after.close()
    tickets = sorted(int(t) for d in providers.delivered
                     for t in __import__("re").findall(r"#(\d+)", d.text))
    assert tickets == [300, 301, 302, 310, 311, 312]
    assert first.outbox.states() == {"sent": 6}
    first.engine.dispose()


def test_a_new_leader_counts_the_last_minutes_requests(tmp_path: Path, base: str,
                                                       clock: ManualClock,
                                                       providers: Providers):
    first = make_parts(tmp_path / "n.db", channels(base), clock, owner="before",
                       policy=Policy(leader_lease_ms=1_000))
    for i in range(5):  # the burst of the robot's bucket
        first.add(job(400 + i, "dingtalk", severity="critical"))
        assert first.dispatcher.run_once().messages == 1
    first.dispatcher.close()
    clock.advance(2_000)
    after = Dispatcher(first.outbox, channels(base), clock, owner="after", link=link)
    first.add(job(410, "dingtalk", severity="critical"))
    assert after.run_once().attempts == 0  # five requests in the last minute: no token yet
    clock.advance(4_001)  # one token back: 15 a minute after the burst
    assert after.run_once().messages == 1
    after.close()


def _ticket(ticket_id: int = 42) -> Ticket:
    return Ticket(
        id=ticket_id, kind="fire", severity="critical", status=Status.OPEN,  # type: ignore[arg-type]
        assignee="property_office", notified=("police_room",),
        chain=("property_office", "police_room"), device_id="smk-1",
        location=Location("yijing", "B3", "U2", "12", "1203"), elderly_alone=False,
        household="H1203", riser=None, phone=None, opened_at=START, first_seen=START,
        last_seen=START, updated_at=START, occurrences=1, route_id="fire",
        ack_due_at=START + 180_000, on_site_due_at=START + 900_000, resolve_due_at=None)


def _config(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "wecom.key").write_text("the-wecom-key\n")
    path = tmp_path / "notify.yaml"
    path.write_text(
        "version: 1\n"
        "channels:\n"
        "  property_wecom: {type: wecom, key: {file: wecom.key}}\n"
        "  sms:\n"
        "    type: sms\n"
        "    access_key_id: {env: AK_ID}\n"
        "    access_key_secret: {env: AK_SECRET}\n"
        "    sign_name: 共治平台\n"
        "    template: SMS_300001\n"
        "parties:\n"
        "  property_office: {wecom: property_wecom, sms: sms, language: en}\n" + extra,
        encoding="utf-8")
    return path


def test_an_attempt_becomes_one_job_per_person_with_the_fallback_chain(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AK_ID", "LTAI-id")
    monkeypatch.setenv("AK_SECRET", "ak-secret-value")
    config = load_notify(_config(tmp_path))
    wang = Person(id="wang", name="王建国", mobile="13800000001", channels=("wecom", "sms"))
    liu = Person(id="liu", name="Liu Wei", email="liu@example.cn", channels=("email", "sms"),
                 language="en")
    nobody = Person(id="he", name="何", channels=("dingtalk",))
    attempt = Attempt(42, 0, StepKind.ON_DUTY, "property_office", (
        Delivery("property_office", wang, ("wecom", "sms")),
        Delivery("property_office", liu, ("email", "sms")),
        Delivery("property_office", nobody, ("dingtalk",))))
    jobs = jobs_for(_ticket(), attempt, config)
    # liu: no e-mail channel for the party and no mobile; he: no DingTalk robot for it.
    assert [(j.recipient, j.target, j.fallback) for j in jobs] == [
        ("wang", Target("property_wecom", "", ("13800000001",)),
         (Target("sms", "13800000001"),))]
    assert jobs[0].key == "42:opened:0:property_office:wang"
    assert jobs[0].language == "en"  # the party's robot speaks English; wang reads Chinese
    assert jobs[0].notice == notice_of(_ticket(), "opened")
    assert jobs[0].notice.place == "yijing B3 U2 12F 1203"
    assert (jobs[0].notice.stage, jobs[0].notice.due_at) == ("ack", START + 180_000)
    built = build_channels(config)
    assert set(built) == {"property_wecom", "sms"}
    assert "the-wecom-key" not in repr(config) and "ak-secret-value" not in repr(config)


def test_a_channel_of_the_wrong_kind_names_its_line(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AK_ID", "x")
    monkeypatch.setenv("AK_SECRET", "y")
    path = _config(tmp_path, "  police_room: {dingtalk: property_wecom}\n")
    with pytest.raises(ConfigError) as failed:
        load_notify(path)
    assert "property_wecom" in str(failed.value) and "not dingtalk" in str(failed.value)
    assert str(failed.value).startswith(f"{path}:")
    path.write_text(path.read_text().replace("{file: wecom.key}", "the-key-itself"))
    with pytest.raises(ConfigError, match=r"notify.yaml:3: channels.property_wecom.key"):
        load_notify(path)


def test_a_digest_lists_critical_first_and_counts_exactly():
    now = START
    notices = [notice(i, sev, now=now) for i, sev in
               enumerate(["minor", "critical", "major", "critical", "minor"], start=1)]
    found = message.digest(notices, lambda t: f"https://x/m/{t}", now, "zh", 4096)
    lines = found.text.splitlines()
    assert lines[0] == "【共治·告警汇总】共 5 条（危急 2，严重 1，一般 2）"
    assert [line.split()[0] for line in lines[1:]] == ["#2", "#4", "#3", "#1", "#5"]
    assert found.counts == {"critical": 2, "major": 1, "minor": 2}
    # Too small for every line: criticals listed first, the others counted, not listed.
    small = message.digest(notices, lambda t: f"https://x/m/{t}", now, "en", 420)
    assert small.text.splitlines()[0] == "[Gongzhi · digest] 5 alarms (Critical 2, Major 1, " \
                                         "Minor 2)"
    assert "#2" in small.text and "#4" in small.text
    assert small.text.splitlines()[-1].endswith("not listed one by one: see the platform")
    # Too small for every critical: the ones left out are not counted (they go next).
    tiny = message.digest(notices, lambda t: f"https://x/m/{t}", now, "zh", 300)
    assert tiny.counts == {"critical": 1} and len(tiny.included) == 1


def test_time_left_in_words():
    n = notice(1, now=START)
    assert message.sla_left(n, START, "zh") == "剩余 5分"
    assert message.sla_left(n, START + 301_000, "zh") == "已超时 1秒"
    assert message.sla_left(n, START - 3_600_000 + 30_000, "en") == "1 h 4 min 30 s left"


def test_a_new_leader_counts_each_limit_over_its_own_window(tmp_path: Path, base: str,
                                                            clock: ManualClock):
    first = make_parts(tmp_path / "n.db", channels(base), clock, owner="before",
                       policy=Policy(leader_lease_ms=1_000))
    for i in range(5):  # Feishu: 5 a second at most, so one every 250 ms
        first.add(job(500 + i, "feishu"))
        assert first.dispatcher.run_once().messages == 1
        clock.advance(250)
    first.dispatcher.close()
    clock.advance(2_000)  # none in the last second, five in the last minute
    after = Dispatcher(first.outbox, channels(base), clock, owner="after", link=link)
    first.add(job(510, "feishu"))
    assert after.run_once().messages == 1  # the per-second bucket is not charged the minute's
    after.close()
