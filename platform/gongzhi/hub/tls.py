"""The platform's HTTPS files: both of GONGZHI_HTTP_TLS_CERT and GONGZHI_HTTP_TLS_KEY, or neither
(plain HTTP). Checked before serving, so a wrong path or a key that does not match its
certificate is a configuration error with exit code 2, not a traceback from the server."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from gongzhi.core.errors import ConfigError
from gongzhi.core.settings import Settings


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: Path
    key: Path


def _no_password() -> bytes:
    raise ConfigError("the HTTPS private key is encrypted; give the platform an unencrypted key "
                      "readable only by its user")


def server_tls(settings: Settings) -> TlsFiles | None:
    cert, key = settings.http_tls_cert, settings.http_tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        missing = "GONGZHI_HTTP_TLS_CERT" if cert is None else "GONGZHI_HTTP_TLS_KEY"
        raise ConfigError(f"{missing} is not set: HTTPS needs both GONGZHI_HTTP_TLS_CERT and "
                          "GONGZHI_HTTP_TLS_KEY (set neither for plain HTTP)")
    for path, what in ((cert, "certificate"), (key, "private key")):
        if not path.is_file():
            raise ConfigError(f"HTTPS {what} not found", source=str(path))
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            cert, key, password=_no_password)
    except ssl.SSLError as exc:
        raise ConfigError(f"HTTPS certificate and key unusable together ({exc.reason})",
                          source=f"{cert}, {key}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the HTTPS certificate or key: {exc.strerror}",
                          source=f"{cert}, {key}") from None
    return TlsFiles(cert, key)
