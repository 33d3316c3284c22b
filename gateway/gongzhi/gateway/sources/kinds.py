"""The kinds of source, by the name the sources file gives them.

A kind lives in a module of this package that defines ``KIND: SourceKind``; the table names the
module, imported only when a sources file uses the kind (no import cost, nor side effect, for a
gateway without sources). A new kind is a module plus one line here.
"""

from __future__ import annotations

from typing import Any

from gongzhi.core.errors import ConfigError
from gongzhi.core.plugins import import_named
from gongzhi.gateway.sources.base import SourceKind

KIND_MODULES: dict[str, str] = {
    "chirpstack": "gongzhi.gateway.sources.chirpstack",  # LoRaWAN: ChirpStack v3/v4 over MQTT
    "mqtt_json": "gongzhi.gateway.sources.jsonmap",  # any JSON over MQTT, mapped by JSONPath
    "ctwing": "gongzhi.gateway.sources.ctwing",  # China Telecom CTWing HTTP push
    "onenet": "gongzhi.gateway.sources.onenet",  # China Mobile OneNET HTTP push
    "modbus": "gongzhi.gateway.sources.modbus",  # Modbus TCP / RTU polling
}


def kind_names() -> list[str]:
    return sorted(KIND_MODULES)


def load_kind(name: str) -> SourceKind[Any]:
    """The kind named ``name`` (``ConfigError`` when there is none, or it is not installed)."""
    module_name = KIND_MODULES.get(name)
    if module_name is None:
        raise ConfigError(f"unknown source kind {name!r} (expected one of "
                          f"{', '.join(kind_names())})")
    module = import_named(module_name, f"source kind {name!r}")
    kind = getattr(module, "KIND", None)
    if not isinstance(kind, SourceKind) or kind.name != name:
        raise ConfigError(f"{module_name} does not define the source kind {name!r}")
    return kind
