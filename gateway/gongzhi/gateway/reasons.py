"""Stable reasons for refusing a device message: metric labels and dead-letter records."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Stable rejection reasons: metric labels and dead-letter records use these strings."""

    PAYLOAD_TOO_LARGE = "payload_too_large"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_DEVICE = "unknown_device"
    ESTATE_MISMATCH = "estate_mismatch"
    NOT_JSON = "not_json"
    BAD_SHAPE = "bad_shape"
    UNKNOWN_METRIC = "unknown_metric"
    BAD_VALUE = "bad_value"
    NON_FINITE = "non_finite"
    OUT_OF_RANGE = "out_of_range"
    BAD_UNIT = "bad_unit"
    UNKNOWN_EVENT = "unknown_event"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    BAD_SEQ = "bad_seq"
    BAD_STATUS = "bad_status"
    BAD_DETAIL = "bad_detail"
    UNSTORABLE = "unstorable"
    # Outside sources (gongzhi.gateway.sources): a field of the message no mapping covers, and a
    # mapping's JSONPath that matched nothing in it.
    UNMAPPED_FIELD = "unmapped_field"
    NO_MATCH = "no_match"
    INTERNAL_ERROR = "internal_error"
