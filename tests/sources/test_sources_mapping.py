"""The field mapping on its own: paths (plain and filtered JSONPath), scale, offset and unit
conversions to the catalogue's units, event value maps, and the refusals."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from gongzhi.core.errors import RejectedMessage
from gongzhi.gateway.sources.mapping import UNITS, CompiledMapping, FieldMapping


def mapping(**spec: Any) -> CompiledMapping:
    return CompiledMapping(FieldMapping.model_validate(spec))


@pytest.mark.parametrize(("unit", "raw", "metric", "expected"), [
    ("bar", 3.2, "pressure_mpa", 0.32),
    ("kPa", 320, "pressure_mpa", 0.32),
    ("psi", 100, "pressure_mpa", 0.689476),
    ("mH2O", 10, "pressure_mpa", 0.0980665),
    ("F", 212, "temp_c", 100.0),
    ("K", 273.15, "cable_temp_c", 0.0),
    ("%/ft", 1.0, "smoke_db_m", 0.143202),
    ("%/m", 10.0, "smoke_db_m", 0.457575),
    ("A", 0.3, "residual_ma", 300.0),
    ("kW", 1.35, "power_w", 1350.0),
    ("ratio", 0.87, "battery_pct", 87.0),
    ("L", 1500, "water_m3", 1.5),
])
def test_units_convert_to_the_catalogues(unit: str, raw: float, metric: str,
                                         expected: float) -> None:
    found = mapping(metrics={metric: {"path": "v", "unit": unit}}).apply({"v": raw})
    assert math.isclose(found.values[metric], expected, rel_tol=1e-5)


def test_scale_offset_strings_filters_and_events() -> None:
    m = mapping(metrics={"battery_pct": {"path": "$.bat", "scale": 0.1, "offset": 1},
                         "voltage_v": "$.readings[?@.kind == 'v'].value",
                         "current_a": {"path": "$.a.b"}},
                events=[{"path": "Alarm_Status", "values": {"2": "smoke_alarm", "true": "tamper"}},
                        {"path": "tamper", "values": {"true": "tamper"}}])
    found = m.apply({"bat": "860", "readings": [{"kind": "i", "value": 1},
                                                {"kind": "v", "value": 221}],
                     "Alarm_Status": 2.0, "tamper": True})
    assert found.values == {"battery_pct": 87.0, "voltage_v": 221.0}
    assert [name for name, _ in found.events] == ["smoke_alarm", "tamper"]
    assert found.events[0][1] == {"field": "$.Alarm_Status", "value": 2.0}
    quiet = m.apply({"Alarm_Status": 0})
    assert quiet.matched and not quiet.values and not quiet.events
    assert not m.apply({"other": 1}).matched
    assert "none of $.bat, $.readings" in str(m.nothing_matched())


@pytest.mark.parametrize(("body", "reason", "words"), [
    ({"p": "high"}, "bad_value", "$.p is 'high'"),
    ({"p": True}, "bad_value", "not a number"),
    ({"p": [1]}, "bad_value", "a list"),
    ({"p": 1e308, "s": 1}, "non_finite", "not finite"),
    ({"p": 0.3, "s": 100}, "bad_value", "100 %/ft is not an obscuration"),
    ({"q": 1}, "no_match", "$.p matched nothing (metric pressure_mpa)"),
])
def test_refusals_name_the_path(body: dict[str, Any], reason: str, words: str) -> None:
    m = mapping(metrics={"pressure_mpa": {"path": "p", "unit": "bar", "scale": 1e10,
                                          "required": True},
                         "smoke_db_m": {"path": "s", "unit": "%/ft"}})
    with pytest.raises(RejectedMessage) as caught:
        m.apply(body)
    assert caught.value.reason == reason and words in caught.value.detail


def test_a_mapping_is_checked_when_read() -> None:
    for spec, words in (({"metrics": {"pressure": "p"}}, "not a catalogue metric"),
                        ({"metrics": {"pressure_mpa": {"path": "p", "unit": "inHg"}}},
                         "no conversion from 'inHg' to MPa"),
                        ({"events": [{"path": "a", "values": {"1": "fire"}}]},
                         "unknown event(s) fire"),
                        ({}, "at least one metric or event")):
        with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(")", r"\)")):
            FieldMapping.model_validate(spec)
    assert set(UNITS) == {"MPa", "°C", "dB/m", "%", "mA", "A", "V", "W", "m³"}
