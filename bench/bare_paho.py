"""The baseline of the gateway benchmark: paho as a user writes it, in a process of its own that
imports nothing of Gongzhi (so nothing has changed paho's decoding): MQTT 5, a persistent session,
``estate/+/+/+`` at QoS 1, automatic acknowledgement, a callback that counts.

``python bench/bare_paho.py register PORT`` creates the session; ``drain PORT COUNT`` connects,
takes COUNT queued messages and prints ``{"messages", "seconds", "msgs_per_s"}`` (first message
to last); ``forget PORT`` ends the session.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

CLIENT_ID = "bench-bare-paho"
TOPICS = "estate/+/+/+"


class Counter:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.first = self.last = 0.0
        self.done = threading.Event()

    def on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self.last = time.perf_counter()
        self.count += 1
        if self.count == 1:
            self.first = self.last
        if self.count >= self.expected:
            self.done.set()


def connect(port: int, on_message: Any = None, expiry_s: int = 600) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=CLIENT_ID, protocol=paho.MQTTv5)
    if on_message is not None:
        client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = expiry_s
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    return client


def close(client: paho.Client) -> None:
    client.disconnect()
    client.loop_stop()


def main(argv: list[str]) -> int:
    action, port = argv[0], int(argv[1])
    if action == "register":
        client = connect(port)
        client.subscribe(TOPICS, qos=1)
        time.sleep(0.5)
        close(client)
    elif action == "forget":
        close(connect(port, expiry_s=0))
    elif action == "drain":
        counter = Counter(int(argv[2]))
        client = connect(port, counter.on_message)
        finished = counter.done.wait(120)
        close(client)
        if not finished:
            print(f"drained only {counter.count} of {counter.expected}", file=sys.stderr)
            return 1
        seconds = counter.last - counter.first
        print(json.dumps({"messages": counter.count, "seconds": seconds,
                          "msgs_per_s": (counter.count - 1) / seconds}))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    # Stock paho throughout: no module of ours was imported, paho's decoding is its own.
    assert _packet.Properties is Properties  # type: ignore[attr-defined]
    assert not [name for name in sys.modules if name.startswith("gongzhi")]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
