"""The routes of ``gongzhi demo --mixed``: the gateway's sources file for the simulated estate's
buildings, and the simulator's and registry's arguments that match it.

The buildings come in by turns on our MQTT contract, LoRaWAN through ChirpStack 4 and 3 (on the
demo's broker), NB-IoT through CTWing's and OneNET's HTTP pushes (to the gateway's push ports)
and Modbus (the simulator's pymodbus server, polled by the gateway). The sources are the shipped
ones for simulated devices (``deploy/sources/chirpstack-simulated.yaml`` and
``carriers-simulated.yaml``: profiles, product fields, register map) on this run's free ports
of loopback; the push tokens live in files beside the sources file (``ctwing.token``,
``onenet.token``, created once, readable by the owner only), which names them as
``{file: ...}``: no secret is written in the YAML. The Modbus lines and their units are read
from the registry the simulator wrote (each monitor's ``modbus:<host>:<port>/<unit>``).
"""

from __future__ import annotations

import copy
import csv
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gongzhi.core.broker import REPO_ROOT, free_port
from gongzhi.core.errors import ConfigError
from gongzhi.core.files import write_atomically

SHIPPED = REPO_ROOT / "deploy" / "sources"
LORAWAN_SOURCES = SHIPPED / "chirpstack-simulated.yaml"
CARRIER_SOURCES = SHIPPED / "carriers-simulated.yaml"
MODBUS_MAP = (REPO_ROOT / "gateway" / "gongzhi" / "gateway" / "sources" / "maps" /
              "residual_current_monitor.example.yaml")
HOST = "127.0.0.1"
PUSH = ("ctwing", "onenet")
# The monitors' server starts with the simulator, after the gateway; its units answer once the
# simulation gave them a first reading. Retries ride over that (about 25 s, 5 s at the least)
# so that no monitor starts the demo reported offline.
MODBUS_OPTIONS: dict[str, Any] = {"period": "5s", "timeout": "1s", "retries": 10,
                                  "backoff": "1s"}


@dataclass(frozen=True)
class MixedRoutes:
    directory: Path  # the sources file and its token files
    ports: dict[str, int]  # ctwing, onenet (the push ports), modbus (the monitors' server)

    @classmethod
    def on_free_ports(cls, directory: Path) -> MixedRoutes:
        return cls(directory, {name: free_port() for name in (*PUSH, "modbus")})

    @property
    def sources_file(self) -> Path:
        return self.directory / "sources.yaml"

    def token_file(self, name: str) -> Path:
        return self.directory / f"{name}.token"

    def push_url(self, name: str) -> str:
        return f"http://{HOST}:{self.ports[name]}/{name}"

    @property
    def modbus_listen(self) -> str:
        return f"{HOST}:{self.ports['modbus']}"

    def registry_args(self) -> list[str]:
        return ["--protocol", "mixed", "--modbus-listen", self.modbus_listen]

    def simulator_args(self) -> list[str]:
        args = self.registry_args()
        for name in PUSH:
            args += ["--push-url", f"{name}={self.push_url(name)}",
                     "--push-token-file", f"{name}={self.token_file(name)}"]
        return args

    def write_tokens(self) -> None:
        """Each push route's token in its file, created once (owner only)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in PUSH:
            path = self.token_file(name)
            if path.exists() and path.read_text(encoding="utf-8").strip():
                continue
            write_atomically(path, secrets.token_urlsafe(24) + "\n", 0o600)

    def write_sources(self, registry: Path) -> Path:
        """The gateway's sources file for these routes and the registry's Modbus monitors."""
        self.write_tokens()
        lorawan = _shipped(LORAWAN_SOURCES)
        carriers = _shipped(CARRIER_SOURCES)
        sources = [lorawan["lorawan"]]
        for source_id, name in (("telecom", "ctwing"), ("mobile", "onenet")):
            source = carriers[source_id]
            source["options"].update({"listen": f"{HOST}:{self.ports[name]}",
                                      "path": f"/{name}",
                                      "token": {"file": self.token_file(name).name}})
            sources.append(source)
        template = carriers["riser-monitors"]
        for index, ((host, port), units) in enumerate(sorted(modbus_lines(registry).items())):
            source = copy.deepcopy(template)
            source["id"] = "monitors" if index == 0 else f"monitors-{port}"
            source["options"].update({
                **MODBUS_OPTIONS, "host": host, "port": port, "maps": {"rcm": str(MODBUS_MAP)},
                "slaves": [{"unit": unit, "map": "rcm"} for unit in sorted(units)]})
            sources.append(source)
        self.directory.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump({"sources": sources}, sort_keys=False, width=100)
        # Whole or not at all: the gateway, and whoever watches for the file, may read it the
        # moment it appears.
        write_atomically(self.sources_file,
                         "# Written by `gongzhi demo --mixed` for this run's ports, from the "
                         "shipped sources for simulated\n# devices (deploy/sources/). The push "
                         "tokens are in the files beside this one.\n" + text, 0o644)
        return self.sources_file


def _shipped(path: Path) -> dict[str, dict[str, Any]]:
    """A shipped sources file's sources by id (a copy of each: aliases resolved)."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {s["id"]: copy.deepcopy(s) for s in loaded["sources"]}


def modbus_lines(registry: Path) -> dict[tuple[str, int], set[int]]:
    """The registry's Modbus TCP monitors: (host, port) -> units."""
    lines: dict[tuple[str, int], set[int]] = {}
    with registry.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            external = (row.get("external_id") or "").strip()
            if not external.startswith("modbus:"):
                continue
            address, _, unit = external[len("modbus:"):].rpartition("/")
            host, _, port = address.rpartition(":")
            if not (host and port.isdigit() and unit.isdigit()):
                raise ConfigError(f"{external!r} is not modbus:<host>:<port>/<unit>",
                                  source=str(registry))
            lines.setdefault((host, int(port)), set()).add(int(unit))
    return lines
