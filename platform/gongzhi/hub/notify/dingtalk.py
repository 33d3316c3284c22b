"""DingTalk (钉钉) custom robot with signing (加签).

``POST https://oapi.dingtalk.com/robot/send?access_token=TOKEN&timestamp=T&sign=S`` where ``T``
is the time in milliseconds (the robot refuses one more than an hour away from its own clock)
and ``S`` is the URL-encoded Base64 of HMAC-SHA256, keyed by the secret (``SEC...``), over
``T + "\\n" + secret``. Body ``{"msgtype": "markdown", "markdown": {"title", "text"},
"at": {"atMobiles": [...], "isAtAll": false}}``; a mentioned number must also appear in the text
as ``@138...``. Answers ``{"errcode": 0, "errmsg": "ok"}``; 130101 "send too fast" means more
than 20 a minute and the robot stays throttled for ten minutes; 310000 a refused signature,
stale timestamp or missing keyword; 300001 an unknown token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote, quote_plus

import httpx

from gongzhi.core.config_kit import Secret
from gongzhi.hub.notify.channel import Limit, Message, Outcome, post_json, robot_outcome

URL = "https://oapi.dingtalk.com/robot/send"
LIMITS = (Limit(20, 60_000),)
MAX_BYTES = 5000
THROTTLED = {130101: 600_000, 410100: 600_000}  # "send too fast": ten minutes
SYSTEM_BUSY = -1
REFUSED = {310000: "signature, timestamp, keyword or IP refused", 300001: "unknown token",
           400101: "access_token does not exist", 400102: "robot disabled",
           400013: "group dissolved", 460101: "message too large"}


def sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value, already URL-encoded (as DingTalk documents it)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(),
                   hashlib.sha256)
    return quote_plus(base64.b64encode(mac.digest()))


class DingTalkRobot:
    kind = "dingtalk"
    address_limits: tuple[Limit, ...] = ()
    digests = True
    max_bytes = MAX_BYTES

    def __init__(self, name: str, access_token: Secret, secret: Secret, *, url: str = URL,
                 limits: tuple[Limit, ...] = LIMITS) -> None:
        self.name = name
        self._token = access_token
        self._secret = secret
        self._url = url
        self.limits = limits

    def body(self, message: Message) -> dict[str, object]:
        text = message.markdown
        if message.mentions:
            text += "\n\n" + " ".join(f"@{m}" for m in message.mentions)
        return {"msgtype": "markdown", "markdown": {"title": message.title, "text": text},
                "at": {"atMobiles": list(message.mentions), "isAtAll": False}}

    def url(self, now_ms: int) -> str:
        token, secret = self._token.reveal(), self._secret.reveal()
        return (f"{self._url}?access_token={quote(token, safe='')}&timestamp={now_ms}"
                f"&sign={sign(secret, now_ms)}")

    def send(self, http: httpx.Client, message: Message, now_ms: int) -> Outcome:
        answer, failed = post_json(http, self.url(now_ms), self.body(message),
                                   self._token.reveal(), self._secret.reveal())
        if failed is not None or answer is None:
            return failed or Outcome.retry("no answer")
        code = answer.get("errcode")
        detail = f"errcode {code}: {answer.get('errmsg', '')}"
        return robot_outcome(code, detail, throttled=THROTTLED, refused=REFUSED,
                             busy=(SYSTEM_BUSY,))
