"""Signed links to one ticket, for a person told of it on their phone.

A link names a ticket, the party and the person it was sent to, when it expires and a random
nonce, signed with HMAC-SHA256 under the server's secret::

    https://platform/m/1234#v1.1234.property_office.wang.1767312000000.Zm9vYmFy.<signature>

The token is in the fragment, which browsers never send to a server (so no access log keeps it);
the mobile page hands it to the API in a header. A link is good for its one ticket until it
expires and may be used again until then (to look, and to act step by step: acknowledge, then on
site, then resolve); every action is recorded with the person. Forged, expired and other-ticket
links are refused with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from gongzhi.core.config_kit import ID_PATTERN
from gongzhi.core.errors import ConfigError

VERSION = "v1"
DEFAULT_TTL_MS = 24 * 3_600_000
SECRET_BYTES = 32
NONCE_BYTES = 9


class LinkRefusal(StrEnum):
    MALFORMED = "malformed"  # not a link token at all
    FORGED = "forged"  # the signature does not match
    EXPIRED = "expired"
    OTHER_TICKET = "other_ticket"  # a good link, for another ticket
    UNKNOWN_PERSON = "unknown_person"  # signed for someone no longer on the party's roster


class LinkRefused(Exception):
    """A link that does not open the ticket (HTTP 403 with ``reason``)."""

    def __init__(self, reason: LinkRefusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Recipient:
    party: str
    person: str


@dataclass(frozen=True, slots=True)
class LinkGrant:
    """What a valid link allows: its ticket, as the person of the party, until ``expires_at``."""

    ticket_id: int
    recipient: Recipient
    expires_at: int
    nonce: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class LinkSigner:
    """Makes and checks links. ``nonce`` gives random bytes (tests inject a seeded source)."""

    def __init__(self, secret: bytes, base_url: str, *, ttl_ms: int = DEFAULT_TTL_MS,
                 nonce: Callable[[int], bytes] = secrets.token_bytes) -> None:
        if len(secret) < 16:
            raise ConfigError("the link secret must be at least 16 bytes")
        if ttl_ms <= 0:
            raise ConfigError("the link lifetime must be positive")
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.ttl_ms = ttl_ms
        self._nonce = nonce

    def __repr__(self) -> str:
        return f"LinkSigner({self.base_url!r}, ttl_ms={self.ttl_ms}, secret='****')"

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest())

    def token_for(self, ticket_id: int, recipient: Recipient, now: int) -> str:
        for value in (recipient.party, recipient.person):
            if not ID_PATTERN.fullmatch(value):
                raise ValueError(f"{value!r} cannot be named in a link")
        payload = ".".join((VERSION, str(ticket_id), recipient.party, recipient.person,
                            str(now + self.ttl_ms), _b64(self._nonce(NONCE_BYTES))))
        return f"{payload}.{self._sign(payload)}"

    def link_for(self, ticket_id: int, recipient: Recipient, now: int) -> str:
        """The mobile page of ``ticket_id`` for ``recipient``, good for ``ttl_ms`` from ``now``."""
        return f"{self.base_url}/m/{ticket_id}#{self.token_for(ticket_id, recipient, now)}"

    def verify(self, token: str, ticket_id: int, now: int) -> LinkGrant:
        """The grant of ``token`` for ``ticket_id`` at ``now``, or ``LinkRefused``."""
        parts = token.strip().split(".")
        if len(parts) != 7 or parts[0] != VERSION:
            raise LinkRefused(LinkRefusal.MALFORMED, "this is not a link of this platform")
        payload, signature = ".".join(parts[:6]), parts[6]
        if not hmac.compare_digest(self._sign(payload), signature):
            raise LinkRefused(LinkRefusal.FORGED, "the link's signature is not valid")
        _, ticket, party, person, expires, nonce = parts[:6]
        if not (ticket.isdigit() and expires.isdigit()):
            raise LinkRefused(LinkRefusal.MALFORMED, "this is not a link of this platform")
        if int(expires) <= now:
            raise LinkRefused(LinkRefusal.EXPIRED, "the link has expired; use the newest "
                                                   "message or ask the duty office")
        if int(ticket) != ticket_id:
            raise LinkRefused(LinkRefusal.OTHER_TICKET,
                              f"this link is for ticket {int(ticket)}, not {ticket_id}")
        return LinkGrant(ticket_id, Recipient(party, person), int(expires), nonce)


SECRET_FILE = "link_secret"


def load_or_create_secret(data_dir: Path, configured: str | None = None) -> bytes:
    """The link secret: ``configured`` (from a secret file or variable of the configuration),
    else the one kept in ``data_dir/link_secret``, made once (0600) so links survive restarts."""
    if configured:
        return configured.encode("utf-8")
    path = data_dir / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the link secret: {exc}", source=str(path)) from None
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(SECRET_BYTES)
    # Written aside, then linked into place: a replica starting at the same moment either
    # links first or reads the complete file of the one that did.
    draft = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secret.hex())
        os.link(draft, path)
    except FileExistsError:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    finally:
        draft.unlink(missing_ok=True)
    return secret
