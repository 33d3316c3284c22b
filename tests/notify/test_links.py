"""Signed links: good for their one ticket until they expire; forged, expired, other-ticket and
malformed links refused with the reason; the server secret kept across restarts."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from gongzhi.core.errors import ConfigError
from gongzhi.hub.notify.links import (
    LinkRefusal,
    LinkRefused,
    LinkSigner,
    Recipient,
    load_or_create_secret,
)

SECRET = b"s" * 32
WANG = Recipient("property_office", "wang")
NOW = 1_767_225_600_000


def signer(secret: bytes = SECRET, ttl_ms: int = 3_600_000) -> LinkSigner:
    rng = random.Random(7)
    return LinkSigner(secret, "https://hub.example/", ttl_ms=ttl_ms, nonce=rng.randbytes)


def refusal(make: LinkSigner, token: str, ticket_id: int, now: int) -> LinkRefusal:
    with pytest.raises(LinkRefused) as caught:
        make.verify(token, ticket_id, now)
    return caught.value.reason


def test_a_link_opens_its_ticket_until_it_expires() -> None:
    make = signer()
    link = make.link_for(42, WANG, NOW)
    assert link.startswith("https://hub.example/m/42#v1.42.property_office.wang.")
    token = link.split("#", 1)[1]
    grant = make.verify(token, 42, NOW + 3_599_999)
    assert grant.recipient == WANG and grant.ticket_id == 42
    assert grant.expires_at == NOW + 3_600_000
    assert make.verify(token, 42, NOW + 10).nonce == grant.nonce  # reusable until expiry
    assert refusal(make, token, 42, NOW + 3_600_000) is LinkRefusal.EXPIRED


def test_each_link_has_its_own_nonce() -> None:
    make = signer()
    assert make.token_for(42, WANG, NOW) != make.token_for(42, WANG, NOW)


def test_other_ticket_forged_and_malformed_links_are_refused() -> None:
    make = signer()
    token = make.token_for(42, WANG, NOW)
    assert refusal(make, token, 43, NOW) is LinkRefusal.OTHER_TICKET
    # The ticket id changed inside the token: the signature no longer matches.
    assert refusal(make, token.replace(".42.", ".43.", 1), 43, NOW) is LinkRefusal.FORGED
    # Extended by hand.
    parts = token.split(".")
    parts[4] = str(int(parts[4]) + 86_400_000)
    assert refusal(make, ".".join(parts), 42, NOW) is LinkRefusal.FORGED
    # Signed under another secret.
    other = signer(b"t" * 32).token_for(42, WANG, NOW)
    assert refusal(make, other, 42, NOW) is LinkRefusal.FORGED
    for junk in ("", "abc", "v2" + token[2:], token + ".x"):
        assert refusal(make, junk, 42, NOW) is LinkRefusal.MALFORMED
    assert "****" in repr(make) and "sss" not in repr(make)


def test_weak_settings_are_refused() -> None:
    with pytest.raises(ConfigError):
        LinkSigner(b"short", "https://hub.example")
    with pytest.raises(ConfigError):
        LinkSigner(SECRET, "https://hub.example", ttl_ms=0)
    with pytest.raises(ValueError):
        signer().token_for(1, Recipient("property_office", "a.b"), NOW)


def test_the_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    assert len(first) == 32
    assert (tmp_path / "link_secret").stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret(tmp_path) == first
    assert load_or_create_secret(tmp_path, "configured-secret-text") == b"configured-secret-text"
    (tmp_path / "link_secret").write_text("not hex", encoding="ascii")
    with pytest.raises(ConfigError):
        load_or_create_secret(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["link_secret"]
