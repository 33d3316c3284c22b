"""Any JSON over MQTT by mapping: device identity from a topic regex or a JSONPath, metrics by
JSONPath with unit conversion, events by value; a JSONPath that matches nothing is a dead letter
naming the path."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sources_support import dead_letters, now_ms

from gongzhi.gateway.service import GatewayService
from gongzhi.telemetry.embedded import EmbeddedReader, telemetry_db_path
from tests.conftest import Broker
from tests.gateway.gateway_support import AlarmPeer, Publisher, wait_until

HYDRANTS = """\
sources:
  - id: hydrants
    kind: mqtt_json
    options:
      topics: ["hydrant/+/data"]
      device:
        topic_regex: "^hydrant/(?P<id>[^/]+)/data$"
      ts: {path: $.time, unit: s}
      seq: $.counter
      mapping:
        metrics:
          pressure_mpa: {path: $.data.pressure, unit: bar, required: true}
        events:
          - path: $.data.Alarm_Status
            values: {"2": tamper, "5": fault}
  - id: detectors
    kind: mqtt_json
    options:
      topics: ["vendor/smoke"]
      device: {path: "$.dev.imei", lookup: external_id}
      mapping:
        metrics:
          temp_c: {path: "$.readings[?@.kind == 'temp'].value", unit: F}
        events:
          - path: Alarm_Status
            values: {"2": smoke_alarm}
"""


def test_a_mapped_json_device_is_stored_converted_and_raises_alarms(
        source_gateway: Callable[..., GatewayService], publisher: Publisher,
        peer: AlarmPeer) -> None:
    gw = source_gateway(HYDRANTS)
    t_s = now_ms() // 1000 - 60
    for counter, bar in ((17, 3.2), (18, 3.1), (17, 3.2)):  # the third repeats the first
        publisher.publish("hydrant/sensor-0042/data", {
            "deviceId": "sensor-0042", "time": t_s + counter, "counter": counter,
            "data": {"pressure": bar, "Alarm_Status": 0}})
    publisher.publish("vendor/smoke", {"dev": {"imei": "a84041000181c2d1"},
                                       "readings": [{"kind": "temp", "value": 98.6}]})
    publisher.publish("vendor/smoke", {"dev": {"imei": "A84041000181C2D1"}, "Alarm_Status": 2})
    wait_until(lambda: ("s1", "smoke_alarm") in peer.kinds(), what="the smoke alarm")
    since = (t_s + 16) * 1000
    with EmbeddedReader(telemetry_db_path(gw.settings)) as reader:
        wait_until(lambda: len(reader.series("j1", "pressure_mpa", since, since + 5000)) == 2,
                   what="the hydrant's pressure")
        points = reader.series("j1", "pressure_mpa", since, since + 5000)
        assert [(ts, round(v, 6)) for ts, v in points] == [
            ((t_s + 17) * 1000, 0.32), ((t_s + 18) * 1000, 0.31)]
        wait_until(lambda: reader.latest("s1", "temp_c") is not None, what="the temperature")
        latest = reader.latest("s1", "temp_c")
        assert latest is not None and abs(latest[1] - 37.0) < 1e-9
    assert gw.metrics.total("duplicates_total") == 1


def test_a_jsonpath_matching_nothing_is_a_dead_letter_naming_it(
        source_gateway: Callable[..., GatewayService], publisher: Publisher) -> None:
    gw = source_gateway(HYDRANTS)
    publisher.publish("hydrant/sensor-0042/data", {"data": {"presure": 3.2}})  # a typo
    publisher.publish("vendor/smoke", {"dev": {"imei": "a84041000181c2d1"}, "other": 1})
    publisher.publish("hydrant/H-9/data", {"data": {"pressure": 3.2}})
    publisher.publish("vendor/smoke", {"dev": {}, "Alarm_Status": 2})
    publisher.publish("hydrant/sensor-0042/data", {"data": {"pressure": "high"}})
    wait_until(lambda: gw.metrics.total("messages_rejected_total") == 5, what="5 refusals")
    no_match = sorted(str(d["detail"]) for d in dead_letters(gw, "no_match"))
    assert no_match == [
        "$.data.pressure matched nothing (metric pressure_mpa)",
        "$.dev.imei matched no device id",
        "none of $.readings[?@.kind == 'temp'].value, $.Alarm_Status matched",
    ]
    unknown = dead_letters(gw, "unknown_device")
    assert len(unknown) == 1 and "H-9" in str(unknown[0]["detail"])
    bad = dead_letters(gw, "bad_value")
    assert len(bad) == 1 and "$.data.pressure" in str(bad[0]["detail"])


def test_a_source_on_another_broker_that_goes_away_is_named_in_readyz(
        source_gateway: Callable[..., GatewayService], lora_broker: Broker) -> None:
    sources = HYDRANTS.replace('      topics: ["hydrant/+/data"]',
                               f'      broker: {lora_broker.url}\n'
                               '      topics: ["hydrant/+/data"]', 1)
    gw = source_gateway(sources)
    assert gw.http is not None
    base = f"http://127.0.0.1:{gw.http.port}"
    assert httpx.get(f"{base}/readyz").status_code == 200
    lora_broker.stop()
    wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 503, what="not ready")
    problems = httpx.get(f"{base}/healthz").json()["problems"]
    assert [p for p in problems if "source" in p] == [
        f"source hydrants is down: not connected to mqtt://127.0.0.1:{lora_broker.port}"]
