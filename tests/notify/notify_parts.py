"""The delivery layer's test parts: an SQLite database with the outbox and a timeline, channels
pointed at the local providers, a dispatcher on the injected clock."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notify_providers import (
    ALIYUN_ID,
    ALIYUN_SECRET,
    DING_SECRET,
    DING_TOKEN,
    FEISHU_HOOK,
    FEISHU_SECRET,
    HOOK_SECRET,
    WECOM_KEY,
)
from sqlalchemy import Engine, create_engine, event, text

from gongzhi.core.clock import ManualClock
from gongzhi.core.config_kit import Secret
from gongzhi.hub.notify.aliyun import AliyunSms
from gongzhi.hub.notify.channel import Channel
from gongzhi.hub.notify.dingtalk import DingTalkRobot
from gongzhi.hub.notify.dispatcher import Dispatcher, Policy
from gongzhi.hub.notify.feishu import FeishuBot
from gongzhi.hub.notify.hook import SignedWebhook
from gongzhi.hub.notify.message import Notice
from gongzhi.hub.notify.outbox import NewJob, NotifyOutbox, Target, enqueue
from gongzhi.hub.notify.sms import SmsChannel
from gongzhi.hub.notify.wecom import WeComRobot

START = ManualClock().now_ms()
TIMELINE_DDL = """CREATE TABLE IF NOT EXISTS timeline (id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL, type TEXT NOT NULL, actor TEXT NOT NULL,
    action TEXT, note TEXT, rule_id TEXT, data TEXT NOT NULL)"""


def secret(value: str) -> Secret:
    return Secret(value, "test")


def database(path: Path) -> tuple[Engine, NotifyOutbox]:
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(conn: Any, _record: Any) -> None:  # as the platform's SQLite store sets them
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")

    outbox = NotifyOutbox.over_engine(engine)
    outbox.create_tables()
    with engine.begin() as conn:
        conn.execute(text(TIMELINE_DDL))
    return engine, outbox


def channels(base: str, *, ding_secret: str = DING_SECRET, feishu_secret: str = FEISHU_SECRET,
             wecom_key: str = WECOM_KEY, wecom_markdown: bool = True,
             sms_cap: int = 10) -> dict[str, Channel]:
    sms = AliyunSms(secret(ALIYUN_ID), secret(ALIYUN_SECRET), url=f"{base}/aliyun/",
                    rng=random.Random(7))
    return {
        "wecom": WeComRobot("wecom", secret(wecom_key), url=f"{base}/wecom/cgi-bin/webhook/send",
                            markdown=wecom_markdown),
        "dingtalk": DingTalkRobot("dingtalk", secret(DING_TOKEN), secret(ding_secret),
                                  url=f"{base}/dingtalk/robot/send"),
        "feishu": FeishuBot("feishu", secret(FEISHU_HOOK), secret(feishu_secret),
                            url=f"{base}/feishu/open-apis/bot/v2/hook/"),
        "sms": SmsChannel("sms", sms, sign_name="共治平台", template_code="SMS_300001",
                          digest_template_code="SMS_300002", daily_cap=sms_cap),
        "hook": SignedWebhook("hook", f"{base}/hook", secret(HOOK_SECRET)),
    }


def link(ticket_id: int, party: str, person: str, now: int) -> str:
    return f"https://gongzhi.example/m/{ticket_id}#{party}.{person}"


@dataclass
class Parts:
    engine: Engine
    outbox: NotifyOutbox
    clock: ManualClock
    dispatcher: Dispatcher

    def add(self, *jobs: NewJob) -> int:
        with self.engine.begin() as conn:
            return enqueue(conn, jobs, self.clock.now_ms())

    def timeline(self, ticket_id: int) -> list[dict[str, Any]]:
        with self.engine.begin() as conn:
            rows = conn.execute(text("SELECT ts_ms, type, action, note, data FROM timeline "
                                     "WHERE ticket_id = :t ORDER BY id"), {"t": ticket_id})
            return [{**dict(r._mapping), "data": json.loads(r.data)} for r in rows]

    def job_rows(self) -> list[dict[str, Any]]:
        return self.outbox.jobs()


def make_parts(path: Path, chans: Mapping[str, Channel], clock: ManualClock, *,
               owner: str = "replica-a", policy: Policy | None = None) -> Parts:
    engine, outbox = database(path)
    return Parts(engine, outbox, clock, Dispatcher(outbox, chans, clock, owner=owner, link=link,
                                                   policy=policy or Policy()))


def notice(ticket_id: int, severity: str = "critical", kind: str = "fire",
           due_in_ms: int | None = 300_000, *, now: int = START) -> Notice:
    return Notice(ticket_id, kind, severity, f"yijing B{ticket_id % 7} U1 3F 30{ticket_id % 9}",
                  "opened", "ack", None if due_in_ms is None else now + due_in_ms)


def job(ticket_id: int, channel: str, *, address: str = "", mentions: tuple[str, ...] = (),
        severity: str = "critical", kind: str = "fire", person: str = "wang",
        party: str = "property_office", fallback: tuple[Target, ...] = (), now: int = START,
        language: str = "zh") -> NewJob:
    return NewJob(key=f"{ticket_id}:opened:0:{party}:{person}:{channel}", party=party,
                  recipient=person, recipient_name=person.title(), language=language,
                  notice=notice(ticket_id, severity, kind, now=now),
                  target=Target(channel, address, mentions), fallback=fallback)
