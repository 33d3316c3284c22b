"""The ``onenet`` source kind: China Mobile OneNET HTTP push (the classic platform's data push
and OneNET Studio's message push, plain mode), see ``onenet_decode``.

Options (beside those of every push source, ``http_push.PushOptions``)::

    token: {file: secrets/onenet_push_token}   # the token of the push instance (required)

The URL verification (GET ``msg``, ``nonce``, ``signature``) is answered with ``msg`` when the
signature matches the token, 401 otherwise. A push may carry a list of messages: each reading
(the data points of one device at one time) is spooled on its own, so one message of an unknown
device costs only its own reading, and a reading's points become one telemetry message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gongzhi.core.config_kit import Secret
from gongzhi.core.errors import RejectedMessage
from gongzhi.gateway.decode import parse_json
from gongzhi.gateway.sources.base import Source, SourceContext, SourceKind
from gongzhi.gateway.sources.http_push import PushSource
from gongzhi.gateway.sources.http_push_carrier import PushOptions, Refused
from gongzhi.gateway.sources.http_push_server import Answer
from gongzhi.gateway.sources.http_push_uplink import Uplink, content_key
from gongzhi.gateway.sources.onenet_decode import (
    BAD_SIGNATURE,
    decode_messages,
    signature_ok,
    verify_push,
)


def readings(items: list[Any]) -> list[list[Any]]:
    """The push's messages grouped into readings: the data points of one device at one time
    (``dev_id``, ``at``) are one reading, spooled (and told from a retry) as one; other
    messages stand alone. Order is kept."""
    groups: dict[tuple[Any, Any], list[Any]] = {}
    out: list[list[Any]] = []
    for item in items:
        if isinstance(item, dict) and item.get("type") == 1 and "dev_id" in item:
            key = (item.get("dev_id"), item.get("at"))
            group = groups.get(key)
            if group is None:
                group = groups[key] = []
                out.append(group)
            group.append(item)
        else:
            out.append([item])
    return out


class OnenetOptions(PushOptions):
    path: str = "/onenet"
    token: Secret


class OnenetCarrier:
    name = "OneNET"

    def __init__(self, token: Secret) -> None:
        self._token = token

    def verify_url(self, query: Mapping[str, str]) -> Answer | None:
        msg, nonce, signature = query.get("msg"), query.get("nonce"), query.get("signature")
        if msg is None:
            return None
        if nonce is None or signature is None or not signature_ok(self._token.reveal(), nonce,
                                                                  msg, signature):
            return Answer(401, BAD_SIGNATURE)
        return Answer(200, msg)

    def authorize(self, query: Mapping[str, str], headers: Mapping[str, str]) -> None:
        return None  # the signature is in the body

    def admit(self, body: bytes) -> list[tuple[str, bytes]]:
        try:
            msg = verify_push(body, parse_json(body), self._token.reveal())
        except RejectedMessage as exc:
            status = 401 if exc.reason == BAD_SIGNATURE else 400
            raise Refused(status, exc.reason, exc.detail) from None
        items = msg if isinstance(msg, list) else [msg]
        for item in items:
            try:
                decode_messages(item)
            except RejectedMessage as exc:
                raise Refused(400, exc.reason, exc.detail) from None
        return [(content_key("onenet", payload.decode()), payload)
                for payload in (orjson.dumps(group) for group in readings(items))]

    def uplinks(self, payload: bytes) -> list[Uplink]:
        return decode_messages(parse_json(payload))


def build(context: SourceContext, options: OnenetOptions) -> Source:
    return PushSource(context, options, OnenetCarrier(options.token))


KIND: SourceKind[OnenetOptions] = SourceKind("onenet", OnenetOptions, build)
