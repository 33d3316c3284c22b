"""An outside source's MQTT connection: our own broker or another one (a ChirpStack server's),
with its own credentials, through the gateway's one paho module (``gateway.mqtt``), in a
process of its own (``mqtt_front``).

The same guarantees as our own subscription: a persistent session (a stable client id, clean
start off), QoS 1 with manual acknowledgement after commit, flow control through the ingest
queue. Messages the outside system publishes at QoS 0 cannot be redelivered: configure it to
publish at QoS 1 (ChirpStack: ``[integration.mqtt] qos=1``).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from gongzhi.core.config_kit import STRICT_CONFIG, Secret
from gongzhi.core.errors import ConfigError, RejectedMessage
from gongzhi.core.settings import MqttTarget, parse_mqtt_url
from gongzhi.gateway.decode import MAX_PAYLOAD_BYTES, parse_json
from gongzhi.gateway.messages import RawMessage
from gongzhi.gateway.reasons import Reason
from gongzhi.gateway.sources.base import SourceContext, SourceHealth
from gongzhi.gateway.sources.mqtt_front import MqttFront, MqttFrontFailed, MqttFrontSpec
from gongzhi.gateway.sources.piped_child import RESTART, Restarts


class MqttOptions(BaseModel):
    """The connection part of an MQTT source's options."""

    model_config = STRICT_CONFIG

    broker: str | None = None  # mqtt://host:port or mqtts://...; None: the gateway's own broker
    username: str | None = None
    password: Secret | None = None
    client_id: str | None = Field(default=None, min_length=1, max_length=128)
    topics: list[str] = Field(default_factory=list)

    @field_validator("broker")
    @classmethod
    def _broker(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if urlsplit(value).password is not None:
            raise ValueError("no password in the broker URL: give it as password: "
                             "{file: PATH} or {env: NAME}")
        parse_mqtt_url(value)
        return value

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: list[str]) -> list[str]:
        for topic in value:
            parts = topic.split("/")
            if not topic or "#" in parts[:-1] or any(
                    ("+" in p and p != "+") or ("#" in p and p != "#") for p in parts):
                raise ValueError(f"{topic!r} is not an MQTT topic filter")
        return value

    def target(self, own: MqttTarget) -> MqttTarget:
        """Where to connect: ``broker`` (or the gateway's own) with the source's credentials."""
        base = own if self.broker is None else parse_mqtt_url(self.broker)
        password = self.password.reveal() if self.password is not None else None
        return MqttTarget(host=base.host, port=base.port, username=self.username,
                          password=password, tls=base.tls)


class MqttSource:
    """What every source on MQTT does alike: one subscription, taken by a process of its own
    (``mqtt_front``) and started again if that process ends; its acknowledgements and its
    health. A kind adds ``translate``."""

    def __init__(self, context: SourceContext, options: MqttOptions,
                 topics: Sequence[str]) -> None:
        self._context = context
        if options.broker is None and options.username is None and context.mqtt.username:
            raise ConfigError("a source on the gateway's own broker needs an MQTT user of its "
                              "own (username, password): where the broker makes the user the "
                              "client id, the gateway's would take over the gateway's session")
        self._target = options.target(context.mqtt)
        client_id = options.client_id or f"gongzhi-{context.gateway_id}-{context.source_id}"
        self._front = MqttFront(MqttFrontSpec(context.source_id, self._target, client_id,
                                              tuple(topics),
                                              logging.getLogger().getEffectiveLevel()),
                                context.queue.put, on_exit=self._ended)
        self._closing = threading.Event()
        self._restarter: threading.Thread | None = None
        self._rng = random.Random()

    @property
    def subscriber_pid(self) -> int | None:
        """The subscriber's process (None before the start)."""
        return self._front.pid

    def start(self) -> None:
        self._closing.clear()
        self._front.start()

    def close(self) -> None:
        self._closing.set()
        if self._restarter is not None:
            self._restarter.join(timeout=RESTART.max_s + 5)
            self._restarter = None
        self._front.stop()

    def ack(self, messages: Sequence[RawMessage]) -> None:
        self._front.ack(messages)

    def wait_connected(self, timeout_s: float) -> bool:
        return self._front.wait_connected(timeout_s)

    def _ended(self) -> None:
        """The subscriber's process ended unasked: started again, after a wait that grows
        while it keeps failing (its reader thread calls this, once an end)."""
        def again() -> None:
            restarts = Restarts(self._front, self._closing, self._rng)
            while True:
                try:
                    restarts.attempt()  # False: closing
                except MqttFrontFailed:
                    continue  # logged; tried again after a longer wait
                return

        self._restarter = threading.Thread(target=again, daemon=True,
                                           name=f"mqtt-restart-{self._context.source_id}")
        self._restarter.start()

    @staticmethod
    def body(raw: RawMessage) -> Any:
        """The message's JSON (``payload_too_large`` past the contract's bound, ``not_json``)."""
        if len(raw.payload) > MAX_PAYLOAD_BYTES:
            raise RejectedMessage(Reason.PAYLOAD_TOO_LARGE,
                                  f"{len(raw.payload)} bytes > {MAX_PAYLOAD_BYTES}")
        return parse_json(raw.payload)

    def health(self) -> SourceHealth:
        if self._front.connected:
            return SourceHealth(True)
        if not self._front.running:
            return SourceHealth(False, "the source's subscriber process is not running")
        return SourceHealth(False, f"not connected to mqtt://{self._target.host}:"
                                   f"{self._target.port}")
