"""CTWing and OneNET push decoding, signatures and the field mapping they feed (pure)."""

from __future__ import annotations

import random

import orjson
import pytest

from gongzhi.core.errors import RejectedMessage
from gongzhi.gateway.messages import Presence
from gongzhi.gateway.sources.ctwing_decode import CtwingDecoder, push_key
from gongzhi.gateway.sources.mapping import CompiledMapping, FieldMapping
from gongzhi.gateway.sources.onenet_decode import (
    decode_messages,
    sign,
    signature_ok,
    verify_push,
)
from tests.sources.push_fixtures import (
    SMOKE_MAPPING,
    ctwing_data_report,
    ctwing_event_report,
    ctwing_online_offline,
    onenet_datapoint,
    onenet_push,
    onenet_status,
    smoke_service_data,
    studio_event,
    studio_life_cycle,
    studio_property,
    studio_push,
)

IMEI = "860374051096202"
MAPPING = CompiledMapping(FieldMapping.model_validate(SMOKE_MAPPING))
DEV = "acf7baaee65e431eadfb8f5fe50e8b81"


def test_ctwing_data_report_service_data_and_identities() -> None:
    decoder = CtwingDecoder()
    (uplink,) = decoder.decode(ctwing_data_report(IMEI, DEV, smoke_service_data(2)))
    assert uplink.identities == (IMEI, DEV)
    assert uplink.fields["Alarm_Status"] == 2
    mapped = MAPPING.apply(uplink.fields)
    assert mapped.values == {"battery_pct": 100.0, "temp_c": 30.0}
    assert [(event, detail["value"]) for event, detail in mapped.events] == [("smoke_alarm", 2)]


def test_ctwing_online_offline_finds_the_imei_it_reported_with() -> None:
    decoder = CtwingDecoder()
    (before,) = decoder.decode(ctwing_online_offline(DEV, online=True))
    assert before.identities == (DEV,) and before.presence is Presence.ONLINE
    decoder.decode(ctwing_data_report(IMEI, DEV, smoke_service_data(0)))
    (after,) = decoder.decode(ctwing_online_offline(DEV, online=False))
    assert after.identities == (IMEI, DEV) and after.presence is Presence.OFFLINE


def test_ctwing_event_report_maps_by_service_id() -> None:
    (uplink,) = CtwingDecoder().decode(ctwing_event_report(
        IMEI, DEV, 1002, {"battery_voltage": 1, "battery_state": 1}))
    assert uplink.fields["serviceId"] == "1002" and uplink.fields["eventType"] == 2
    assert [event for event, _ in MAPPING.apply(uplink.fields).events] == ["low_battery"]


def test_ctwing_retry_has_the_same_key_and_another_report_not() -> None:
    body = ctwing_data_report(IMEI, DEV, smoke_service_data(2))
    retry = orjson.loads(orjson.dumps(body))
    assert push_key(body) == push_key(retry)
    later = ctwing_data_report(IMEI, DEV, smoke_service_data(2), ts=body["timestamp"] + 1)
    assert push_key(later) != push_key(body)


@pytest.mark.parametrize(("body", "reason"), [
    ([1, 2], "bad_shape"),
    ({"deviceId": DEV}, "bad_shape"),
    ({"messageType": "dataReport", "deviceId": DEV, "payload": {"APPdata": "AQFW"}},
     "bad_shape"),
    ({"messageType": "deviceOnlineOfflineReport", "deviceId": DEV, "eventType": 7},
     "bad_status"),
    ({"messageType": "somethingElse", "deviceId": DEV}, "bad_shape"),
])
def test_ctwing_malformed_is_refused_with_a_reason(body: object, reason: str) -> None:
    with pytest.raises(RejectedMessage) as caught:
        CtwingDecoder().decode(body)
    assert caught.value.reason == reason


def test_ctwing_command_response_is_nothing_to_keep() -> None:
    assert CtwingDecoder().decode({"messageType": "commandResponse", "deviceId": DEV,
                                   "taskId": 1, "result": {"resultCode": "DELIVERED"}}) == []


def test_a_report_the_mapping_finds_nothing_in_is_told_apart() -> None:
    (uplink,) = CtwingDecoder().decode(ctwing_data_report(IMEI, DEV, {"Foo": 1, "Bar": 2}))
    assert not MAPPING.apply(uplink.fields).matched


def test_onenet_signature_is_base64_md5_of_token_nonce_msg() -> None:
    # base64(md5("tok" + "abc" + "hello")) worked out independently of the module.
    import base64
    import hashlib
    expected = base64.b64encode(hashlib.md5(b"tokabchello").digest()).decode()
    assert sign("tok", "abc", "hello") == expected
    assert signature_ok("tok", "abc", "hello", expected)
    assert signature_ok("tok", "abc", "hello", expected.replace("+", " "))  # form-decoded
    assert not signature_ok("tok2", "abc", "hello", expected)


def test_onenet_push_verified_over_the_body_text_and_decoded() -> None:
    rng = random.Random(1)
    msgs = [onenet_datapoint(5012, "smoke_alarm", 1), onenet_status(5012, online=False)]
    body = onenet_push("secret", msgs, rng)
    msg = verify_push(body, orjson.loads(body), "secret")
    uplinks = decode_messages(msg)
    assert [u.identities for u in uplinks] == [("5012",), ("5012",)]
    assert uplinks[0].fields == {"smoke_alarm": 1}
    assert uplinks[1].presence is Presence.OFFLINE
    with pytest.raises(RejectedMessage) as caught:
        verify_push(body, orjson.loads(body), "wrong")
    assert caught.value.reason == "bad_signature"


def test_onenet_signature_over_the_senders_own_formatting() -> None:
    # Spaces and key order as the sender wrote them: the text in the body is what was signed.
    text = '{"type": 1, "dev_id": 7, "ds_id": "temp", "at": 1767225600000, "value": 21.50}'
    body = ('{"msg": ' + text + ', "nonce": "n1", "msg_signature": "'
            + sign("t", "n1", text) + '"}').encode()
    assert verify_push(body, orjson.loads(body), "t")["value"] == 21.5


def test_onenet_studio_messages() -> None:
    rng = random.Random(2)
    body = studio_push("tok", studio_property("C6z4Zk012B", "smoke01",
                                              {"battery": 80, "alarm": 2}), rng)
    msg = verify_push(body, orjson.loads(body), "tok")
    (uplink,) = decode_messages(msg)
    assert uplink.identities == ("C6z4Zk012B/smoke01", "smoke01")
    assert uplink.fields == {"battery": 80, "alarm": 2}
    (event,) = decode_messages(studio_event("C6z4Zk012B", "smoke01", "smoke_alarm",
                                            {"level": 3}))
    assert event.fields == {"level": 3, "event": "smoke_alarm"}
    assert [name for name, _ in MAPPING.apply(event.fields).events] == ["smoke_alarm"]
    (life,) = decode_messages(studio_life_cycle("C6z4Zk012B", "smoke01", online=False))
    assert life.presence is Presence.OFFLINE
