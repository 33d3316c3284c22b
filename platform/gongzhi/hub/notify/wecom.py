"""WeCom (企业微信) group robot: ``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY``.

Body ``{"msgtype": "text", "text": {"content": ..., "mentioned_mobile_list": [...]}}`` (content
at most 2048 bytes) or ``{"msgtype": "markdown", "markdown": {"content": ...}}`` (at most 4096
bytes; markdown cannot mention by mobile number, so a message that mentions people goes as
text). The answer is ``{"errcode": 0, "errmsg": "ok"}``; 45009 means over the robot's limit of
20 messages a minute, 93000 an invalid webhook key, -1 "system busy".
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from gongzhi.core.config_kit import Secret
from gongzhi.hub.notify.channel import Limit, Message, Outcome, post_json, robot_outcome

URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
LIMITS = (Limit(20, 60_000),)
TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
OVER_LIMIT = 45009
SYSTEM_BUSY = -1
# An invalid key, a deleted robot, a robot not in a group, a malformed message: never better.
REFUSED = {93000: "invalid webhook key", 93004: "robot removed from the group",
           93008: "robot not in the group", 40008: "invalid message type",
           44004: "empty content", 45002: "content too long"}


class WeComRobot:
    kind = "wecom"
    address_limits: tuple[Limit, ...] = ()
    digests = True

    def __init__(self, name: str, key: Secret, *, url: str = URL, markdown: bool = True,
                 limits: tuple[Limit, ...] = LIMITS) -> None:
        self.name = name
        self._key = key
        self._url = url
        self._markdown = markdown
        self.limits = limits
        self.max_bytes = MARKDOWN_MAX_BYTES if markdown else TEXT_MAX_BYTES

    def body(self, message: Message) -> dict[str, object]:
        if self._markdown and not message.mentions:
            return {"msgtype": "markdown", "markdown": {"content": message.markdown}}
        text: dict[str, object] = {"content": _cut(message.text, TEXT_MAX_BYTES)}
        if message.mentions:
            text["mentioned_mobile_list"] = list(message.mentions)
        return {"msgtype": "text", "text": text}

    def send(self, http: httpx.Client, message: Message, now_ms: int) -> Outcome:
        key = self._key.reveal()
        answer, failed = post_json(http, f"{self._url}?key={quote(key, safe='')}",
                                   self.body(message), key)
        if failed is not None or answer is None:
            return failed or Outcome.retry("no answer")
        code = answer.get("errcode")
        detail = f"errcode {code}: {answer.get('errmsg', '')}"
        return robot_outcome(code, detail, throttled={OVER_LIMIT: 60_000}, refused=REFUSED,
                             busy=(SYSTEM_BUSY,))


def _cut(value: str, max_bytes: int) -> str:
    """At most ``max_bytes`` of UTF-8, cut at a character boundary."""
    raw = value.encode("utf-8")
    return value if len(raw) <= max_bytes else raw[:max_bytes].decode("utf-8", "ignore")
