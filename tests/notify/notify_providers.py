"""Local stand-ins of the notification providers, on a real loopback HTTP server, checking each
request as the provider documents it and answering in its terms:

- WeCom group robot ``/cgi-bin/webhook/send?key=``: the key (93000 when wrong), ``msgtype``
  text (content <= 2048 bytes, ``mentioned_mobile_list``) or markdown (<= 4096 bytes), 45009
  beyond 20 messages in a minute.
- DingTalk ``/robot/send?access_token=&timestamp=&sign=``: the token (300001), the timestamp
  within an hour of its clock and the signature (310000), 130101 beyond 20 in a minute, and
  then for ten minutes.
- Feishu ``/open-apis/bot/v2/hook/<hook>``: ``timestamp`` within an hour and ``sign`` (19021),
  11232 beyond 5 in a second or 100 in a minute.
- Aliyun ``SendSms`` (form POST): every parameter, the HMAC-SHA1 signature recomputed
  (SignatureDoesNotMatch), the AccessKeyId (InvalidAccessKeyId.NotFound), the timestamp within
  15 minutes (InvalidTimeStamp.Expired), the template's parameters
  (isv.TEMPLATE_MISSING_PARAMETERS), a daily cap per number (isv.DAY_LIMIT_CONTROL).
- The signed webhook: ``X-Gongzhi-Signature`` over ``<timestamp>.<body>`` (401 when wrong).

``fail_next[name] = n`` answers the next ``n`` requests of that provider with HTTP 500. Time is
the test's injected clock. Everything a provider took is kept in ``delivered``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from gongzhi.core.broker import free_port as free_port  # (the tests import it from here)
from gongzhi.core.clock import Clock

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN = "ding-access-token-1"
DING_SECRET = "SEC0123456789abcdef"
FEISHU_HOOK = "2b4c6d8e-feishu-hook"
FEISHU_SECRET = "feishu-signing-secret"
ALIYUN_ID = "LTAI5tTestAccessKey"
ALIYUN_SECRET = "testAccessKeySecret0123"
HOOK_SECRET = "police-webhook-secret"
TEMPLATES = {"SMS_300001": {"kind", "severity", "place", "sla", "ticket", "link"},
             "SMS_300002": {"total", "critical", "link"}}
HOUR_MS = 3_600_000


@dataclass
class Delivered:
    provider: str
    at_ms: int
    text: str
    body: dict[str, Any]
    mentions: tuple[str, ...] = ()


@dataclass
class Providers:
    clock: Clock
    sms_daily_cap: int = 10
    delivered: list[Delivered] = field(default_factory=list)
    answers: list[tuple[str, int, str]] = field(default_factory=list)  # provider, at, code
    fail_next: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _sent: dict[str, deque[int]] = field(default_factory=lambda: defaultdict(deque))
    _ding_blocked_until: int = 0
    _sms_per_number: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _count(self, name: str, window_ms: int, now: int) -> int:
        return sum(1 for t in self._sent[name] if t > now - window_ms)

    def _took(self, name: str, now: int, item: Delivered) -> None:
        self._sent[name].append(now)
        self.delivered.append(item)

    # --- the providers --------------------------------------------------------------------------

    def wecom(self, query: dict[str, str], body: dict[str, Any], now: int) -> dict[str, Any]:
        if query.get("key") != WECOM_KEY:
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        kind = body.get("msgtype")
        if kind == "text":
            content = body["text"]["content"]
            if len(content.encode()) > 2048:
                return {"errcode": 45002, "errmsg": "content exceed max length"}
            mentions = body["text"].get("mentioned_mobile_list", [])
            assert all(isinstance(m, str) for m in mentions)
        elif kind == "markdown":
            content = body["markdown"]["content"]
            mentions = []
            if len(content.encode()) > 4096:
                return {"errcode": 45002, "errmsg": "content exceed max length"}
        else:
            return {"errcode": 40008, "errmsg": "invalid message type"}
        if self._count("wecom", 60_000, now) >= 20:
            return {"errcode": 45009, "errmsg": "api freq out of limit"}
        self._took("wecom", now, Delivered("wecom", now, content, body, tuple(mentions)))
        return {"errcode": 0, "errmsg": "ok"}

    def dingtalk(self, query: dict[str, str], body: dict[str, Any],
                 now: int) -> dict[str, Any]:
        if query.get("access_token") != DING_TOKEN:
            return {"errcode": 300001, "errmsg": "token is not exist"}
        stamp = query.get("timestamp", "")
        if not stamp.isdigit() or abs(int(stamp) - now) > HOUR_MS:
            return {"errcode": 310000, "errmsg": "invalid timestamp"}
        mac = hmac.new(DING_SECRET.encode(), f"{stamp}\n{DING_SECRET}".encode(), hashlib.sha256)
        if query.get("sign") != base64.b64encode(mac.digest()).decode():
            return {"errcode": 310000, "errmsg": "sign not match"}
        if now < self._ding_blocked_until:
            return {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        if self._count("dingtalk", 60_000, now) >= 20:
            self._ding_blocked_until = now + 600_000
            return {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        assert body["msgtype"] in ("text", "markdown")
        text = body["markdown"]["text"] if body["msgtype"] == "markdown" else \
            body["text"]["content"]
        mentions = tuple(body.get("at", {}).get("atMobiles", []))
        for mobile in mentions:
            assert f"@{mobile}" in text  # DingTalk shows a mention only when the text has it
        self._took("dingtalk", now, Delivered("dingtalk", now, text, body, mentions))
        return {"errcode": 0, "errmsg": "ok"}

    def feishu(self, hook: str, body: dict[str, Any], now: int) -> dict[str, Any]:
        if hook != FEISHU_HOOK:
            return {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
        stamp = str(body.get("timestamp", ""))
        key = f"{stamp}\n{FEISHU_SECRET}".encode()
        want = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        if (not stamp.isdigit() or abs(int(stamp) * 1000 - now) > HOUR_MS
                or body.get("sign") != want):
            return {"code": 19021, "msg": "sign match fail or timestamp is not within one hour "
                                          "from current time"}
        if self._count("feishu", 1_000, now) >= 5 or self._count("feishu", 60_000, now) >= 100:
            return {"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]"}
        if body.get("msg_type") != "text" or not isinstance(body.get("content"), dict):
            return {"code": 9499, "msg": "Bad Request", "data": {}}
        text = body["content"]["text"]
        self._took("feishu", now, Delivered("feishu", now, text, body))
        return {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {},
                "msg": "success"}

    def aliyun(self, form: dict[str, str], now: int) -> dict[str, Any]:
        common = {"AccessKeyId", "Action", "Format", "RegionId", "SignatureMethod",
                  "SignatureNonce", "SignatureVersion", "Timestamp", "Version", "Signature",
                  "PhoneNumbers", "SignName", "TemplateCode"}
        missing = common - form.keys()
        if missing:
            return {"Code": "MissingParameter", "Message": f"missing {sorted(missing)}"}
        if form["AccessKeyId"] != ALIYUN_ID:
            return {"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is "
                                                                     "not found."}
        assert (form["Action"], form["Version"], form["SignatureMethod"],
                form["SignatureVersion"]) == ("SendSms", "2017-05-25", "HMAC-SHA1", "1.0")
        params = {k: v for k, v in form.items() if k != "Signature"}

        def pe(value: str) -> str:
            return quote(value, safe="-_.~")

        canonical = "&".join(f"{pe(k)}={pe(params[k])}" for k in sorted(params))
        to_sign = f"POST&{pe('/')}&{pe(canonical)}"
        want = base64.b64encode(hmac.new(f"{ALIYUN_SECRET}&".encode(), to_sign.encode(),
                                         hashlib.sha1).digest()).decode()
        if form["Signature"] != want:
            return {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not "
                                                               "matched with our calculation."}
        sent = datetime.strptime(form["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs(sent.timestamp() * 1000 - now) > 15 * 60_000:
            return {"Code": "InvalidTimeStamp.Expired", "Message": "Specified time stamp or "
                                                                  "date value is expired."}
        need = TEMPLATES.get(form["TemplateCode"])
        if need is None:
            return {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "template not approved"}
        values = json.loads(form.get("TemplateParam", "{}"))
        if not need <= values.keys():
            return {"Code": "isv.TEMPLATE_MISSING_PARAMETERS", "Message": "missing parameters"}
        day = datetime.fromtimestamp(now / 1000, UTC).date().isoformat()
        number = form["PhoneNumbers"]
        if self._sms_per_number[(number, day)] >= self.sms_daily_cap:
            return {"Code": "isv.DAY_LIMIT_CONTROL", "Message": "daily limit reached"}
        self._sms_per_number[(number, day)] += 1
        self._took("sms", now, Delivered("sms", now, json.dumps(values, ensure_ascii=False),
                                         dict(form), (number,)))
        return {"Code": "OK", "Message": "OK", "BizId": f"biz{len(self.delivered)}",
                "RequestId": "req"}

    def webhook(self, headers: dict[str, str], raw: bytes, now: int) -> int:
        stamp = headers.get("X-Gongzhi-Timestamp", "")
        mac = hmac.new(HOOK_SECRET.encode(), f"{stamp}.".encode() + raw, hashlib.sha256)
        if headers.get("X-Gongzhi-Signature") != "sha256=" + mac.hexdigest():
            return 401
        body = json.loads(raw)
        self._took("webhook", now, Delivered("webhook", now, body["text"], body))
        return 200

    # --- HTTP ------------------------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes]:
        parts = urlsplit(path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        now = self.clock.now_ms()
        name = parts.path.strip("/").split("/")[0]
        with self.lock:
            if self.fail_next[name] > 0:
                self.fail_next[name] -= 1
                self.answers.append((name, now, "500"))
                return 500, b"upstream failure"
            if name == "wecom":
                answer: dict[str, Any] = self.wecom(query, json.loads(raw), now)
            elif name == "dingtalk":
                answer = self.dingtalk(query, json.loads(raw), now)
            elif name == "feishu":
                answer = self.feishu(parts.path.rsplit("/", 1)[-1], json.loads(raw), now)
            elif name == "aliyun":
                answer = self.aliyun(dict(parse_qsl(raw.decode(), keep_blank_values=True)),
                                     now)
            elif name == "hook":
                status = self.webhook(headers, raw, now)
                self.answers.append((name, now, str(status)))
                return status, b""
            else:
                return 404, b"{}"
            code = answer.get("errcode", answer.get("code", answer.get("Code")))
            self.answers.append((name, now, str(code)))
            return 200, json.dumps(answer).encode()

    def sent_in_window(self, provider: str, window_ms: int) -> int:
        """The most messages ``provider`` took in any window of ``window_ms``."""
        times = sorted(d.at_ms for d in self.delivered if d.provider == provider)
        best, start = 0, 0
        for end, t in enumerate(times):
            while times[start] <= t - window_ms:
                start += 1
            best = max(best, end - start + 1)
        return best


@contextmanager
def serve(providers: Providers) -> Iterator[str]:
    """Run ``providers`` on a free loopback port; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, body = providers.handle(self.path, dict(self.headers), raw)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


