"""Mosquitto 2.0 password file entries, written and checked without the ``mosquitto_passwd`` tool.

A line is ``<username>:$7$<iterations>$<base64 salt>$<base64 hash>`` where the hash is
PBKDF2-HMAC-SHA512 of the password over the salt (64 bytes). ``mosquitto_passwd`` uses a 12-byte
salt and 101 iterations; the broker reads the iteration count from each line, so a line written
here is checked by the broker exactly as one written by the tool.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping

from gongzhi.core.errors import ConfigError

SALT_BYTES = 12
DEFAULT_ITERATIONS = 101  # mosquitto_passwd's default: the broker hashes on every CONNECT
HASH_NAME = "sha512"
PREFIX = "$7$"


def hash_password(password: str, salt: bytes, iterations: int = DEFAULT_ITERATIONS) -> str:
    """The ``$7$...`` form of ``password`` (the part after ``username:``)."""
    if iterations < 1:
        raise ValueError("iterations must be positive")
    if not salt:
        raise ValueError("salt must not be empty")
    digest = hashlib.pbkdf2_hmac(HASH_NAME, password.encode("utf-8"), salt, iterations)
    return (f"{PREFIX}{iterations}${base64.b64encode(salt).decode('ascii')}"
            f"${base64.b64encode(digest).decode('ascii')}")


def verify_password(encoded: str, password: str) -> bool:
    """True when ``encoded`` (a ``$7$`` entry) was made from ``password``. Any other form,
    including a malformed entry, is False: the caller then writes a fresh hash."""
    if not encoded.startswith(PREFIX):
        return False
    parts = encoded[len(PREFIX):].split("$")
    if len(parts) != 3 or not parts[0].isdigit():
        return False
    try:
        salt = base64.b64decode(parts[1], validate=True)
        expected = base64.b64decode(parts[2], validate=True)
    except (binascii.Error, ValueError):
        return False
    iterations = int(parts[0])
    if iterations < 1 or not salt:
        return False
    digest = hashlib.pbkdf2_hmac(HASH_NAME, password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(digest, expected)


def parse_password_file(text: str, source: str = "<passwd>") -> dict[str, str]:
    """``{username: encoded}`` from a password file; blank lines and ``#`` comments skipped."""
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        username, sep, encoded = line.partition(":")
        if not sep or not username:
            raise ConfigError("expected <username>:<hash>", source=f"{source}:{number}")
        entries[username] = encoded
    return entries


def format_password_file(entries: Iterable[tuple[str, str]] | Mapping[str, str]) -> str:
    pairs = entries.items() if isinstance(entries, Mapping) else entries
    return "".join(f"{username}:{encoded}\n" for username, encoded in pairs)
