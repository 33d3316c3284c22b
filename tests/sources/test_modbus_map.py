"""Modbus register maps: the shipped example, decoding per type and order, errors by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gongzhi.core.errors import ConfigError
from gongzhi.devices.modbus_map import (
    Function,
    RegisterMap,
    decode,
    encode_value,
    load_register_map,
    plan_reads,
    register_value,
)
from gongzhi.gateway.sources.config import load_sources

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "gateway/gongzhi/gateway/sources/maps/residual_current_monitor.example.yaml"


def test_the_example_map_loads_and_is_read_in_three_requests() -> None:
    rcm = load_register_map(EXAMPLE)
    assert "EXAMPLE" in EXAMPLE.read_text().splitlines()[0]
    reads = plan_reads(rcm)
    assert [(r.function, r.address, r.count) for r in reads] == [
        (Function.DISCRETE_INPUTS, 0, 2), (Function.HOLDING_REGISTERS, 10, 1),
        (Function.INPUT_REGISTERS, 0, 6)]
    assert rcm.register_count == 9


def _map(point: dict[str, object], **top: object) -> RegisterMap:
    return RegisterMap.model_validate({"model": "t", "device_type": "electrical",
                                       "points": [point], **top})


@pytest.mark.parametrize(("point", "words", "value"), [
    ({"type": "int16"}, [0xFFF6], -10.0),  # two's complement
    ({"type": "uint16", "scale": 0.1}, [2201], 220.1),
    ({"type": "int32"}, [0xFFFF, 0xFF38], -200.0),  # high word first
    ({"type": "uint32", "word_order": "little"}, [0x86A0, 0x0001], 100_000.0),  # CDAB
    ({"type": "float32"}, [0x4449, 0x8000], 806.0),  # 0x44498000 = 806.0
    ({"type": "float32", "byte_order": "little", "word_order": "little"},
     [0x0080, 0x4944], 806.0),  # DCBA
    ({"type": "uint16", "scale": 0.5, "offset": -40}, [100], 10.0),
])
def test_register_decoding_by_type_byte_and_word_order(point: dict[str, object],
                                                        words: list[int], value: float) -> None:
    rmap = _map({"name": "p", "function": 4, "address": 0, "metric": "power_w", **point})
    decoded = decode(rmap, {(Function.INPUT_REGISTERS, 0): words})
    assert decoded.values["power_w"] == pytest.approx(value)
    # and the simulators' encoder is its inverse
    p = rmap.points[0]
    assert register_value(encode_value(value, p, rmap), p, rmap) * p.scale + p.offset == \
        pytest.approx(value)


def test_status_bits_and_discrete_inputs_become_flags() -> None:
    rcm = load_register_map(EXAMPLE)
    decoded = decode(rcm, {(Function.DISCRETE_INPUTS, 0): [True, False],
                           (Function.HOLDING_REGISTERS, 10): [0b10],
                           (Function.INPUT_REGISTERS, 0): [0] * 6})
    assert decoded.flags == {"arc_fault_alarm": True, "enclosure_opened": False,
                             "probe_fault": False, "self_test_failed": True}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "map.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "line", "words"), [
    ("model: m\ndevice_type: electrical\npoints:\n  - name: a\n    function: 4\n"
     "    address: 0\n    metric: leakage_ma\n", 7, "not a metric of electrical"),
    ("model: m\ndevice_type: electrical\npoints:\n  - name: a\n    function: 4\n"
     "    address: 0\n    type: float32\n    count: 1\n    metric: power_w\n", 8, "count 1"),
    ("model: m\ndevice_type: electrical\npoints:\n  - name: a\n    function: 7\n"
     "    address: 0\n    metric: power_w\n", 5, "function"),
    ("model: m\ndevice_type: electrical\npoints:\n  - name: a\n    function: 4\n"
     "    address: 0\n    metric: power_w\n  - name: b\n    function: 4\n    address: 1\n"
     "    metric: power_w\n", 11, "mapped twice"),
    ("model: m\ndevice_type: electrical\npoints:\n  - name: a\n    function: 2\n"
     "    address: 0\n    metric: power_w\n", 7, "on/off"),
])
def test_a_register_map_error_names_its_file_and_line(tmp_path: Path, text: str, line: int,
                                                      words: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_register_map(path)
    assert f"{path}:{line}:" in str(caught.value)
    assert words in str(caught.value)


def test_a_bad_map_named_by_a_sources_file_fails_with_the_maps_line(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    bad = maps / "rcm.yaml"
    bad.write_text("model: m\ndevice_type: electrical\npoints:\n  - name: a\n    function: 4\n"
                   "    address: 0\n    type: int64\n    metric: power_w\n")
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - id: monitors\n    kind: modbus\n    options:\n"
                       "      host: 127.0.0.1\n      maps: {rcm: maps/rcm.yaml}\n"
                       "      slaves: [{unit: 1, map: rcm}]\n")
    with pytest.raises(ConfigError) as caught:
        load_sources(sources)
    assert f"{bad}:7:" in str(caught.value) and "int64" in str(caught.value)


def test_a_slave_naming_a_map_that_is_not_there_names_its_line(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - id: monitors\n    kind: modbus\n    options:\n"
                       f"      host: 127.0.0.1\n      maps: {{rcm: {EXAMPLE}}}\n"
                       f"      slaves:\n        - unit: 1\n          map: rcm2\n")
    with pytest.raises(ConfigError) as caught:
        load_sources(sources)
    assert f"{sources}:9:" in str(caught.value) and "rcm2" in str(caught.value)
