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
from gongzhi.gateway.partition import Partition
from gongzhi.gateway.workers import worker_specs

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


# --- profile "city" (docs/scaling.md) -----------------------------------------------------------

CITY = "city"


def city(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services(compose).items() if CITY in s.get("profiles", [])}


def with_prefix(compose: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in city(compose).items() if name.startswith(prefix)}


def test_the_street_deployment_is_unchanged_by_the_city_profile(compose: dict[str, Any]) -> None:
    street = {"mosquitto", "influxdb", "postgres", "platform", "gateway", "simulator"}
    for name in street:
        assert "profiles" not in services(compose)[name], name  # `docker compose up` as before
    entry = {"city-platform", "city-gateway-a", "city-gateway-b"}
    assert entry <= set(city(compose))
    # What the city's entry points depend on is in the profile too (or in no profile at all).
    for name in entry:
        for dependency in services(compose)[name].get("depends_on", {}):
            profiles = services(compose)[dependency].get("profiles")
            assert profiles is None or CITY in profiles, (name, dependency)


def test_city_commands_are_real_subcommands(compose: dict[str, Any]) -> None:
    parser = build_parser()
    for name, service in city(compose).items():
        if service.get("image") == "gongzhi:latest":
            assert callable(parser.parse_args(service["command"]).func), name


def test_the_broker_is_one_emqx_cluster_configured_like_the_street_broker(
        compose: dict[str, Any]) -> None:
    nodes = with_prefix(compose, "emqx-")
    assert len(nodes) >= 3
    names = set()
    for name, node in nodes.items():
        env = env_of(node)
        assert node["image"].startswith("emqx/emqx:5"), name
        assert env["EMQX_NODE__NAME"] == f"emqx@{node['hostname']}"
        names.add(env["EMQX_NODE__NAME"])
        seeds = set(env["EMQX_CLUSTER__STATIC__SEEDS"].strip("[]").split(","))
        assert env["EMQX_CLUSTER__DISCOVERY_STRATEGY"] == "static"
        # No message dropped for a gateway that is away or behind; the gateway's window.
        assert int(env["EMQX_MQTT__MAX_MQUEUE_LEN"]) >= 1_000_000
        assert env["EMQX_MQTT__MAX_INFLIGHT"] == "1000"
        assert env["EMQX_MQTT__RETAIN_AVAILABLE"] == "false"
        assert env["EMQX_MQTT__USE_USERNAME_AS_CLIENTID"] == "true"
        # A standby of a share takes the whole share or nothing: never a round robin split.
        assert env["EMQX_MQTT__SHARED_SUBSCRIPTION_STRATEGY"] == "sticky"
        assert env["EMQX_AUTHENTICATION__1__MECHANISM"] == "password_based"
        assert env["EMQX_AUTHORIZATION__NO_MATCH"] == "deny"
        assert env["EMQX_NODE__COOKIE"].startswith("${")
    assert seeds == names, "every node seeds the same cluster of all nodes"


def test_city_gateways_own_every_estate_exactly_once(compose: dict[str, Any]) -> None:
    gateways = with_prefix(compose, "city-gateway-")
    assert len(gateways) >= 2
    settings = {name: load_settings({k: substitute(v) for k, v in env_of(g).items()
                                     if k.startswith(PREFIX)}) for name, g in gateways.items()}
    shares = [Partition.parse(s.gateway_partition) for s in settings.values()]
    counts = {p.count for p in shares}
    assert len(counts) == 1 and sorted(p.index for p in shares) == list(range(counts.pop()))
    ids = [s.gateway_id for s in settings.values()]
    assert len(set(ids)) == len(ids), "each machine has its own gateway id"
    nodes = {n["hostname"] for n in with_prefix(compose, "emqx-").values()}
    users: list[str | None] = []
    for name, s in settings.items():
        assert s.gateway_subscribe == "owned", name  # the broker sends each its own estates
        workers = s.gateway_workers
        assert workers >= 2, name
        specs = worker_specs(s, workers, list(range(workers)))
        for spec in specs:
            assert spec.mqtt_url is not None
            target = load_settings({"GONGZHI_MQTT_URL": spec.mqtt_url}).mqtt
            assert target.host in nodes and target.password, (name, spec.index)
            users.append(target.username)
        assert urlsplit(s.influx_url or "").hostname == "vminsert"
        assert (s.influx_url or "").endswith("/insert/0/influx")
        assert urlsplit(s.platform_url).hostname == "city-platform"
    assert len(set(users)) == len(users), "every worker has an MQTT user of its own"
    # Every worker of every machine: together each estate exactly once.
    workers_shares = [spec.partition for s in settings.values()
                      for spec in worker_specs(s, s.gateway_workers, [0] * s.gateway_workers)]
    for n in range(300):
        assert sum(p.owns(f"estate-{n}") for p in workers_shares) == 1


def test_city_tickets_are_on_a_primary_with_a_streaming_standby(compose: dict[str, Any]) -> None:
    s = services(compose)
    primary, standby = env_of(s["postgres-primary"]), env_of(s["postgres-standby"])
    assert primary["POSTGRESQL_REPLICATION_MODE"] == "master"
    assert standby["POSTGRESQL_REPLICATION_MODE"] == "slave"
    assert standby["POSTGRESQL_MASTER_HOST"] == "postgres-primary"
    assert standby["POSTGRESQL_REPLICATION_USER"] == primary["POSTGRESQL_REPLICATION_USER"]
    url = substitute(env_of(s["city-platform"])["GONGZHI_DATABASE_URL"])
    hosts = url.split("@", 1)[1].split("/", 1)[0].split(",")
    assert [h.split(":")[0] for h in hosts] == ["postgres-primary", "postgres-standby"]
    assert "target_session_attrs=read-write" in url
    assert url.split("/")[-1].split("?")[0] == primary["POSTGRESQL_DATABASE"]


def test_city_telemetry_is_on_a_replicated_victoriametrics_cluster(
        compose: dict[str, Any]) -> None:
    storage = with_prefix(compose, "vmstorage-")
    assert len(storage) >= 2
    s = services(compose)
    insert = " ".join(s["vminsert"]["command"])
    select = " ".join(s["vmselect"]["command"])
    for name in storage:
        assert f"{name}:8400" in insert and f"{name}:8401" in select
    assert "-replicationFactor=2" in insert
