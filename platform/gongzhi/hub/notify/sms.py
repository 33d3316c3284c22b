"""SMS through a provider of the Aliyun ``SendSms`` shape: an approved sign name and template,
filled with parameters (kind, place, severity, time left, link; or, for a digest, the counts).

Template variables are short on purpose (the provider limits each); the link variable must be
declared as a link in the approved template. Numbers have a daily cap (the provider's own per
number and day, and the cost): the dispatcher counts the day's messages to a number and stops
at ``daily_cap``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import httpx

from gongzhi.hub.notify.channel import Limit, Message, Outcome


class SmsProvider(Protocol):
    def send(self, http: httpx.Client, phone: str, sign_name: str, template_code: str,
             template_params: Mapping[str, str], out_id: str, now_ms: int) -> Outcome: ...


class SmsChannel:
    kind = "sms"
    max_bytes = 500
    address_limits: tuple[Limit, ...] = ()

    def __init__(self, name: str, provider: SmsProvider, *, sign_name: str, template_code: str,
                 digest_template_code: str | None = None, daily_cap: int = 10,
                 limits: tuple[Limit, ...] = (Limit(50, 1_000),)) -> None:
        self.name = name
        self._provider = provider
        self._sign_name = sign_name
        self._template = template_code
        self._digest_template = digest_template_code
        self.daily_cap = daily_cap
        self.limits = limits
        self.digests = digest_template_code is not None

    def send(self, http: httpx.Client, message: Message, now_ms: int) -> Outcome:
        template = self._digest_template if message.digest else self._template
        if template is None:
            return Outcome.refused("no digest template configured")
        return self._provider.send(http, message.address, self._sign_name, template,
                                   message.params, message.key, now_ms)
