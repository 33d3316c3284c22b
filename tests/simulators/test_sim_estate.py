"""Estate files: shipped sizes, deterministic generation, registry round trip, errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from gongzhi.core.errors import ConfigError
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import load_registry
from gongzhi.simulators.estate import Role, load_estate_file
from gongzhi.simulators.layout import build_layout, write_estate_registry


@pytest.mark.parametrize(("name", "low", "high"), [
    ("small", 40, 60),
    ("demo", 900, 1200),
    ("district", 90_000, 110_000),
])
def test_shipped_estate_sizes(name: str, low: int, high: int) -> None:
    assert low <= load_estate_file(name).device_count <= high


def test_demo_estate_has_the_places_the_demo_needs() -> None:
    estate = load_estate_file("demo")
    layout = build_layout(estate, seed=0)
    assert len(layout.devices) == estate.device_count
    assert len({d.record.location.building for d in layout.devices if d.role is not
                Role.PUMP_ROOM}) == 12
    roles = {d.role for d in layout.devices}
    assert roles == set(Role)
    risers = [d.record for d in layout.devices if d.role is Role.RISER]
    assert risers and all(r.riser and r.type is DeviceType.WATER_PRESSURE for r in risers)
    alone = [d.record for d in layout.devices if d.record.elderly_alone]
    assert alone and all(r.phone and len(r.phone) == 11 and r.household for r in alone)
    assert all(d.record.phone is None for d in layout.devices if not d.record.elderly_alone)
    # Both devices of a household share its flag.
    by_household: dict[str, set[bool]] = {}
    for d in layout.devices:
        if d.record.household:
            by_household.setdefault(d.record.household, set()).add(d.record.elderly_alone)
    assert all(len(flags) == 1 for flags in by_household.values())


def test_registry_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    write_estate_registry("demo", a, seed=7)
    write_estate_registry("demo", b, seed=7)
    write_estate_registry("demo", c, seed=8)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_registry_round_trips_through_the_contract_reader(tmp_path: Path) -> None:
    out = tmp_path / "registry.csv"
    written = write_estate_registry("small", out, seed=3)
    read = load_registry(out)
    assert len(read) == len(written) == 52
    for record in written:
        assert read.get(record.device_id) == record
    assert {r.setting("report_interval_s", 0) for r in read} == {10.0, 30.0}


def test_estate_by_path(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text("estate_id: tiny\nbuildings:\n  - {id: A, floors: 2, units: 1}\n")
    assert load_estate_file(path).device_count == 2 * 2 * 2 + 2 * 2 + 1 + 1 + 1


@pytest.mark.parametrize(("text", "line", "words"), [
    ("estate_id: x\nbuildings:\n  - {floors: 2, wings: 3}\n", 3, "unknown key 'wings'"),
    ("estate_id: x\nbuildings:\n  - floors: 2\n    units: many\n", 4,
     "buildings[0].units: input should be a valid integer"),
    ("estate_id: x\nbuildings:\n  - floors: 2\n    household: [smoke, gas]\n", 4,
     "unknown device kind 'gas'"),
    ("estate_id: x\nsettings:\n  riser: {rated_current_a: 3}\nbuildings: []\n", 3,
     "unknown key 'rated_current_a'"),
    ("estate_id: bad id\nbuildings: []\n", 1, "estate_id: id 'bad id' must be"),
    ("estate_id: x\nbuildings:\n  - {id: A, count: 2, floors: 2}\n", 3,
     "'id' names one building"),
    ("estate_id: x\nbuildings:\n  - {id_format: 'B{n} x', floors: 2}\n", 3,
     "building id 'B1 x' must be"),
    ("estate_id: x\nbuildings:\n  - {id: A, floors: 2}\n  - {id: A, floors: 3}\n", 2,
     "building id 'A' appears twice"),
    ("district: d\nestates:\n  - {estate_id: a, buildings: []}\n"
     "  - {estate_id: a, buildings: []}\n", 4, "estate_id 'a' appears twice"),
    ("district: d\ndefaults: {floors: 3}\nestates: []\n", 2, "unknown key 'floors'"),
    ("estate_id: x\nbuildings: [\n", 3, "not valid YAML"),
])
def test_estate_errors_name_file_and_line(tmp_path: Path, text: str, line: int,
                                          words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_estate_file(path)
    assert f"{path}:{line}:" in str(err.value)
    assert words in str(err.value)


def test_unknown_estate_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="shipped: demo, district, small, welfare"):
        load_estate_file("nowhere")
