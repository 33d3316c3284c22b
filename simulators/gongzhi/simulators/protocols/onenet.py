"""``onenet``: the simulated devices as NB-IoT products on China Mobile's OneNET, whose data push
(plain mode) POSTs to the gateway's ``onenet`` source (``--push-url``), signed with the push
instance's token (``--push-token-file``): ``msg_signature = base64(md5(token + nonce + msg))``.

Each field of a report is a data point (``type`` 1: ``dev_id``, ``ds_id`` the field, ``at``,
``value``; an event as ``Alarm_Status``); a device going offline or online is ``type`` 2. The
messages of one step of the simulation go in batched pushes of up to ``BATCH`` messages (the
platform's batch push). Identities: OneNET's numeric device id (the registry's
``external_id``). Nothing goes over MQTT.
"""

from __future__ import annotations

import base64
import hashlib
import random
import string
from collections.abc import Sequence
from typing import Any

import orjson

from gongzhi.core.errors import ConfigError
from gongzhi.devices.registry import DeviceRecord
from gongzhi.simulators.outgoing import Outgoing
from gongzhi.simulators.protocols import Route, routed
from gongzhi.simulators.protocols.carrier import CarrierEncoder, onenet_device_id

BATCH = 100
NB_IOT = 10  # login_type


def signed_push(token: str, messages: list[dict[str, Any]], nonce: str) -> bytes:
    """A plain-mode push: the messages, the nonce and their signature (the platform's own
    computation, written here independently of the gateway's check)."""
    msg = orjson.dumps(messages if len(messages) > 1 else messages[0]).decode()
    digest = hashlib.md5((token + nonce + msg).encode(), usedforsecurity=False).digest()
    signature = base64.b64encode(digest).decode()
    return f'{{"msg":{msg},"msg_signature":"{signature}","nonce":"{nonce}"}}'.encode()


class OnenetEncoder(CarrierEncoder):
    def __init__(self, records: Sequence[DeviceRecord], seed: int, route: Route) -> None:
        super().__init__(records, route, "onenet")
        self._token = route.push_token
        self._rng = random.Random(seed)

    def external_id(self, record: DeviceRecord) -> str | None:
        return str(onenet_device_id(record.device_id))

    def open(self) -> None:
        if not self._token:
            raise ConfigError("the onenet protocol needs --push-token-file (the push "
                              "instance's token)")
        super().open()

    def encode(self, items: Sequence[Outgoing]) -> Sequence[Outgoing]:
        messages = [m for item in items for m in self.reports(item)]
        assert self._token is not None, "open() first"
        for start in range(0, len(messages), BATCH):
            nonce = "".join(self._rng.choice(string.ascii_letters + string.digits)
                            for _ in range(8))
            self._sender.submit("", signed_push(self._token, messages[start:start + BATCH],
                                                nonce))
        return []

    def messages(self, item: Outgoing) -> list[dict[str, Any]]:
        """The OneNET messages of one item of the simulation."""
        return self.reports(item)

    def status(self, device_id: str, online: bool) -> dict[str, Any]:
        return {"at": self._clock_ms, "login_type": NB_IOT, "type": 2,
                "dev_id": onenet_device_id(device_id), "status": 1 if online else 0}

    def reading(self, device_id: str, fields: dict[str, Any], at: int) -> list[dict[str, Any]]:
        dev_id = onenet_device_id(device_id)
        return [{"at": at, "type": 1, "ds_id": name, "value": value, "dev_id": dev_id}
                for name, value in fields.items()]


PROTOCOL = routed("onenet", lambda records, seed, route: OnenetEncoder(records, seed, route))
