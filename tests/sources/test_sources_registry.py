"""The registry's optional ``external_id`` column: an outside identity tied to one device."""

from __future__ import annotations

from pathlib import Path

import pytest

from gongzhi.core.errors import ConfigError
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import (
    DeviceRecord,
    Location,
    Registry,
    load_registry,
    parse_registry,
    write_registry,
)

HEADER = "device_id,type,estate_id,building,unit,floor,room,elderly_alone,external_id\n"


def test_external_ids_are_found_without_regard_to_case() -> None:
    registry = parse_registry(HEADER + "s1,smoke,e1,b1,1,3,301,0,A84041000181C2D1\n"
                                       "s2,smoke,e1,b1,1,3,302,0,\n"
                                       "x1,electrical,e1,b1,1,1,101,0,modbus:10.0.0.5:502/3\n")
    assert registry.by_external_id("a84041000181c2d1").device_id == "s1"  # type: ignore[union-attr]
    assert registry.by_external_id(" A84041000181C2D1 ").device_id == "s1"  # type: ignore[union-attr]
    assert registry.by_external_id("modbus:10.0.0.5:502/3").device_id == "x1"  # type: ignore[union-attr]
    assert registry.by_external_id("0000000000000000") is None
    assert registry.get("s2").external_id is None  # type: ignore[union-attr]


def test_a_device_known_by_several_identities_is_found_by_each() -> None:
    """CTWing's data reports carry the IMEI, its online reports only its own deviceId."""
    registry = parse_registry(HEADER + "s1,smoke,e1,b1,1,3,301,0,860374051096202|ACF7BAAEE65E\n")
    assert registry.by_external_id("860374051096202").device_id == "s1"  # type: ignore[union-attr]
    assert registry.by_external_id("acf7baaee65e").device_id == "s1"  # type: ignore[union-attr]
    assert registry.by_external_id("860374051096202|acf7baaee65e") is None
    with pytest.raises(ConfigError, match="none empty"):
        parse_registry(HEADER + "s1,smoke,e1,b1,1,3,301,0,860374051096202|\n")


def test_one_identity_of_several_given_to_another_device_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    path.write_text(HEADER + "s1,smoke,e1,b1,1,3,301,0,860374051096202|acf7\n"
                             "s2,smoke,e1,b1,1,3,302,0,ACF7\n")
    with pytest.raises(ConfigError) as caught:
        load_registry(path)
    assert caught.value.source == f"{path}:3"
    assert "'acf7'" in str(caught.value) and "s1 has it already (line 2)" in str(caught.value)
    where = Location("e1", "b1", "1", "3", "301")
    with pytest.raises(ConfigError, match="both s1 and s2"):
        Registry([DeviceRecord("s1", DeviceType.SMOKE, where, external_id="x|AB"),
                  DeviceRecord("s2", DeviceType.SMOKE, where, external_id="ab|y")])


def test_a_duplicate_external_id_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    path.write_text(HEADER + "s1,smoke,e1,b1,1,3,301,0,a84041000181c2d1\n"
                             "s2,smoke,e1,b1,1,3,302,0,A84041000181C2D1\n")
    with pytest.raises(ConfigError) as caught:
        load_registry(path)
    assert caught.value.source == f"{path}:3"
    assert "s1 has it already (line 2)" in str(caught.value)


def test_an_external_id_with_spaces_is_refused() -> None:
    with pytest.raises(ConfigError, match="external_id"):
        parse_registry(HEADER + "s1,smoke,e1,b1,1,3,301,0,a b\n", source="r.csv")


def test_records_built_in_code_with_a_shared_external_id_are_refused() -> None:
    where = Location("e1", "b1", "1", "3", "301")
    records = [DeviceRecord("s1", DeviceType.SMOKE, where, external_id="AB"),
               DeviceRecord("s2", DeviceType.SMOKE, where, external_id="ab")]
    with pytest.raises(ConfigError, match="both s1 and s2"):
        Registry(records)


def test_the_column_is_written_back_only_when_used(tmp_path: Path) -> None:
    where = Location("e1", "b1", "1", "3", "301")
    plain = [DeviceRecord("s1", DeviceType.SMOKE, where, settings={"smoke_alarm_db_m": 0.3})]
    write_registry(tmp_path / "a.csv", plain)
    assert "external_id" not in (tmp_path / "a.csv").read_text().splitlines()[0]
    mapped = [*plain, DeviceRecord("s2", DeviceType.SMOKE, where, external_id="0102")]
    write_registry(tmp_path / "b.csv", mapped)
    again = load_registry(tmp_path / "b.csv")
    assert again.by_external_id("0102").device_id == "s2"  # type: ignore[union-attr]
    assert again.get("s1").settings == {"smoke_alarm_db_m": 0.3}  # type: ignore[union-attr]


def test_a_spreadsheets_export_loads_and_a_non_utf8_file_is_named(tmp_path: Path) -> None:
    """"CSV UTF-8" from a spreadsheet starts with a byte-order mark and ends lines with CRLF;
    a legacy export (GBK) is not UTF-8 and is refused with the file named."""
    rows = HEADER + "s1,smoke,e1,b1,1,3,301,0,\ns2,smoke,e1,b1,1,3,302,0,\n"
    path = tmp_path / "registry.csv"
    path.write_bytes(b"\xef\xbb\xbf" + rows.replace("\n", "\r\n").encode())
    registry = load_registry(path)
    assert registry.get("s1") is not None and registry.get("s2") is not None
    path.write_bytes((HEADER + "s1,smoke,e1,b1,1,3,三零一,0,\n").encode("gbk"))
    with pytest.raises(ConfigError, match="not UTF-8") as caught:
        load_registry(path)
    assert caught.value.source == str(path)
