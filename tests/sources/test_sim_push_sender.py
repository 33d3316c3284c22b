"""The simulated platforms' push sender against a real HTTP server on loopback: pushes from
several lanes at once, each key's (a device's) in the order given, every one sent by ``close``;
a refused push is dropped and counted, not retried."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from gongzhi.core.errors import ConfigError
from gongzhi.simulators.protocols.carrier import PushSender


class _Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    receiver.bodies.append(body)
                self.send_response(400 if body.get("bad") else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ctwing"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver()
    try:
        yield r
    finally:
        r.close()


def test_pushes_go_from_lanes_each_device_in_order(receiver: _Receiver) -> None:
    sender = PushSender(receiver.url, "ctwing", lanes=4)
    sender.open()
    devices = [f"d{i}" for i in range(6)]
    for n in range(25):
        for device in devices:
            sender.submit(device, orjson.dumps({"device": device, "n": n}))
    sender.submit("d0", orjson.dumps({"device": "d0", "n": 25, "bad": True}))
    sender.close()  # sends what waits, then stops the lanes
    assert sender.sent == 150 and sender.dropped == 1
    assert len(receiver.bodies) == 151  # the refused push was not tried again
    for device in devices:
        assert [b["n"] for b in receiver.bodies if b["device"] == device] == \
            list(range(26 if device == "d0" else 25))
    assert not [t for t in threading.enumerate() if t.name.startswith("ctwing-push")]


def test_a_sender_without_a_url_says_which_option_is_missing() -> None:
    with pytest.raises(ConfigError, match="needs --push-url"):
        PushSender(None, "onenet").open()
