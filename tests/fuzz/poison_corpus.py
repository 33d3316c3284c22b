"""Messages one device can send that must each become exactly one dead letter, never a stuck
gateway: lone surrogates in every string field, deep and wide nesting, huge and non-finite
numbers, ten thousand keys. Payloads are raw bytes: a JSON escape of a lone surrogate is
valid JSON text that some parsers accept and no store can keep."""

from __future__ import annotations

import json


def _nested(depth: int, leaf: str = "1", kind: str = "object") -> str:
    if kind == "object":
        return '{"a":' * depth + leaf + "}" * depth
    return "[" * depth + leaf + "]" * depth


def poison_corpus(device_id: str, estate_id: str, ts_ms: int) -> list[tuple[str, bytes]]:
    """(topic, payload) pairs of a smoke detector's own topics."""
    base = f"estate/{estate_id}/{device_id}"
    event, telemetry, status = f"{base}/event", f"{base}/telemetry", f"{base}/status"

    def ev(detail: str, *, name: str = '"smoke_alarm"', ts: str | None = None,
           seq: str = "1", extra: str = "") -> tuple[str, bytes]:
        stamp = str(ts_ms) if ts is None else ts
        return event, (f'{{"ts":{stamp},"seq":{seq},"event":{name},"detail":{detail}'
                       f'{extra}}}').encode()

    many_keys = ",".join(f'"k{i}":{i}' for i in range(10_000))
    # 10,044 keys within the 64 KiB payload limit: 108 objects of the 93 one-character keys.
    letters = "{" + ",".join(f'"{chr(c)}":0' for c in range(32, 127) if chr(c) not in '"\\') + "}"
    packed_keys = '{"x":[' + ",".join([letters] * 108) + "]}"
    some_keys = ",".join(f'"{i}":0' for i in range(5_000))
    return [
        # The report's 85 bytes, and its low-surrogate twin.
        ev(r'{"note":"\ud800"}'),
        ev(r'{"note":"\udc80"}'),
        ev(r'{"note":"ok \ud83d"}'),  # a high surrogate without its pair
        # Surrogates in every other string field.
        ev("{}", name=r'"smoke_alarm\ud800"'),
        ev(r'{"\ud800":1}'),
        ev(r'{"list":["\udfff"]}'),
        ev("{}", ts=r'"2026-01-01T00:00:00\ud800Z"'),
        ev("{}", seq=r'"\ud800"'),
        ev("{}", extra=r',"\ud800":1'),
        (telemetry, rb'{"ts":%d,"seq":1,"values":{"\ud800":1}}' % ts_ms),
        (telemetry, rb'{"ts":%d,"seq":1,"values":{"smoke_db_m":"\ud800"}}' % ts_ms),
        (telemetry, rb'[{"n":"\ud800","v":1}]'),
        (telemetry, rb'[{"n":"smoke_db_m","u":"\ud800","v":0.1}]'),
        (telemetry, rb'[{"bn":"\udc00","n":"smoke_db_m","v":0.1}]'),
        (status, b"\xed\xa0\x80"),  # a surrogate encoded as UTF-8 bytes (invalid UTF-8)
        (event, b'{"event":"smoke_alarm","detail":{"note":"\xff\xfe"}}'),  # not UTF-8
        ev(r'{"note":"nul \u0000 inside"}'),
        # Deep nesting: within orjson's limit, past it, and past Python's recursion limit.
        ev(_nested(300)),
        ev(_nested(5)),
        ev(_nested(1000, kind="array")),
        ev(_nested(1100)),
        ev(_nested(5000, kind="array")),
        # Wide: many elements, many keys (10,000 keys do not fit the payload limit; 5,000 do).
        ev("[" + ",".join("0" for _ in range(300)) + "]"),
        ev("{" + some_keys + "}"),
        ev(packed_keys),
        ev("{" + many_keys + "}"),
        (telemetry, ("{" + many_keys + "}").encode()),
        ev('{"note":"' + "x" * 5000 + '"}'),
        # Huge and non-finite numbers (integers past 64 bits that orjson reads as finite floats
        # are plain numbers, not poison; one past a double's range is).
        ev('{"n":1' + "0" * 400 + "}"),
        ev('{"n":-1' + "0" * 400 + "}"),
        ev('{"n":1e400}'),
        ev('{"n":NaN}'),
        ev('{"n":Infinity}'),
        ev('{"n":[-Infinity]}'),
        ev("{}", ts="1e400"),
        ev("{}", ts=str(10**30)),
        ev("{}", seq=str(2**64)),
        (telemetry, b'{"ts":%d,"seq":1,"values":{"smoke_db_m":NaN}}' % ts_ms),
        (telemetry, b'{"ts":%d,"seq":1,"values":{"smoke_db_m":1e400}}' % ts_ms),
        (telemetry, b'{"ts":%d,"seq":1,"smoke_db_m":1%s}' % (ts_ms, b"0" * 400)),
        (telemetry, json.dumps([{"n": "smoke_db_m", "v": 0.1, "t": 1e308}]).encode()),
    ]
