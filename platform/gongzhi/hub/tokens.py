"""Bearer tokens: a JSON file ``{"<party_id>": "<token>", ..., "gateway": "<token>"}``, or its
hashed form ``{"<party_id>": "sha256:<hex>", ...}`` (``gongzhi tokens hash``) so that a server
need not keep the tokens themselves. The two forms may be mixed entry by entry.

Each token names one principal: a party of the 1+6 model or the gateway. Only SHA-256 digests are
kept in memory; a presented token is hashed and compared with every known digest in constant time
(no early exit), so response timing does not leak how much of a guess was right. A digest is no
credential: the server hashes whatever it is given. Tokens are long random strings (new ones
carry 192 bits), so a fast hash is enough: a password hash would only slow every request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from gongzhi.core.errors import ConfigError
from gongzhi.core.files import write_atomically
from gongzhi.hub.parties import GATEWAY, PARTY_IDS, Party

MIN_TOKEN_LENGTH = 16
HASH_PREFIX = "sha256:"
_HASHED = re.compile(r"sha256:([0-9a-f]{64})")


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def hashed_form(token: str) -> str:
    """The value a hashed tokens file holds for ``token``."""
    return HASH_PREFIX + token_digest(token).hex()


@dataclass(frozen=True, slots=True)
class TokenBook:
    """Principal id by token digest."""

    entries: tuple[tuple[str, bytes], ...]  # (principal, SHA-256 digest of its token)

    def principal(self, token: str) -> str | None:
        presented = token_digest(token)
        found: str | None = None
        for principal, digest in self.entries:
            if hmac.compare_digest(digest, presented):
                found = principal
        return found


def parse_token_digests(text: str, source: str) -> dict[str, bytes]:
    """The file's entries as digests, checked: known principals, each value a long enough token
    or a ``sha256:`` digest, no token shared by two principals. Messages never quote a value."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc.msg}", source=f"{source}:{exc.lineno}") from None
    if not isinstance(data, dict):
        raise ConfigError('must be a JSON object {"<party_id>": "<token>"}', source=source)
    digests: dict[str, bytes] = {}
    for principal, value in data.items():
        if principal not in PARTY_IDS and principal != GATEWAY:
            raise ConfigError(
                f"unknown party {principal!r}; known: {', '.join(sorted(PARTY_IDS))}, {GATEWAY}",
                source=source)
        digest = _digest_of_value(principal, value, source)
        if digest in digests.values():
            raise ConfigError(f"token of {principal!r} is also another principal's token",
                              source=source)
        digests[principal] = digest
    return digests


def _digest_of_value(principal: str, value: object, source: str) -> bytes:
    if isinstance(value, str) and value.startswith(HASH_PREFIX):
        match = _HASHED.fullmatch(value)
        if match is None:
            raise ConfigError(f"hashed token of {principal!r} must be 'sha256:' and 64 "
                              "lowercase hex digits", source=source)
        return bytes.fromhex(match.group(1))
    if not isinstance(value, str) or len(value) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"token of {principal!r} must be a string of at least "
                          f"{MIN_TOKEN_LENGTH} characters", source=source)
    return token_digest(value)


def parse_tokens(text: str, source: str, extra_gateway_token: str | None = None) -> TokenBook:
    entries = list(parse_token_digests(text, source).items())
    if extra_gateway_token:
        extra = token_digest(extra_gateway_token)
        if all(digest != extra for _, digest in entries):
            entries.append((GATEWAY, extra))
    return TokenBook(tuple(entries))


def read_tokens_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("tokens file not found; create one with `gongzhi tokens init`",
                          source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read tokens file: {exc.strerror}", source=str(path)) from None


def load_tokens(path: Path, extra_gateway_token: str | None = None) -> TokenBook:
    return parse_tokens(read_tokens_text(path), str(path), extra_gateway_token)


def hash_token_file(source: Path) -> dict[str, str]:
    """The hashed form of a tokens file (entries already hashed stay as they are)."""
    digests = parse_token_digests(read_tokens_text(source), str(source))
    return {principal: HASH_PREFIX + digest.hex() for principal, digest in digests.items()}


def new_tokens(token_bytes: int = 24) -> dict[str, str]:
    """Fresh random tokens for the six parties and the gateway."""
    return {principal: secrets.token_urlsafe(token_bytes)
            for principal in [*(p.value for p in Party), GATEWAY]}


def write_tokens(path: Path, tokens: dict[str, str], *, force: bool = False) -> None:
    """Write with mode 0600 from the first byte (the file holds secrets), whole or not at all:
    a reader never sees a half-written file; without ``force`` an existing file stays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomically(path, json.dumps(tokens, indent=2) + "\n", 0o600, replace=force)
    except FileExistsError:
        raise ConfigError("tokens file exists; pass --force to replace it",
                          source=str(path)) from None
