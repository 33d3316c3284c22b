"""The delivery layer inside the platform: a fire's first notification, planned by the rosters,
queued in a store transaction, sent by the platform's dispatcher to the local providers with a
signed link to the mobile page; each message's outcome in the ticket's timeline and the
platform's metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from notify_channels_file import channels_file
from notify_providers import Providers
from people_support import PEOPLE_DEVICES, ROSTERS, People, at, desk, raise_alarm, timeline

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.devices.registry import write_registry
from gongzhi.hub.notify.renotify import plan
from gongzhi.hub.notify.service import NotifyDelivery
from gongzhi.hub.tokens import new_tokens, write_tokens


@pytest.fixture
def clock() -> ManualClock:
    """Monday 10:00: week 1 of the rotation, zhao's day shift (the providers' clock too)."""
    return ManualClock(at(5, 10))


@pytest.fixture
def people(tmp_path: Path, base: str, clock: ManualClock) -> Iterator[People]:
    """The platform with the duty rosters and the channels of the local providers."""
    tokens = new_tokens()
    write_tokens(tmp_path / "tokens.json", tokens)
    write_registry(tmp_path / "registry.csv", PEOPLE_DEVICES)
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'p.db'}",
                        rosters=ROSTERS, notify=channels_file(tmp_path, base),
                        platform_url="http://hub.test")
    running = People(settings, clock, tokens)
    try:
        yield running
    finally:
        running.close()


def test_a_fires_first_notification_reaches_the_people_on_duty(people: People,
                                                               providers: Providers,
                                                               clock: ManualClock):
    api = people.start()
    ticket_id = raise_alarm(api, AlarmKind.FIRE, "smk-young", at(5, 10))
    notify: NotifyDelivery = api.app.state.notify
    now = clock.now_ms()
    with api.app.state.hub.store.transaction(now) as tx:
        ticket = tx.get_ticket(ticket_id)
        assert ticket is not None
        attempt = plan(ticket, desk(api).rosters, 0, now)
        queued = notify.queue(tx, ticket, attempt, "opened", now)
    assert queued == 2  # zhao of the property office, the police room's officer on duty
    waiting = api.client.get("/metrics").text
    assert 'gongzhi_notify_backlog{channel="property_dingtalk"} 1.0' in waiting
    assert 'gongzhi_notify_backlog{channel="sms"} 1.0' in waiting
    report = notify.run_once()
    assert report.messages == 2
    ding = next(d for d in providers.delivered if d.provider == "dingtalk")
    assert ding.mentions == ("13800000002",)  # zhao, on DingTalk first by his preference
    token = re.search(r"/m/(\d+)#([^)\s]+)", ding.text)
    assert token is not None and int(token.group(1)) == ticket_id
    grant = desk(api).links.verify(token.group(2), ticket_id, clock.now_ms())
    assert (grant.recipient.party, grant.recipient.person) == ("property_office", "zhao")
    sms = next(d for d in providers.delivered if d.provider == "sms")
    assert sms.mentions == ("13900000002",)  # week 1: officer-he
    assert json.loads(sms.text)["kind"] == "火警"

    sent = [e for e in timeline(api, ticket_id, "notification") if e["action"] == "sent"]
    assert {e["data"]["channel"] for e in sent} == {"property_dingtalk", "sms"}
    # Named as every notification entry names people (the pages list data.to's names).
    assert {p["name"] for e in sent for p in e["data"]["to"]} == {"赵师傅", "何警官"}
    told = json.dumps(timeline(api, ticket_id), ensure_ascii=False)
    assert "13800000002" not in told and "13900000002" not in told  # numbers stay private
    metrics = api.client.get("/metrics").text
    assert 'gongzhi_notify_requests_total{channel="dingtalk",result="sent"} 1.0' in metrics
    assert notify.run_once().attempts == 0
    assert "gongzhi_notify_backlog{" not in api.client.get("/metrics").text


def test_a_platform_restart_between_queueing_and_sending(people: People, providers: Providers,
                                                         clock: ManualClock):
    first = people.start()
    ids = [raise_alarm(first, AlarmKind.FIRE, d, at(5, 10)) for d in ("smk-young", "smk-b2")]
    notify: NotifyDelivery = first.app.state.notify
    now = clock.now_ms()
    for ticket_id in ids:
        with first.app.state.hub.store.transaction(now) as tx:
            ticket = tx.get_ticket(ticket_id)
            assert ticket is not None
            notify.queue(tx, ticket, plan(ticket, desk(first).rosters, 0, now), "opened",
                         now)
    first.close()  # stopped before its dispatcher sent anything

    clock.advance(20_000)
    second = people.start()
    again: NotifyDelivery = second.app.state.notify
    # A DingTalk digest of both tickets; SMS (no digest template) one ticket a message.
    assert [again.run_once().messages for _ in range(3)] == [2, 1, 0]
    assert [d.provider for d in providers.delivered] == ["dingtalk", "sms", "sms"]
    carried = sorted(int(t) for d in providers.delivered if d.provider == "dingtalk"
                     for t in re.findall(r"#(\d+)", d.text))
    assert carried == sorted(ids)  # each ticket once
    assert again.outbox.states() == {"sent": 4}
