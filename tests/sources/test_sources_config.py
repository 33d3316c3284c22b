"""The sources file: every mistake names the file and line, secrets never sit in it, and a
gateway started with a bad file stops before it opens anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from gongzhi.core.errors import ConfigError
from gongzhi.gateway.service import GatewayService
from gongzhi.gateway.sources.config import load_sources
from gongzhi.gateway.sources.jsonmap import JsonMapOptions
from tests.gateway.gateway_support import gateway_settings

GOOD = """\
sources:
  - id: hydrants
    kind: mqtt_json
    options:
      broker: mqtt://127.0.0.1:1883
      username: gongzhi
      password: {env: HYDRANT_PASSWORD}
      topics: ["hydrant/+/data"]
      device: {topic_regex: "^hydrant/(?P<id>[^/]+)/data$"}
      mapping:
        metrics:
          pressure_mpa: {path: $.p, unit: bar}
"""


def _fail(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ConfigError:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_sources(path, environ={"HYDRANT_PASSWORD": "pw"} if environ is None else environ)
    return caught.value


def test_a_good_file_reads_its_secret_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(GOOD)
    (config,) = load_sources(path, environ={"HYDRANT_PASSWORD": "s3cret"})
    assert config.id == "hydrants" and config.kind.name == "mqtt_json"
    options = config.options
    assert isinstance(options, JsonMapOptions) and options.password is not None
    assert options.password.reveal() == "s3cret"
    assert "s3cret" not in repr(options)


@pytest.mark.parametrize(("edit", "line", "words"), [
    (("kind: mqtt_json", "kind: mqtt_jsn"), 3, "unknown source kind 'mqtt_jsn'"),
    (("pressure_mpa:", "presure_mpa:"), 11, "'presure_mpa' is not a catalogue metric"),
    (("unit: bar", "unit: furlong"), 11, "no conversion from 'furlong' to MPa"),
    (("$.p", "\"$.p[?\""), 12, "not a JSONPath"),
    (("password: {env: HYDRANT_PASSWORD}", "password: hunter2"), 7,
     "a secret is not written in a config file"),
    (('topics: ["hydrant/+/data"]', 'topics: ["hydrant/#/data"]'), 8, "not an MQTT topic"),
    (("broker: mqtt://127.0.0.1:1883", "broker: mqtt://u:pw@127.0.0.1:1883"), 5,
     "no password in the broker URL"),
    (("      username: gongzhi\n", "      usename: gongzhi\n"), 6, "unknown key 'usename'"),
    (("(?P<id>[^/]+)", "[^/]+"), 9, "needs a group"),
])
def test_every_mistake_names_its_line(tmp_path: Path, edit: tuple[str, str], line: int,
                                      words: str) -> None:
    error = _fail(tmp_path, GOOD.replace(*edit, 1))
    assert error.source == f"{tmp_path / 'sources.yaml'}:{line}", str(error)
    assert words in str(error)


def test_a_missing_secret_and_a_duplicate_id_fail_loudly(tmp_path: Path) -> None:
    error = _fail(tmp_path, GOOD, environ={})
    assert error.source == f"{tmp_path / 'sources.yaml'}:7"
    assert "HYDRANT_PASSWORD is not set" in str(error)
    twice = GOOD + GOOD.split("\n", 1)[1]
    error = _fail(tmp_path, twice)
    assert error.source == f"{tmp_path / 'sources.yaml'}:13"
    assert "'hydrants' is used by sources[0] too" in str(error)


def test_the_gateway_refuses_to_start_on_a_bad_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = tmp_path / "sources.yaml"
    path.write_text(GOOD.replace("kind: mqtt_json", "kind: zigbee"))
    service = GatewayService(gateway_settings(data, "mqtt://127.0.0.1:1", "http://127.0.0.1:1",
                                              sources=path))
    with pytest.raises(ConfigError, match=r"sources.yaml:3: .*unknown source kind 'zigbee'"):
        service.start()
    assert not (data / "gateway").exists()  # nothing was opened


def test_a_partitioned_gateway_refuses_sources(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(GOOD)
    service = GatewayService(gateway_settings(tmp_path, "mqtt://127.0.0.1:1",
                                              "http://127.0.0.1:1", sources=path,
                                              gateway_partition="0/2"))
    with pytest.raises(ConfigError, match="owns every estate"):
        service.start()


def test_a_source_on_the_gateways_broker_needs_a_user_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(GOOD.replace("      broker: mqtt://127.0.0.1:1883\n", "")
                    .replace("      username: gongzhi\n", "")
                    .replace("      password: {env: HYDRANT_PASSWORD}\n", ""))
    service = GatewayService(gateway_settings(tmp_path, "mqtt://gateway:pw@127.0.0.1:1",
                                              "http://127.0.0.1:1", sources=path))
    with pytest.raises(ConfigError,
                       match=r"sources.yaml:2: source hydrants: .*an MQTT user of its own"):
        service.start()
