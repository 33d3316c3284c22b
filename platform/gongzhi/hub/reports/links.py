"""The two links a resident uses, both signed with HMAC-SHA256 under keys derived from the
platform's link secret (so neither can be made without it):

- **building link** ``/r/<token>``, printed as a QR code on the building's notice board: it names
  an estate and a building and does not expire (a printed code stays on the wall). Anyone may
  open it; nobody can make one for another building.
- **tracking link** ``/r/t#<token>``, given to the resident once, after reporting: it names one
  report and carries a random nonce whose hash the report keeps, so it opens that report and no
  other. It is in the fragment, which browsers never send, and reaches the API in a header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from gongzhi.hub.reports.errors import ReportRefused

BUILDING_VERSION = "b1"
TRACK_VERSION = "t1"
NONCE_BYTES = 16
SIG_BYTES = 16  # 128 bits of the HMAC: beyond guessing


class LinkProblem(StrEnum):
    MALFORMED = "malformed"
    FORGED = "forged"
    UNKNOWN_BUILDING = "unknown_building"  # signed, but the building left the registry
    UNKNOWN_REPORT = "unknown_report"


def _refused(reason: LinkProblem, message: str) -> ReportRefused:
    """A link that opens nothing: 403 with the reason."""
    return ReportRefused(403, reason.value, message)


@dataclass(frozen=True, slots=True)
class Building:
    estate_id: str
    building: str


@dataclass(frozen=True, slots=True)
class TrackGrant:
    report_id: int
    nonce_hash: str  # compared with the report's


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()


class ReportLinks:
    """Makes and checks building and tracking links; ``nonce`` gives random bytes (tests
    inject a seeded source)."""

    def __init__(self, secret: bytes, base_url: str, *,
                 nonce: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self._building_key = hmac.new(secret, b"gongzhi residents' building link",
                                      hashlib.sha256).digest()
        self._track_key = hmac.new(secret, b"gongzhi residents' tracking link",
                                   hashlib.sha256).digest()
        self.base_url = base_url.rstrip("/")
        self._nonce = nonce

    def __repr__(self) -> str:
        return f"ReportLinks({self.base_url!r}, secret='****')"

    @staticmethod
    def _sign(key: bytes, payload: str) -> str:
        return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:SIG_BYTES])

    # --- building links ----------------------------------------------------------------------

    def building_token(self, where: Building) -> str:
        payload = ".".join((BUILDING_VERSION, _b64(where.estate_id.encode()),
                            _b64(where.building.encode())))
        return f"{payload}.{self._sign(self._building_key, payload)}"

    def building_url(self, where: Building) -> str:
        return f"{self.base_url}/r/{self.building_token(where)}"

    def verify_building(self, token: str) -> Building:
        parts = token.strip().split(".")
        if len(parts) != 4 or parts[0] != BUILDING_VERSION:
            raise _refused(LinkProblem.MALFORMED,
                                    "scan the QR code on your building's notice board")
        payload = ".".join(parts[:3])
        if not hmac.compare_digest(self._sign(self._building_key, payload), parts[3]):
            raise _refused(LinkProblem.FORGED, "this building link is not valid")
        try:
            return Building(_unb64(parts[1]).decode(), _unb64(parts[2]).decode())
        except (binascii.Error, UnicodeDecodeError):
            raise _refused(LinkProblem.MALFORMED, "this building link is not valid") \
                from None

    # --- tracking links ----------------------------------------------------------------------

    def new_track_token(self, report_id: int) -> tuple[str, str]:
        """(token, the hash of its nonce for the report to keep)."""
        nonce = _b64(self._nonce(NONCE_BYTES))
        payload = f"{TRACK_VERSION}.{report_id}.{nonce}"
        return f"{payload}.{self._sign(self._track_key, payload)}", nonce_hash(nonce)

    def track_url(self, token: str) -> str:
        return f"{self.base_url}/r/t#{token}"

    def verify_track(self, token: str) -> TrackGrant:
        parts = token.strip().split(".")
        if len(parts) != 4 or parts[0] != TRACK_VERSION or not parts[1].isdigit():
            raise _refused(LinkProblem.MALFORMED,
                                    "open the tracking link you were given after reporting")
        payload = ".".join(parts[:3])
        if not hmac.compare_digest(self._sign(self._track_key, payload), parts[3]):
            raise _refused(LinkProblem.FORGED, "this tracking link is not valid")
        return TrackGrant(int(parts[1]), nonce_hash(parts[2]))
