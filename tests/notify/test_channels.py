"""Each channel against a local stand-in of its provider that checks the request exactly as the
provider documents it (signatures recomputed, stale timestamps refused, limits answered): it
delivers, retries with backoff on 5xx, and a refused key or signature fails the job with the
reason instead of being retried forever."""

from __future__ import annotations

import json
import logging
import ssl
import subprocess
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from notify_parts import START, Parts, channels, job, make_parts, secret
from notify_providers import WECOM_KEY, Providers, free_port

from gongzhi.core.clock import ManualClock
from gongzhi.hub.notify.channel import Limit, Result
from gongzhi.hub.notify.mail import SmtpMail
from gongzhi.hub.notify.outbox import Target
from gongzhi.hub.notify.wecom import WeComRobot
from gongzhi.hub.webhooks import backoff_ms


@pytest.fixture
def parts(tmp_path: Path, base: str, clock: ManualClock) -> Parts:
    return make_parts(tmp_path / "notify.db", channels(base), clock)


def test_every_channel_delivers_in_the_providers_wire_format(parts: Parts,
                                                             providers: Providers):
    parts.add(job(1, "wecom", mentions=("13800000001",)),
              job(2, "dingtalk", mentions=("13800000002",)),
              job(3, "feishu"),
              job(4, "sms", address="13900000004"),
              job(5, "hook", party="police_room"))
    report = parts.dispatcher.run_once()
    assert report.messages == 5 and report.attempts == 5
    got = {d.provider: d for d in providers.delivered}
    assert set(got) == {"wecom", "dingtalk", "feishu", "sms", "webhook"}

    wecom = got["wecom"].body  # a mention needs the text form
    assert wecom["msgtype"] == "text"
    assert wecom["text"]["mentioned_mobile_list"] == ["13800000001"]
    assert wecom["text"]["content"].startswith("【共治·危急】火警（新告警）\n地点：yijing B1")
    assert "确认时限：剩余 5分" in wecom["text"]["content"]
    assert "工单 #1：https://gongzhi.example/m/1#property_office.wang" in \
        wecom["text"]["content"]

    ding = got["dingtalk"].body
    assert ding["msgtype"] == "markdown" and ding["at"] == {"atMobiles": ["13800000002"],
                                                            "isAtAll": False}
    assert ding["markdown"]["title"] == "【共治·危急】火警（新告警）"
    assert "[打开工单 #2](https://gongzhi.example/m/2#property_office.wang)" in \
        ding["markdown"]["text"]

    feishu = got["feishu"].body
    assert feishu["msg_type"] == "text" and set(feishu) == {"timestamp", "sign", "msg_type",
                                                           "content"}
    assert feishu["timestamp"] == str(parts.clock.now_ms() // 1000)

    sms = got["sms"].body
    assert sms["PhoneNumbers"] == "13900000004" and sms["SignName"] == "共治平台"
    assert json.loads(sms["TemplateParam"]) == {
        "kind": "火警", "severity": "危急", "place": "yijing B4 U1 3F 304", "sla": "剩余 5分",
        "ticket": "4", "link": "https://gongzhi.example/m/4#property_office.wang"}
    assert sms["OutId"] == "4:opened:0:property_office:wang:sms"

    hook = got["webhook"].body
    assert hook["event"] == "notification" and hook["notices"][0]["ticket_id"] == 5

    assert parts.outbox.states() == {"sent": 5}
    entries = parts.timeline(2)
    assert [(e["type"], e["action"]) for e in entries] == [("notification", "sent")]
    assert entries[0]["data"]["channel"] == "dingtalk" and entries[0]["data"]["attempt"] == 1
    assert parts.dispatcher.run_once().attempts == 0  # nothing twice


def test_wecom_markdown_without_mentions_and_english_on_request(parts: Parts,
                                                               providers: Providers):
    parts.add(job(1, "wecom", language="en", severity="major", kind="water_pressure_low"))
    parts.dispatcher.run_once()
    body = providers.delivered[0].body
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith("### [Gongzhi · Major] Water pressure low (New alarm)")
    assert "> Acknowledge deadline: 5 min left" in content


@pytest.mark.parametrize("channel", ["wecom", "dingtalk", "feishu", "sms", "hook"])
def test_a_5xx_is_retried_with_backoff(parts: Parts, providers: Providers, clock: ManualClock,
                                       channel: str):
    provider = {"hook": "hook", "sms": "aliyun"}.get(channel, channel)
    providers.fail_next[provider] = 2
    parts.add(job(7, channel, severity="major", address="13900000007" if channel == "sms"
                  else ""))
    assert parts.dispatcher.run_once().results == {"retry": 1}
    assert parts.dispatcher.run_once().attempts == 0  # not due yet
    clock.advance(backoff_ms(1) - 1)
    assert parts.dispatcher.run_once().attempts == 0
    clock.advance(1)
    assert parts.dispatcher.run_once().results == {"retry": 1}
    clock.advance(backoff_ms(2))
    assert parts.dispatcher.run_once().results == {"sent": 1}
    assert [a for _, _, a in providers.answers] == ["500", "500", "OK" if channel == "sms"
                                                    else "200" if channel == "hook" else "0"]
    assert [e["action"] for e in parts.timeline(7)] == ["pending", "pending", "sent"]
    assert parts.timeline(7)[0]["data"]["detail"] == "HTTP 500"


@pytest.mark.parametrize(("channel", "code"), [
    ("wecom", "93000"), ("dingtalk", "310000"), ("feishu", "19021"),
    ("sms", "SignatureDoesNotMatch"), ("hook", "401")])
def test_a_refused_key_or_signature_fails_once_with_the_reason(
        tmp_path: Path, base: str, providers: Providers, clock: ManualClock, channel: str,
        code: str):
    wrong = channels(base, ding_secret="SECwrong", feishu_secret="wrong", wecom_key="bad-key")
    wrong["sms"] = channels(base)["sms"].__class__(
        "sms", wrong["sms"]._provider.__class__(secret("LTAI5tTestAccessKey"), secret("nope"),
                                                url=f"{base}/aliyun/"),
        sign_name="共治平台", template_code="SMS_300001")
    wrong["hook"] = wrong["hook"].__class__("hook", f"{base}/hook", secret("not-the-secret"))
    parts = make_parts(tmp_path / "n.db", wrong, clock)
    parts.add(job(9, channel, severity="major", address="13900000009" if channel == "sms"
                  else ""))
    assert parts.dispatcher.run_once().results == {"refused": 1}
    for _ in range(5):
        clock.advance(3_600_000)
        assert parts.dispatcher.run_once().attempts == 0
    assert len(providers.answers) == 1 and providers.answers[0][2] == code
    (row,) = parts.job_rows()
    assert row["state"] == "failed" and code in row["last_error"] and row["attempts"] == 1
    (entry,) = parts.timeline(9)
    assert entry["action"] == "failed" and code in entry["note"]


@pytest.mark.parametrize(("channel", "code"), [
    ("dingtalk", "310000"), ("feishu", "19021"), ("sms", "InvalidTimeStamp.Expired")])
def test_a_timestamp_more_than_an_hour_off_is_refused(tmp_path: Path, base: str,
                                                      providers: Providers, channel: str,
                                                      code: str):
    ours = ManualClock(providers.clock.now_ms() - 2 * 3_600_000)  # our clock two hours behind
    parts = make_parts(tmp_path / "n.db", channels(base), ours)
    parts.add(job(3, channel, severity="minor", address="13900000003"
                  if channel == "sms" else ""))
    assert parts.dispatcher.run_once().results == {"refused": 1}
    assert providers.answers[0][2] == code and not providers.delivered


def test_wecom_over_its_limit_pauses_and_a_critical_ticket_falls_back_to_sms(
        tmp_path: Path, base: str, providers: Providers, clock: ManualClock):
    chans = channels(base)
    # Configured above the provider's limit on purpose: the provider answers 45009.
    chans["wecom"] = WeComRobot("wecom", secret(WECOM_KEY),
                                url=f"{base}/wecom/cgi-bin/webhook/send",
                                limits=(Limit(1000, 60_000),))
    parts = make_parts(tmp_path / "n.db", chans, clock)
    for i in range(20):
        parts.add(job(100 + i, "wecom", severity="minor"))
        parts.dispatcher.run_once()
        clock.advance(100)
    assert len(providers.delivered) == 20
    sms = Target("sms", "13900000001")
    parts.add(job(200, "wecom", severity="critical", fallback=(sms,)),
              job(201, "wecom", severity="minor"))
    # The robot answers 45009; the critical ticket goes by SMS in the same run, the minor one
    # waits for the robot.
    assert parts.dispatcher.run_once().results == {"throttled": 1, "sent": 1}
    assert [a[2] for a in providers.answers[-2:]] == ["45009", "OK"]
    assert providers.delivered[-1].provider == "sms"
    assert "200" in json.loads(providers.delivered[-1].text)["ticket"]
    assert parts.dispatcher.run_once().attempts == 0  # paused: the provider is not asked
    clock.advance(60_000)
    assert parts.dispatcher.run_once().results == {"sent": 1}  # the minor one, after the pause
    assert [e["action"] for e in parts.timeline(200)] == ["fallback", "sent"]
    assert "45009" in parts.timeline(200)[0]["note"]


def test_dingtalk_130101_pauses_the_robot_for_ten_minutes(tmp_path: Path, base: str,
                                                          providers: Providers,
                                                          clock: ManualClock):
    chans = channels(base)
    chans["dingtalk"].limits = (Limit(1000, 60_000),)
    parts = make_parts(tmp_path / "n.db", chans, clock)
    for i in range(21):
        parts.add(job(300 + i, "dingtalk", severity="major"))
        parts.dispatcher.run_once()
    assert providers.answers[-1][2] == "130101"
    for _ in range(9):
        clock.advance(60_000)
        assert parts.dispatcher.run_once().attempts == 0
    clock.advance(60_000)
    assert parts.dispatcher.run_once().results == {"sent": 1}
    assert len([d for d in providers.delivered if d.provider == "dingtalk"]) == 21


def test_secrets_never_reach_errors_or_logs(tmp_path: Path, clock: ManualClock,
                                            caplog: pytest.LogCaptureFixture):
    dead = "http://127.0.0.1:9/cgi-bin/webhook/send"  # discard port: nothing listens
    robot = WeComRobot("wecom", secret(WECOM_KEY), url=dead)
    parts = make_parts(tmp_path / "n.db", {"wecom": robot}, clock)
    parts.add(job(1, "wecom", severity="minor"))
    with caplog.at_level(logging.DEBUG):
        assert parts.dispatcher.run_once().results == {"retry": 1}
    (row,) = parts.job_rows()
    assert row["last_error"] and WECOM_KEY not in row["last_error"]
    assert WECOM_KEY not in caplog.text and WECOM_KEY not in repr(robot.__dict__)
    assert WECOM_KEY not in json.dumps(parts.timeline(1), ensure_ascii=False)


def test_sms_signature_is_the_documented_one():
    """Aliyun's RPC signature on a fixed request, checked against the documented algorithm
    step by step (sorted, RFC 3986 encoded, POST&%2F&..., HMAC-SHA1 keyed by secret + '&')."""
    from gongzhi.hub.notify.aliyun import canonicalized, percent_encode, signature
    params = {"b": "x y", "a": "1*2~", "C": "中"}
    assert canonicalized(params) == "C=%E4%B8%AD&a=1%2A2~&b=x%20y"
    assert percent_encode("/") == "%2F"
    import base64
    import hashlib
    import hmac
    to_sign = "POST&%2F&" + percent_encode("C=%E4%B8%AD&a=1%2A2~&b=x%20y")
    assert signature("key", "POST", params) == base64.b64encode(
        hmac.new(b"key&", to_sign.encode(), hashlib.sha1).digest()).decode()
    assert dict(parse_qsl("a=1")) == {"a": "1"}
    assert Result.SENT.value == "sent"


class _Mailbox:
    """An aiosmtpd handler: keeps the messages, refuses one recipient with 550."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server: object, session: object, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox() -> Iterator[tuple[_Mailbox, int]]:
    from aiosmtpd.controller import Controller
    handler = _Mailbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def test_email_over_smtp_and_a_refused_recipient(tmp_path: Path, clock: ManualClock,
                                                 mailbox: tuple[_Mailbox, int]):
    box, port = mailbox
    mail = SmtpMail("mail", host="127.0.0.1", port=port, sender="gongzhi@estate.example",
                    starttls=False)
    parts = make_parts(tmp_path / "n.db", {"mail": mail}, clock)
    parts.add(job(11, "mail", address="guard@estate.example", language="en"),
              job(12, "mail", address="nobody@estate.example", person="li"))
    assert parts.dispatcher.run_once().results == {"sent": 1, "refused": 1}
    ((sender, to, raw),) = box.messages
    assert sender == "gongzhi@estate.example" and to == ["guard@estate.example"]
    sent = message_from_bytes(raw, policy=default)
    assert sent["Subject"] == "[Gongzhi · Critical] Fire (New alarm)"
    assert sent["X-Gongzhi-Delivery"] == "11:opened:0:property_office:wang:mail"
    assert "https://gongzhi.example/m/11#property_office.wang" in raw.decode()
    rows = {r["ticket_id"]: r for r in parts.job_rows()}
    assert rows[12]["state"] == "failed" and "550" in rows[12]["last_error"]


def test_email_with_starttls_and_login(tmp_path: Path, clock: ManualClock):
    """The server takes mail only after STARTTLS (its certificate checked) and a login."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
    cert, key = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    def authenticate(server: object, session: object, envelope: object, mechanism: str,
                     auth_data: object) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"gongzhi"
              and auth_data.password == b"smtp-password")
        return AuthResult(success=ok)

    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), tls_context=server_tls,
                            require_starttls=True, authenticator=authenticate,
                            auth_require_tls=True)
    controller.start()
    try:
        client_tls = ssl.create_default_context(cafile=str(cert))
        good = SmtpMail("mail", host="127.0.0.1", port=controller.port, sender="gz@estate.example",
                        username="gongzhi", password=secret("smtp-password"),
                        tls_context=client_tls)
        parts = make_parts(tmp_path / "n.db", {"mail": good}, clock)
        parts.add(job(21, "mail", address="guard@estate.example"))
        assert parts.dispatcher.run_once().results == {"sent": 1}
        ((_, to, raw),) = box.messages
        assert to == ["guard@estate.example"] and b"#21" in raw
    finally:
        controller.stop()


def test_an_sms_number_stops_at_its_daily_cap_until_local_midnight(
        tmp_path: Path, base: str, providers: Providers, clock: ManualClock):
    parts = make_parts(tmp_path / "n.db", channels(base, sms_cap=2), clock)
    for ticket_id in (31, 32):
        parts.add(job(ticket_id, "sms", address="13900000031", severity="major"))
        assert parts.dispatcher.run_once().results == {"sent": 1}
        clock.advance(60_000)
    wecom = Target("wecom", "", ("13900000031",))
    parts.add(job(33, "sms", address="13900000031", severity="major"),
              job(34, "sms", address="13900000031", severity="critical", fallback=(wecom,)))
    parts.dispatcher.run_once()  # the critical one is handed to WeCom; the major one waits
    assert [d.provider for d in providers.delivered] == ["sms", "sms", "wecom"]
    # 2026-01-01 08:02 in Shanghai now: the major one waits for the local day's end.
    row = next(r for r in parts.job_rows() if r["ticket_id"] == 33)
    assert row["state"] == "pending" and row["next_attempt_at"] == START + 16 * 3_600_000
    clock.set(START + 16 * 3_600_000)
    assert parts.dispatcher.run_once().results == {"sent": 1}
    assert [d.provider for d in providers.delivered] == ["sms", "sms", "wecom", "sms"]
