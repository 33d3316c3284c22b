"""Aliyun Short Message Service ``SendSms`` (API version 2017-05-25) over the RPC style with
signature version 1.0 (HMAC-SHA1), as the provider documents it:

1. every parameter but ``Signature`` (common ones and ``PhoneNumbers``, ``SignName``,
   ``TemplateCode``, ``TemplateParam``, ``OutId``) sorted by name, names and values
   percent-encoded (RFC 3986: unreserved ``A-Z a-z 0-9 - _ . ~`` kept, space as ``%20``),
   joined ``name=value`` with ``&``: the canonicalized query string;
2. ``StringToSign = METHOD + "&" + percentEncode("/") + "&" + percentEncode(canonicalized)``;
3. ``Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))``.

The request is a form POST to ``https://dysmsapi.aliyuncs.com/``. The answer is JSON:
``{"Code": "OK", "Message": "OK", "BizId": ..., "RequestId": ...}`` or an error ``Code``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from gongzhi.core.config_kit import Secret
from gongzhi.hub.notify.channel import Outcome, masked

URL = "https://dysmsapi.aliyuncs.com/"
VERSION = "2017-05-25"
THROTTLED = {"isv.BUSINESS_LIMIT_CONTROL": 60_000, "isv.DAY_LIMIT_CONTROL": 3_600_000,
             "Throttling.User": 1_000, "Throttling": 1_000}
RETRY = {"isp.SYSTEM_ERROR", "ServiceUnavailable", "InternalError", "isp.RAM_PERMISSION_DENY"}
# Everything else (SignatureDoesNotMatch, InvalidAccessKeyId.NotFound, isv.SMS_TEMPLATE_ILLEGAL,
# isv.SMS_SIGNATURE_ILLEGAL, isv.MOBILE_NUMBER_ILLEGAL, isv.TEMPLATE_MISSING_PARAMETERS,
# isv.AMOUNT_NOT_ENOUGH, InvalidTimeStamp.Expired ...) is refused: retrying cannot help.


def percent_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def canonicalized(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method}&{percent_encode('/')}&{percent_encode(canonicalized(params))}"


def signature(access_key_secret: str, method: str, params: Mapping[str, str]) -> str:
    mac = hmac.new(f"{access_key_secret}&".encode(),
                   string_to_sign(method, params).encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def timestamp(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AliyunSms:
    """The provider: sends one templated message to one number."""

    def __init__(self, access_key_id: Secret, access_key_secret: Secret, *, url: str = URL,
                 region: str = "cn-hangzhou", rng: random.Random | None = None) -> None:
        self._id = access_key_id
        self._secret = access_key_secret
        self._url = url
        self._region = region
        self._rng = rng or random.Random()

    def params(self, phone: str, sign_name: str, template_code: str,
               template_params: Mapping[str, str], out_id: str, now_ms: int) -> dict[str, str]:
        params = {
            "AccessKeyId": self._id.reveal(), "Action": "SendSms", "Format": "JSON",
            "OutId": out_id[:64], "PhoneNumbers": phone, "RegionId": self._region,
            "SignName": sign_name, "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            "SignatureVersion": "1.0", "TemplateCode": template_code,
            "TemplateParam": json.dumps(dict(template_params), ensure_ascii=False,
                                        separators=(",", ":")),
            "Timestamp": timestamp(now_ms), "Version": VERSION,
        }
        params["Signature"] = signature(self._secret.reveal(), "POST", params)
        return params

    def send(self, http: httpx.Client, phone: str, sign_name: str, template_code: str,
             template_params: Mapping[str, str], out_id: str, now_ms: int) -> Outcome:
        params = self.params(phone, sign_name, template_code, template_params, out_id, now_ms)
        secrets = (self._id.reveal(), self._secret.reveal())
        try:
            response = http.post(self._url, data=params)
        except httpx.HTTPError as exc:
            return Outcome.retry(masked(f"{type(exc).__name__}: {exc}", *secrets))
        if response.status_code >= 500:
            return Outcome.retry(f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            return Outcome.retry(f"HTTP {response.status_code}: not a JSON answer")
        code = str(answer.get("Code", ""))
        detail = f"{code}: {answer.get('Message', '')}"
        if code == "OK":
            return Outcome.sent(f"OK BizId {answer.get('BizId', '')}")
        if code in THROTTLED:
            return Outcome.throttled(detail, THROTTLED[code])
        if code in RETRY:
            return Outcome.retry(detail)
        return Outcome.refused(detail)
