"""Settings from ``GONGZHI_*`` environment variables, built by ``load_settings`` (never at import).

Every variable has a working default for the demo. An unknown ``GONGZHI_*`` variable is an error,
so a typo does not silently fall back to a default.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from gongzhi.core.config_kit import ID_PATTERN, ID_RULE
from gongzhi.core.errors import ConfigError

PREFIX = "GONGZHI_"


class MqttTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False


def parse_mqtt_url(url: str) -> MqttTarget:
    """``mqtt://user:pass@host:port`` (``mqtts://`` for TLS) into its parts."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ConfigError(f"GONGZHI_MQTT_URL must start with mqtt:// or mqtts://, got {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    if not parts.hostname:
        raise ConfigError(f"GONGZHI_MQTT_URL has no host: {url!r}")
    return MqttTarget(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[IpNetwork, ...]:
    """``"10.0.0.5, 10.1.0.0/16, ::1"`` into networks (an address is a network of one).
    Raises ``ValueError`` naming the entry that is neither; "*" is refused: trusting every
    peer's forwarded address would let any client choose the address it is limited by."""
    found: list[IpNetwork] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.5 or "
                             "10.0.0.0/24)") from None
    return tuple(found)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Path(".gongzhi")
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_tls_cert: Path | None = None  # both set: the platform serves HTTPS
    http_tls_key: Path | None = None
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto the platform believes:
    # comma-separated addresses or networks; empty: none, the peer is the client.
    trusted_proxies: str = ""
    database_url: str | None = None  # None: SQLite file in data_dir
    influx_url: str | None = None  # None: the embedded telemetry store
    influx_token: str | None = None
    influx_org: str = "gongzhi"
    influx_bucket: str = "telemetry"
    influx_spool_max_bytes: int = 1 << 30  # disk bound of the InfluxDB spool (telemetry only)
    registry: Path | None = None  # None: data_dir/registry.csv
    tokens_file: Path | None = None  # None: data_dir/tokens.json
    duty_matrix: Path | None = None  # None: the shipped default matrix
    # Who is told by name: people, duty rosters, re-notification, signed links (YAML).
    # None: no rosters (tickets reach parties on the pages and webhooks only).
    rosters: Path | None = None
    # The notification channels (WeCom, DingTalk, Feishu, SMS, e-mail, webhooks) and which one
    # each party's people are reached on (YAML); None: nobody is sent a message.
    notify: Path | None = None
    platform_url: str = "http://127.0.0.1:8000"
    gateway_token: str | None = None  # None: the "gateway" entry of the tokens file
    gateway_partition: str | None = None  # e.g. "0/2": this replica's share of estates
    gateway_group: str | None = None  # MQTT 5 shared-subscription group name
    gateway_id: str | None = None  # None: "gateway", or "gateway-p<INDEX>" when partitioned
    gateway_http_port: int = 8001  # the gateway's /metrics, /healthz, /dead-letters (0: any)
    gateway_workers: int = 1  # gateway processes on this machine (0: one per CPU core)
    # "all": subscribe to estate/+/+/+ (a partitioned replica skips others' messages);
    # "owned": only to the estates of this replica's share in the registry.
    gateway_subscribe: Literal["all", "owned"] = "all"
    # One MQTT URL per worker, separated by spaces, where the broker makes the MQTT user the
    # client id (each worker needs a user of its own); None: every worker uses mqtt_url.
    gateway_worker_mqtt_urls: str | None = None
    # A YAML file of outside sources (LoRaWAN, carrier platforms, Modbus, mapped JSON) that feed
    # the gateway's pipeline beside its own MQTT contract; None: none (docs/devices.md).
    sources: Path | None = None
    log_level: str = "INFO"

    @field_validator("http_port")
    @classmethod
    def _port_range(cls, value: int) -> int:
        if not 0 < value < 65536:
            raise ValueError("must be a TCP port, 1-65535")
        return value

    @field_validator("influx_spool_max_bytes")
    @classmethod
    def _spool_bound(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be a positive number of bytes")
        return value

    @field_validator("gateway_http_port")
    @classmethod
    def _gateway_port_range(cls, value: int) -> int:
        if not 0 <= value < 65536:
            raise ValueError("must be a TCP port, 1-65535 (0: any free port)")
        return value

    @field_validator("gateway_workers")
    @classmethod
    def _gateway_workers(cls, value: int) -> int:
        if not 0 <= value <= 64:
            raise ValueError("must be 1 to 64 worker processes (0: one per CPU core)")
        return value

    @field_validator("gateway_id")
    @classmethod
    def _gateway_id(cls, value: str | None) -> str | None:
        if value is not None and not ID_PATTERN.fullmatch(value):
            raise ValueError(f"must be {ID_RULE}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        return ",".join(str(n) for n in parse_networks(value))

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        parse_mqtt_url(value)
        return value

    @property
    def mqtt(self) -> MqttTarget:
        return parse_mqtt_url(self.mqtt_url)

    @property
    def trusted_proxy_networks(self) -> tuple[IpNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'platform.db').resolve()}"

    @property
    def registry_path(self) -> Path:
        return self.registry or self.data_dir / "registry.csv"

    @property
    def tokens_path(self) -> Path:
        return self.tokens_file or self.data_dir / "tokens.json"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from ``environ`` (default: the process environment) and explicit overrides
    (command-line options win over variables). Raises ``ConfigError`` with a readable message."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    known = set(Settings.model_fields)
    for key, raw in env.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX) :].lower()
        if name not in known:
            raise ConfigError(
                f"unknown variable {key}; known: "
                + ", ".join(sorted(PREFIX + k.upper() for k in known))
            )
        if raw != "":
            values[name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            lines.append(f"{PREFIX}{field.upper()}: {err['msg']}")
        raise ConfigError("; ".join(lines)) from None
