"""The ``onenet`` source kind: China Mobile OneNET HTTP push (the classic platform's data push
and OneNET Studio's message push, plain mode), see ``onenet_decode``.

Options (beside those of every push source, ``http_push.PushOptions``)::

    token: {file: secrets/onenet_push_token}   # the token of the push instance (required)

The URL verification (GET ``msg``, ``nonce``, ``signature``) is answered with ``msg`` when the
signature matches the token, 401 otherwise. Each message of a push is spooled on its own (a
push may carry a list), so one message of an unknown device costs only itself.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.responses import PlainTextResponse, Response

from gongzhi.core.config_kit import Secret
from gongzhi.core.errors import RejectedMessage
from gongzhi.gateway.decode import parse_json
from gongzhi.gateway.sources.base import Source, SourceContext, SourceKind
from gongzhi.gateway.sources.http_push import PushOptions, PushSource, Refused
from gongzhi.gateway.sources.http_push_uplink import Uplink, content_key
from gongzhi.gateway.sources.onenet_decode import (
    BAD_SIGNATURE,
    decode_messages,
    signature_ok,
    verify_push,
)


class OnenetOptions(PushOptions):
    path: str = "/onenet"
    token: Secret


class OnenetCarrier:
    name = "OneNET"

    def __init__(self, token: Secret) -> None:
        self._token = token

    def verify_url(self, query: Mapping[str, str]) -> Response | None:
        msg, nonce, signature = query.get("msg"), query.get("nonce"), query.get("signature")
        if msg is None:
            return None
        if nonce is None or signature is None or not signature_ok(self._token.reveal(), nonce,
                                                                  msg, signature):
            return PlainTextResponse(BAD_SIGNATURE, 401)
        return PlainTextResponse(msg)

    def authorize(self, query: Mapping[str, str], headers: Mapping[str, str]) -> None:
        return None  # the signature is in the body

    def admit(self, body: bytes) -> list[tuple[str, bytes]]:
        try:
            msg = verify_push(body, parse_json(body), self._token.reveal())
        except RejectedMessage as exc:
            status = 401 if exc.reason == BAD_SIGNATURE else 400
            raise Refused(status, exc.reason, exc.detail) from None
        items = msg if isinstance(msg, list) else [msg]
        out: list[tuple[str, bytes]] = []
        for item in items:
            try:
                if not decode_messages(item):
                    continue  # command results and the like: nothing to keep
            except RejectedMessage as exc:
                raise Refused(400, exc.reason, exc.detail) from None
            payload = orjson.dumps(item)
            out.append((content_key("onenet", payload.decode()), payload))
        return out

    def uplinks(self, payload: bytes) -> list[Uplink]:
        return decode_messages(parse_json(payload))


def build(context: SourceContext, options: OnenetOptions) -> Source:
    return PushSource(context, options, OnenetCarrier(options.token))


KIND: SourceKind[OnenetOptions] = SourceKind("onenet", OnenetOptions, build)
