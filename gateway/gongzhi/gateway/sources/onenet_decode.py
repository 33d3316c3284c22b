"""OneNET (China Mobile) HTTP push: the URL verification, signatures and bodies (pure).

Verification (both the classic platform and OneNET Studio): on saving the push URL the
platform sends ``GET <url>?msg=..&nonce=..&signature=..``; the signature is
``base64(md5(token + nonce + msg))``; a server that accepts answers with ``msg`` as the body.

Classic data push: ``POST`` of ``{"msg": <message or list of messages>, "msg_signature": "..",
"nonce": ".."}`` (plain mode), ``msg_signature = base64(md5(token + nonce + <msg as JSON>))``.
A message: ``type`` 1 a data point (``dev_id``, ``ds_id``, ``at`` in ms, ``value``), 2 online
or offline (``dev_id``, ``status`` 1/0, ``at``); 7 (command results) is ignored.

OneNET Studio push: ``{"msg": "<message as JSON text>", "signature": "..", "nonce": "..",
"time": .., "id": ".."}`` with ``signature = base64(md5(token + nonce + msg))``. Messages:
``messageType`` ``notify`` (``notifyType`` ``property``: ``data.params`` of ``{name: {value,
time}}``; ``event``: the same with the event's identifier as name, given to the mapping as
``event`` beside the event value's fields) and ``lifeCycle`` (``data.status``
``online``/``offline``).

Identities: classic ``dev_id``; Studio ``deviceId``, then ``<productId>/<deviceName>``, then
``deviceName``. The secure (AES) mode is not supported: choose plain mode for the instance.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

import orjson

from gongzhi.core.errors import RejectedMessage
from gongzhi.gateway.decode import parse_json
from gongzhi.gateway.messages import Presence
from gongzhi.gateway.reasons import Reason
from gongzhi.gateway.sources.http_push_uplink import Uplink

BAD_SIGNATURE = "bad_signature"


def sign(token: str, nonce: str, msg: str) -> str:
    """``base64(md5(token + nonce + msg))``, the signature of both the verification and pushes."""
    digest = hashlib.md5((token + nonce + msg).encode("utf-8"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_ok(token: str, nonce: str, msg: str, signature: str) -> bool:
    # A signature in a URL may arrive with '+' decoded as a space (form encoding).
    expected = sign(token, nonce, msg)
    given = signature.replace(" ", "+")
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


_MSG_KEY = re.compile(r'"msg"\s*:\s*')
_JSON = json.JSONDecoder()


def raw_msg_texts(body: bytes, msg: Any) -> list[str]:
    """The texts of ``msg`` a sender may have signed: as it stands in the body (found by
    position, so key order and number formatting are the sender's), and compact JSON."""
    if isinstance(msg, str):
        return [msg]
    texts: list[str] = []
    text = body.decode("utf-8", "replace")
    for match in _MSG_KEY.finditer(text):
        try:
            value, end = _JSON.raw_decode(text, match.end())
        except ValueError:
            continue
        if value == msg:
            texts.append(text[match.end():end])
            break
    texts.append(orjson.dumps(msg).decode())
    return texts


def verify_push(body: bytes, parsed: Any, token: str) -> Any:
    """The push's message(s) once its signature is checked; ``RejectedMessage`` with reason
    ``bad_signature`` when it does not match, ``bad_shape`` when the body is not a push."""
    if not isinstance(parsed, dict) or "msg" not in parsed or "nonce" not in parsed:
        raise RejectedMessage(Reason.BAD_SHAPE, 'a OneNET push is {"msg", "nonce", '
                                                '"msg_signature" or "signature"}')
    nonce, msg = parsed["nonce"], parsed["msg"]
    signature = parsed.get("msg_signature", parsed.get("signature"))
    if not isinstance(nonce, str) or not isinstance(signature, str):
        raise RejectedMessage(Reason.BAD_SHAPE, "nonce and signature must be text")
    if not any(signature_ok(token, nonce, text, signature) for text in raw_msg_texts(body, msg)):
        raise RejectedMessage(BAD_SIGNATURE, "the signature does not match the token")
    if isinstance(msg, str):  # Studio: the message is JSON text
        return parse_json(msg.encode("utf-8"))
    return msg


def _ident(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str) and str(value).strip():
        return str(value).strip()
    return None


def _ms(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def decode_messages(msg: Any) -> list[Uplink]:
    """The uplinks of a verified push's message(s) (a message or a list of them)."""
    items = msg if isinstance(msg, list) else [msg]
    out: list[Uplink] = []
    for item in items:
        if not isinstance(item, dict):
            raise RejectedMessage(Reason.BAD_SHAPE, "a OneNET message is a JSON object")
        if "messageType" in item:
            out += _studio(item)
        else:
            out += _classic(item)
    return out


def _classic(item: dict[str, Any]) -> list[Uplink]:
    kind = item.get("type")
    dev_id = _ident(item.get("dev_id"))
    if kind == 7:
        return []
    if dev_id is None:
        raise RejectedMessage(Reason.BAD_SHAPE, "a message without dev_id")
    at = _ms(item.get("at"))
    if kind == 1:
        ds_id = _ident(item.get("ds_id"))
        if ds_id is None:
            raise RejectedMessage(Reason.BAD_SHAPE, "a data point without ds_id")
        value = item.get("value")
        return [Uplink((dev_id,), at, fields={ds_id: value})]
    if kind == 2:
        status = item.get("status")
        if status not in (0, 1):
            raise RejectedMessage(Reason.BAD_STATUS, "status must be 1 (online) or 0 (offline)")
        presence = Presence.ONLINE if status == 1 else Presence.OFFLINE
        return [Uplink((dev_id,), at, presence=presence)]
    raise RejectedMessage(Reason.BAD_SHAPE, f"unknown message type {str(kind)[:32]!r}")


def _studio_identities(item: dict[str, Any]) -> tuple[str, ...]:
    device_id = _ident(item.get("deviceId"))
    product = _ident(item.get("productId"))
    name = _ident(item.get("deviceName"))
    found = [device_id, f"{product}/{name}" if product and name else None, name]
    identities = tuple(i for i in found if i is not None)
    if not identities:
        raise RejectedMessage(Reason.BAD_SHAPE, "a message without deviceId or deviceName")
    return identities


def _studio(item: dict[str, Any]) -> list[Uplink]:
    kind = item.get("messageType")
    data = item.get("data")
    if kind not in ("notify", "lifeCycle"):
        return []  # replies to service calls, scene logs and the like: not device state
    identities = _studio_identities(item)
    if not isinstance(data, dict):
        raise RejectedMessage(Reason.BAD_SHAPE, f"{kind} without a data object")
    if kind == "lifeCycle":
        status = data.get("status")
        if status not in ("online", "offline"):
            raise RejectedMessage(Reason.BAD_STATUS, "lifeCycle status must be online or "
                                                     "offline")
        at = _ms(data.get("time")) or _ms(item.get("timestamp"))
        return [Uplink(identities, at, presence=Presence(status))]
    params = data.get("params")
    if not isinstance(params, dict) or not params:
        raise RejectedMessage(Reason.BAD_SHAPE, "notify without data.params")
    values: dict[str, Any] = {}
    times: list[int] = []
    for name, point in params.items():
        if isinstance(point, dict) and "value" in point:
            values[name] = point["value"]
            if (t := _ms(point.get("time"))) is not None:
                times.append(t)
        else:
            values[name] = point
    at = max(times) if times else None
    if item.get("notifyType") == "event":
        # Each event: its identifier as ``event``, its value's fields beside it.
        return [Uplink(identities, at,
                       fields={**(value if isinstance(value, dict) else {"value": value}),
                               "event": name})
                for name, value in values.items()]
    return [Uplink(identities, at, fields=values)]
