"""Feishu / Lark (飞书) custom bot with signature verification (签名校验).

``POST https://open.feishu.cn/open-apis/bot/v2/hook/HOOK`` with body ``{"timestamp": "T",
"sign": S, "msg_type": "text", "content": {"text": ...}}`` where ``T`` is the time in seconds
(at most an hour away from the bot's clock) and ``S`` is the Base64 of HMAC-SHA256 keyed by
``T + "\\n" + secret`` over an empty message. Limits: 100 a minute and 5 a second per bot, a
body of at most 20 KB. Answers ``{"code": 0, "msg": "success", "data": {}}``; 19021 a refused
signature or stale timestamp, 19022 an IP not allowed, 19024 a missing keyword, 11232
"frequency limited", 9499 a malformed request. People are mentioned with
``<at user_id="ou_...">`` (their Feishu open id).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote

import httpx

from gongzhi.core.config_kit import Secret
from gongzhi.hub.notify.channel import Limit, Message, Outcome, post_json, robot_outcome

URL = "https://open.feishu.cn/open-apis/bot/v2/hook/"
LIMITS = (Limit(100, 60_000), Limit(5, 1_000))
MAX_BYTES = 18_000  # under the 20 KB body limit with room for the JSON around the text
FREQUENCY_LIMITED = 11232
REFUSED = {19021: "signature refused or timestamp stale", 19022: "IP not allowed",
           19024: "keyword not found", 19001: "invalid hook", 19002: "bot not in the group",
           19007: "bot not enabled", 9499: "bad request"}


def sign(secret: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


class FeishuBot:
    kind = "feishu"
    address_limits: tuple[Limit, ...] = ()
    digests = True
    max_bytes = MAX_BYTES

    def __init__(self, name: str, hook: Secret, secret: Secret | None, *, url: str = URL,
                 limits: tuple[Limit, ...] = LIMITS) -> None:
        self.name = name
        self._hook = hook
        self._secret = secret
        self._url = url
        self.limits = limits

    def body(self, message: Message, now_ms: int) -> dict[str, object]:
        text = message.text
        if message.mentions:
            text = " ".join(f'<at user_id="{m}"></at>' for m in message.mentions) + "\n" + text
        body: dict[str, object] = {"msg_type": "text", "content": {"text": text}}
        if self._secret is not None:
            stamp = now_ms // 1000
            body = {"timestamp": str(stamp), "sign": sign(self._secret.reveal(), stamp), **body}
        return body

    def send(self, http: httpx.Client, message: Message, now_ms: int) -> Outcome:
        hook = self._hook.reveal()
        secrets = [hook] + ([self._secret.reveal()] if self._secret else [])
        answer, failed = post_json(http, self._url + quote(hook, safe=""),
                                   self.body(message, now_ms), *secrets)
        if failed is not None or answer is None:
            return failed or Outcome.retry("no answer")
        code = answer.get("code", answer.get("StatusCode"))
        detail = f"code {code}: {answer.get('msg', answer.get('StatusMessage', ''))}"
        return robot_outcome(code, detail, throttled={FREQUENCY_LIMITED: 60_000},
                             refused=REFUSED)
