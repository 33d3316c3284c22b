"""docker-compose.yml cannot run here (no Docker engine): check that it is consistent with the
code instead: services, images, commands, ports and GONGZHI_* variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gongzhi.core.cli import build_parser
from gongzhi.core.settings import PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def substitute(value: str) -> str:
    """Resolve ${VAR}, ${VAR:-default} and ${VAR:?message} with a placeholder secret."""
    return re.sub(r"\$\{(\w+)(?::[-?][^}]*)?\}", lambda m: f"secret-{m.group(1).lower()}", value)


def test_expected_services_and_images(compose: dict[str, Any]) -> None:
    s = services(compose)
    assert {"mosquitto", "influxdb", "postgres", "platform", "gateway", "simulator"} <= set(s)
    assert s["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    assert s["influxdb"]["image"].startswith("influxdb:2")
    assert s["postgres"]["image"].startswith("postgres:")
    for name in ("platform", "gateway", "simulator", "registry-init"):
        assert s[name]["image"] == "gongzhi:latest"
    assert (ROOT / "Dockerfile").exists()


def test_commands_are_real_subcommands(compose: dict[str, Any]) -> None:
    parser = build_parser()
    for name in ("platform", "gateway", "simulator", "registry-init"):
        command = services(compose)[name]["command"]
        # argparse exits on unknown commands or options: that is the failure we look for.
        args = parser.parse_args(command)
        assert callable(args.func), name


def test_every_gongzhi_variable_is_a_setting(compose: dict[str, Any]) -> None:
    known = {PREFIX + f.upper() for f in Settings.model_fields}
    for name, service in services(compose).items():
        env = {k: substitute(v) for k, v in env_of(service).items()}
        gz = {k: v for k, v in env.items() if k.startswith(PREFIX)}
        assert set(gz) <= known, (name, set(gz) - known)
        if gz:
            load_settings(gz)  # every value parses


def test_addresses_point_at_the_right_services(compose: dict[str, Any]) -> None:
    s = services(compose)
    platform_env = env_of(s["platform"])
    port = platform_env["GONGZHI_HTTP_PORT"]
    assert platform_env["GONGZHI_HTTP_HOST"] == "0.0.0.0"
    assert f"{port}:{port}" in s["platform"]["ports"]

    gateway_env = {k: substitute(v) for k, v in env_of(s["gateway"]).items()}
    platform_url = urlsplit(gateway_env["GONGZHI_PLATFORM_URL"])
    assert (platform_url.hostname, str(platform_url.port)) == ("platform", port)

    broker_conf = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    listener = re.search(r"^listener (\d+)", broker_conf, re.M)
    assert listener is not None
    for name in ("gateway", "simulator"):
        mqtt = load_settings({"GONGZHI_MQTT_URL": substitute(
            env_of(s[name])["GONGZHI_MQTT_URL"])}).mqtt
        assert mqtt.host == "mosquitto" and str(mqtt.port) == listener.group(1), name
        assert mqtt.username == name and mqtt.password, "every client has its own MQTT user"
    assert "allow_anonymous false" in broker_conf

    influx_env = env_of(s["influxdb"])
    assert urlsplit(gateway_env["GONGZHI_INFLUX_URL"]).hostname == "influxdb"
    assert gateway_env["GONGZHI_INFLUX_ORG"] == influx_env["DOCKER_INFLUXDB_INIT_ORG"]
    assert gateway_env["GONGZHI_INFLUX_BUCKET"] == influx_env["DOCKER_INFLUXDB_INIT_BUCKET"]

    pg_env = env_of(s["postgres"])
    db = urlsplit(substitute(platform_env["GONGZHI_DATABASE_URL"]))
    assert db.hostname == "postgres"
    assert db.username == pg_env["POSTGRES_USER"]
    assert db.path.lstrip("/") == pg_env["POSTGRES_DB"]

    # The registry the platform and the gateway read is the one registry-init writes.
    out = s["registry-init"]["command"][s["registry-init"]["command"].index("--out") + 1]
    assert platform_env["GONGZHI_REGISTRY"] == out == env_of(s["gateway"])["GONGZHI_REGISTRY"]


def test_secrets_are_not_in_the_file(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for service in services(compose).values():
        for key, value in env_of(service).items():
            if key.endswith(("PASSWORD", "_TOKEN")):
                assert value.startswith("${"), f"{key} must come from .env"
    assert "change-me" not in text
