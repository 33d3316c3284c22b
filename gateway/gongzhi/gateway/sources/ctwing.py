"""The ``ctwing`` source kind: China Telecom CTWing (AIoT) subscription pushes over HTTP(S).

Options (beside those of every push source, ``http_push.PushOptions``)::

    token: {env: CTWING_PUSH_TOKEN}   # optional: the push URL then carries ?token=<it> (or the
                                      # request a header "token: <it>"); anything else is 401

CTWing signs nothing by default, so a token in the subscription URL (over HTTPS) is what keeps
strangers out; without one, anyone who can reach the port can push.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from gongzhi.core.config_kit import Secret
from gongzhi.core.errors import RejectedMessage
from gongzhi.gateway.decode import parse_json
from gongzhi.gateway.sources.base import Source, SourceContext, SourceKind
from gongzhi.gateway.sources.ctwing_decode import CtwingDecoder, push_key
from gongzhi.gateway.sources.http_push import PushSource
from gongzhi.gateway.sources.http_push_carrier import PushOptions, Refused
from gongzhi.gateway.sources.http_push_server import Answer
from gongzhi.gateway.sources.http_push_uplink import Uplink


class CtwingOptions(PushOptions):
    path: str = "/ctwing"
    token: Secret | None = None


class CtwingCarrier:
    name = "CTWing"

    def __init__(self, token: Secret | None) -> None:
        self._token = token
        self._check = CtwingDecoder()  # HTTP thread: shape checks only
        self._decoder = CtwingDecoder()  # worker thread

    def verify_url(self, query: Mapping[str, str]) -> Answer | None:
        return None

    def authorize(self, query: Mapping[str, str], headers: Mapping[str, str]) -> None:
        if self._token is None:
            return
        given = query.get("token") or headers.get("token") or ""
        if not hmac.compare_digest(given.encode("utf-8", "replace"),
                                   self._token.reveal().encode("utf-8")):
            raise Refused(401, "bad_token", "the push URL's token does not match")

    def admit(self, body: bytes) -> list[tuple[str, bytes]]:
        try:
            parsed = parse_json(body)
            if not self._check.decode(parsed):
                return []  # command responses and the like: nothing to keep
        except RejectedMessage as exc:
            raise Refused(400, exc.reason, exc.detail) from None
        assert isinstance(parsed, dict)
        return [(push_key(parsed), body)]

    def uplinks(self, payload: bytes) -> list[Uplink]:
        return self._decoder.decode(parse_json(payload))


def build(context: SourceContext, options: CtwingOptions) -> Source:
    return PushSource(context, options, CtwingCarrier(options.token))


KIND: SourceKind[CtwingOptions] = SourceKind("ctwing", CtwingOptions, build)
