"""HTTP to the platform: ``POST`` JSON with the gateway's bearer token.

The token is ``Settings.gateway_token`` or, when unset, the ``gateway`` entry of the tokens file,
re-read whenever the file changes (the platform may write it after the gateway started).

The client remembers whether the platform takes the gateway's credential (``auth_refused``: the
last answer that told was 401 or 403) and logs each change of that once, as an ERROR when the
platform starts refusing: alarms then wait in the outbox and only loud signs can say so.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx
import orjson

log = logging.getLogger(__name__)


class PlatformUnreachable(Exception):
    """No HTTP answer (connection refused, timeout, reset)."""


HASHED_PREFIX = "sha256:"


class TokenSource:
    def __init__(self, token: str | None, tokens_path: Path) -> None:
        self._fixed = token
        self._path = tokens_path
        self._mtime: float | None = None
        self._cached: str | None = None

    def missing_reason(self) -> str | None:
        """Why no credential is configured at all (with the fix), or None when there is one."""
        if self.token():
            return None
        return (f"the gateway has no credential for the platform: set GONGZHI_GATEWAY_TOKEN, or "
                f"give {self._path} a \"gateway\" entry (gongzhi tokens init writes one); "
                f"without it every alarm is refused and waits in the outbox")

    def token(self) -> str | None:
        if self._fixed:
            return self._fixed
        try:
            mtime = self._path.stat().st_mtime
        except OSError:
            return self._cached
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                entry = orjson.loads(self._path.read_bytes()).get("gateway")
                self._cached = entry if isinstance(entry, str) else None
                if self._cached is not None and self._cached.startswith(HASHED_PREFIX):
                    # A hashed tokens file (the platform's) holds no usable credential.
                    log.warning("%s holds only a hash of the gateway token: set "
                                "GONGZHI_GATEWAY_TOKEN", self._path)
                    self._cached = None
            except (OSError, orjson.JSONDecodeError, AttributeError):
                log.warning("cannot read the gateway token from %s", self._path)
        return self._cached


class PlatformClient:
    def __init__(self, base_url: str, tokens: TokenSource, *, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._timeout_s = timeout_s
        self._http: httpx.Client | None = None
        self._auth_lock = threading.Lock()
        self.auth_refused = False

    def open(self) -> None:
        """Build the HTTP client now: loading the CA bundle for TLS takes a noticeable moment of
        CPU, better spent at start than in the middle of the stream. A plain http:// platform
        needs no TLS context at all."""
        if self._http is None:
            tls = self.base_url.startswith("https://")
            self._http = httpx.Client(timeout=self._timeout_s, verify=tls)

    def post(self, path: str, body: bytes, *, whole: bool = False) -> tuple[int, str]:
        """The status code and (a short piece of, or with ``whole`` all of) the answer;
        ``PlatformUnreachable`` when none."""
        self.open()
        assert self._http is not None
        headers = {"Content-Type": "application/json"}
        token = self._tokens.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            answer = self._http.post(self.base_url + path, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise PlatformUnreachable(f"{type(exc).__name__}: {exc}") from exc
        self._note_auth(answer.status_code, path, token is not None)
        return answer.status_code, answer.text if whole else answer.text[:300]

    def _note_auth(self, status: int, path: str, had_token: bool) -> None:
        if status in (401, 403):
            refused = True
        elif 200 <= status < 300:
            refused = False
        else:
            return  # 429 and the like say nothing new about the credential
        with self._auth_lock:
            if refused == self.auth_refused:
                return
            self.auth_refused = refused
        if refused:
            log.error("the platform refuses the gateway's credential (HTTP %d on %s%s): alarms "
                      "wait in the outbox until GONGZHI_GATEWAY_TOKEN or the tokens file's "
                      "\"gateway\" entry matches the platform's", status, path,
                      "" if had_token else "; no token is configured")
        else:
            log.warning("the platform accepts the gateway's credential again")

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
