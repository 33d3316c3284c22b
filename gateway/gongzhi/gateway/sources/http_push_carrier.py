"""What every carrier's push source shares: its options, its carrier (how the platform verifies
the URL, which pushes it admits, what their messages say) and the refusal a push can get.
Pure: read by the front end's process and by the pipeline's side alike (``http_push``).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, Field, field_validator

from gongzhi.core.config_kit import STRICT_CONFIG, Duration
from gongzhi.core.errors import ConfigError
from gongzhi.gateway.sources.http_push_server import Answer
from gongzhi.gateway.sources.http_push_uplink import Uplink
from gongzhi.gateway.sources.mapping import FieldMapping

DEFAULT_MAX_BODY = 256 * 1024


def _listen(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"0.0.0.0:{value}"
    return value


class PushOptions(BaseModel):
    """Options every push source has (the kind adds its token and the like)."""

    model_config = STRICT_CONFIG

    listen: str = "0.0.0.0:8090"  # host:port (a port alone: every interface); port 0: any
    path: str = "/"
    tls_cert: Path | None = None  # both: HTTPS (relative to the sources file)
    tls_key: Path | None = None
    max_body: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = DEFAULT_MAX_BODY
    keep_keys_for: Duration = 86_400.0  # a retry within this is recognised as one
    mapping: FieldMapping  # the products' fields to catalogue metrics and events

    @field_validator("listen", mode="before")
    @classmethod
    def _listen_form(cls, value: Any) -> Any:
        value = _listen(value)
        if isinstance(value, str):
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 <= int(port) < 65536:
                raise ValueError(f"listen must be host:port (e.g. 0.0.0.0:8090), got {value!r}")
        return value

    @field_validator("path")
    @classmethod
    def _path_form(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"path must start with '/', got {value!r}")
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class Refused(Exception):
    """A push not admitted: the HTTP status and the reason (a dead-letter reason for 400)."""

    status: int
    reason: str
    detail: str


class Carrier(Protocol):
    """A platform's side of the push: verification, admission, decoding (pure but for the
    state a decoder keeps)."""

    name: str

    def verify_url(self, query: Mapping[str, str]) -> Answer | None:
        """The answer to the platform's GET (URL verification); None: not a verification."""
        ...

    def authorize(self, query: Mapping[str, str], headers: Mapping[str, str]) -> None:
        """Raises ``Refused`` (401) when the request's credential is wrong."""
        ...

    def admit(self, body: bytes) -> list[tuple[str, bytes]]:
        """The push's messages as ``(key, payload)`` to spool (a body's own signature is
        checked here); raises ``Refused``."""
        ...

    def uplinks(self, payload: bytes) -> list[Uplink]:
        """A spooled message's uplinks (worker thread); raises ``RejectedMessage``."""
        ...


REFUSED_TOPIC = "refused"  # a spooled body answered 400: translated to its dead letter


def tls_context(options: PushOptions, base: Path) -> ssl.SSLContext | None:
    """The server's TLS context, checked at start (``ConfigError`` when unusable)."""
    cert, key = options.tls_cert, options.tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError("tls_cert and tls_key go together (set neither for plain HTTP)")
    cert, key = base / cert, base / key
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"HTTPS certificate and key unusable ({exc})", source=f"{cert}, {key}"
        ) from None
    return context
