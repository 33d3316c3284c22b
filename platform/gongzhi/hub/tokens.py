"""Bearer tokens: a JSON file ``{"<party_id>": "<token>", ..., "gateway": "<token>"}``.

Each token names one principal: a party of the 1+6 model or the gateway. Lookup compares every
known token in constant time so response timing does not leak how much of a guess was right.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from gongzhi.core.errors import ConfigError
from gongzhi.hub.parties import GATEWAY, PARTY_IDS, Party

MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True, slots=True)
class TokenBook:
    """Principal id by token."""

    entries: tuple[tuple[str, str], ...]  # (principal, token)

    def principal(self, token: str) -> str | None:
        found: str | None = None
        for principal, known in self.entries:
            if hmac.compare_digest(known.encode(), token.encode()):
                found = principal
        return found

    def token_of(self, principal: str) -> str | None:
        return next((t for p, t in self.entries if p == principal), None)


def parse_tokens(text: str, source: str, extra_gateway_token: str | None = None) -> TokenBook:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc.msg}", source=f"{source}:{exc.lineno}") from None
    if not isinstance(data, dict):
        raise ConfigError('must be a JSON object {"<party_id>": "<token>"}', source=source)
    entries: list[tuple[str, str]] = []
    seen: set[str] = set()
    for principal, token in data.items():
        if principal not in PARTY_IDS and principal != GATEWAY:
            raise ConfigError(
                f"unknown party {principal!r}; known: {', '.join(sorted(PARTY_IDS))}, {GATEWAY}",
                source=source)
        if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"token of {principal!r} must be a string of at least "
                              f"{MIN_TOKEN_LENGTH} characters", source=source)
        if token in seen:
            raise ConfigError(f"token of {principal!r} is also another principal's token",
                              source=source)
        seen.add(token)
        entries.append((principal, token))
    if extra_gateway_token and extra_gateway_token not in seen:
        entries.append((GATEWAY, extra_gateway_token))
    return TokenBook(tuple(entries))


def load_tokens(path: Path, extra_gateway_token: str | None = None) -> TokenBook:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("tokens file not found; create one with `gongzhi tokens init`",
                          source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read tokens file: {exc.strerror}", source=str(path)) from None
    return parse_tokens(text, str(path), extra_gateway_token)


def new_tokens(token_bytes: int = 24) -> dict[str, str]:
    """Fresh random tokens for the six parties and the gateway."""
    return {principal: secrets.token_urlsafe(token_bytes)
            for principal in [*(p.value for p in Party), GATEWAY]}


def write_tokens(path: Path, tokens: dict[str, str], *, force: bool = False) -> None:
    """Write with mode 0600 from the first byte (the file holds secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigError("tokens file exists; pass --force to replace it",
                          source=str(path)) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(tokens, handle, indent=2)
        handle.write("\n")
    os.chmod(path, 0o600)
