"""API hardening: tokens kept and compared as digests (and accepted hashed), failed
authentications limited per address, security headers on every answer, CORS closed, body size
limits."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hub_helpers import DEVICES, Api, ApiFactory, alarm, device

from gongzhi.core.alarms import AlarmKind
from gongzhi.core.cli import main
from gongzhi.core.clock import ManualClock
from gongzhi.core.errors import ConfigError, StoreUnavailable
from gongzhi.core.settings import Settings
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import write_registry
from gongzhi.hub.auth_limit import AuthFailureLimiter
from gongzhi.hub.body_limit import DEFAULT_LIMIT, PATH_LIMITS
from gongzhi.hub.schemas import DeviceStatesIn
from gongzhi.hub.tokens import hashed_form, load_tokens, parse_tokens


@pytest.fixture
def database_url(data_dir: Path) -> str:
    """These tests are about HTTP, not the store: SQLite is enough."""
    return f"sqlite:///{data_dir / 'platform.db'}"


# --- tokens ---------------------------------------------------------------------------------


def test_the_token_book_keeps_digests_only(tokens: dict[str, str], data_dir: Path):
    book = load_tokens(data_dir / "tokens.json", extra_gateway_token="g" * 20)
    kept = repr(book) + "".join(d.hex() for _, d in book.entries)
    assert not [t for t in [*tokens.values(), "g" * 20] if t in kept]
    assert all(isinstance(d, bytes) and len(d) == 32 for _, d in book.entries)
    for principal, token in tokens.items():
        assert book.principal(token) == principal
        assert book.principal(token[:-1]) is None
        assert book.principal(token + "x") is None
    assert book.principal("g" * 20) == "gateway"
    assert book.principal("") is None


def test_every_known_digest_is_compared_whatever_the_match(
        tokens: dict[str, str], data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    book = load_tokens(data_dir / "tokens.json")
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    principals = list(tokens)
    first, last = principals[0], principals[-1]
    for principal in (first, last):
        compared.clear()
        assert book.principal(tokens[principal]) == principal
        assert len(compared) == len(tokens)  # no early exit on the first match
    compared.clear()
    assert book.principal("not-a-token-at-all") is None
    assert len(compared) == len(tokens)


def test_tokens_hash_writes_digests_the_platform_accepts(
        tokens: dict[str, str], data_dir: Path, make_api: ApiFactory, settings: Settings,
        capsys: pytest.CaptureFixture[str]):
    hashed_path = data_dir / "server" / "tokens.hashed.json"
    assert main(["tokens", "hash", "--tokens-file", str(data_dir / "tokens.json"),
                 "--out", str(hashed_path)]) == 0
    assert str(hashed_path.resolve()) in capsys.readouterr().out
    assert stat.S_IMODE(hashed_path.stat().st_mode) == 0o600
    text = hashed_path.read_text()
    assert not [t for t in tokens.values() if t in text]
    hashed = json.loads(text)
    assert hashed == {p: "sha256:" + hashlib.sha256(t.encode()).hexdigest()
                      for p, t in tokens.items()}
    # Never replaces a file by accident; hashing a hashed file changes nothing.
    assert main(["tokens", "hash", "--tokens-file", str(data_dir / "tokens.json"),
                 "--out", str(hashed_path)]) == 2
    assert "--force" in capsys.readouterr().err
    again = data_dir / "again.json"
    assert main(["tokens", "hash", "--tokens-file", str(hashed_path),
                 "--out", str(again)]) == 0
    assert json.loads(again.read_text()) == hashed

    api = make_api(settings=settings.model_copy(update={"tokens_file": hashed_path}))
    me = api.get("/api/me", "npc_liaison")
    assert me.status_code == 200 and me.json()["party"] == "npc_liaison"
    assert api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-young"))["created"]
    # The digest itself is no credential.
    as_bearer = api.client.get("/api/me", headers={
        "Authorization": f"Bearer {hashed['npc_liaison']}"})
    assert as_bearer.status_code == 401


def test_hashed_and_plain_entries_mix_and_duplicates_are_caught_across_forms():
    plain, other = "p" * 24, "q" * 24
    book = parse_tokens(json.dumps({"police_room": plain,
                                    "property_office": hashed_form(other)}), "t.json")
    assert book.principal(plain) == "police_room"
    assert book.principal(other) == "property_office"
    with pytest.raises(ConfigError, match="also another principal's token"):
        parse_tokens(json.dumps({"police_room": plain,
                                 "property_office": hashed_form(plain)}), "t.json")


@pytest.mark.parametrize(("value", "message"), [
    ("sha256:" + "AB" * 32, "64 lowercase hex"),
    ("sha256:" + "ab" * 31, "64 lowercase hex"),
    ("short-secret-99", "at least 16 characters"),
])
def test_unusable_token_values_are_refused_without_quoting_them(value: str, message: str):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_tokens(json.dumps({"police_room": value}), "t.json")
    assert value not in str(caught.value)
    assert value.removeprefix("sha256:") not in str(caught.value)


def test_no_token_reaches_the_logs(api: Api, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-" + "z" * 20
    api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-elderly"))
    assert api.get("/api/tickets", "property_office").status_code == 200
    assert api.client.get("/api/me", headers={"Authorization": f"Bearer {wrong}"}
                          ).status_code == 401
    assert api.client.post("/api/alarms", json={"alarm_id": 5},
                           headers=api.auth("gateway")).status_code == 422
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert caplog.records, "the scenario logs nothing: the check would be empty"
    assert not [t for t in [*api.tokens.values(), wrong] if t in logged]


# --- failed authentications -------------------------------------------------------------------


def _me(client: TestClient, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.get("/api/me", headers=headers)


def test_repeated_failures_from_one_address_get_429_until_the_window_passes(
        api: Api, clock: ManualClock):
    for attempt in range(10):
        answer = _me(api.client, None if attempt % 2 else f"guess-{attempt:020d}")
        assert answer.status_code == 401, attempt
    limited = _me(api.client, "guess-number-eleven-0000")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "60"
    assert "too many failed" in limited.json()["detail"]
    # A valid token is always accepted, from the same address, limited or not.
    assert _me(api.client, api.tokens["police_room"]).status_code == 200
    assert api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-young"))["created"]
    # Another address is not affected.
    other = TestClient(api.app, client=("10.0.0.7", 50000))
    try:
        assert _me(other, "guess-from-elsewhere-000").status_code == 401
    finally:
        other.close()
    # The wait shrinks with time; once it has passed, the address may fail again.
    clock.advance(30_000)
    assert _me(api.client, "guess-after-30s-00000000").headers["retry-after"] == "30"
    clock.advance(30_000)
    assert _me(api.client, "guess-after-60s-00000000").status_code == 401
    metrics = api.client.get("/metrics").text
    assert 'gongzhi_auth_failures_total{answer="429"} 2' in metrics
    assert 'gongzhi_auth_failures_total{answer="401"} 12' in metrics


def test_the_limiter_waits_for_the_oldest_failure_and_bounds_its_memory():
    clock = ManualClock(0)
    limiter = AuthFailureLimiter(clock, limit=3, window_ms=10_000, max_addresses=2)
    assert [limiter.fail("a") for _ in range(3)] == [None, None, None]
    clock.advance(2_500)
    assert limiter.fail("a") == 8  # the first failures leave the window at 10 s: 7.5 s, rounded up
    clock.advance(7_500)
    # At 10 s only the failures at 2.5 s and 10 s are within the window: one more may fail.
    assert limiter.fail("a") is None
    assert limiter.fail("a") is None
    # Failures while limited count: a client that keeps guessing stays limited.
    assert limiter.fail("a") == 10
    clock.advance(5_000)
    assert limiter.fail("a") == 5
    clock.advance(5_000)
    assert limiter.fail("a") is None
    limiter.fail("b")
    limiter.fail("c")
    assert limiter.tracked() == 2
    # "a" was forgotten (least recently failed): it starts again from nothing.
    assert [limiter.fail("a") for _ in range(3)] == [None, None, None]


# --- security headers ----------------------------------------------------------------------

PAGE_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
                "referrer-policy": "no-referrer"}


def _policy(answer: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for directive in answer.headers["content-security-policy"].split(";"):
        name, _, value = directive.strip().partition(" ")
        found[name] = value
    return found


def _assert_hardened(answer: Any, what: str) -> None:
    for name, value in PAGE_HEADERS.items():
        assert answer.headers.get(name) == value, (what, name)
    policy = _policy(answer)
    assert policy["frame-ancestors"] == "'none'", what
    assert policy["object-src"] == "'none'", what
    assert policy["default-src"] == "'self'", what
    assert "unsafe-inline" not in policy["script-src"], what
    assert "unsafe-eval" not in policy["script-src"], what


def test_every_answer_carries_the_security_headers(api: Api):
    answers = {
        "health": api.client.get("/healthz"),
        "metrics": api.client.get("/metrics"),
        "openapi": api.client.get("/openapi.json"),
        "wall": api.client.get("/"),
        "asset": api.client.get("/favicon.ico"),
        "api": api.get("/api/me", "police_room"),
        "401": api.client.get("/api/me"),
        "404": api.client.get("/no/such/path"),
        "409": api.act(api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-b2"))["ticket_id"],
                       "property_office", "resolve"),
        "413": api.client.post("/api/tickets/1/actions", content=b"x" * (DEFAULT_LIMIT + 1),
                               headers=api.auth("property_office")),
        "422": api.client.post("/api/alarms", json={}, headers=api.auth("gateway")),
    }
    assert {k: a.status_code for k, a in answers.items()} == {
        "health": 200, "metrics": 200, "openapi": 200, "wall": 200, "asset": 200, "api": 200,
        "401": 401, "404": 404, "409": 409, "413": 413, "422": 422}
    for what, answer in answers.items():
        _assert_hardened(answer, what)
        assert "strict-transport-security" not in answer.headers, what  # plain HTTP
    # The pages' policy (the wall, the police console, supervision).
    wall = _policy(answers["wall"])
    assert wall["script-src"] == "'self'" and wall["connect-src"] == "'self'"
    assert "unsafe-inline" not in wall["style-src"]
    # Answers with tickets or personal data are not to be kept by caches.
    assert answers["api"].headers["cache-control"] == "no-store"


def test_hsts_over_https(make_api: ApiFactory):
    api = make_api()
    secure = TestClient(api.app, base_url="https://platform.example")
    try:
        for path in ("/healthz", "/", "/docs", "/api/me"):
            answer = secure.get(path, headers=api.auth("police_room"))
            assert answer.headers["strict-transport-security"] == "max-age=31536000", path
    finally:
        secure.close()


def test_an_unhandled_error_is_answered_with_the_headers(api: Api):
    def broken() -> None:
        raise RuntimeError("a bug")

    api.app.add_api_route("/api/broken", broken)
    client = TestClient(api.app, raise_server_exceptions=False)
    try:
        answer = client.get("/api/broken")
    finally:
        client.close()
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal error"}
    _assert_hardened(answer, "500")


def test_docs_allow_only_their_own_nonce_script(api: Api):
    first, second = api.client.get("/docs"), api.client.get("/docs")
    assert first.status_code == 200
    _assert_hardened(first, "docs")
    nonces = []
    for answer in (first, second):
        script_src = _policy(answer)["script-src"]
        match = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]{16,})'", script_src)
        assert match, script_src
        nonces.append(match.group(1))
        inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", answer.text)
        assert inline and all(f'nonce="{match.group(1)}"' in attrs for attrs in inline)
    assert nonces[0] != nonces[1]
    # The pages' policy is not loosened by the docs.
    assert _policy(api.client.get("/"))["script-src"] == "'self'"


# --- CORS ----------------------------------------------------------------------------------


def test_cors_is_closed_to_foreign_origins(api: Api):
    foreign = {"Origin": "https://attacker.example"}
    read = api.client.get("/api/tickets", headers={**api.auth("police_room"), **foreign})
    assert read.status_code == 200
    preflight = api.client.options("/api/tickets/1/actions", headers={
        **foreign, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 405
    for answer in (read, preflight):
        assert not [h for h in answer.headers if h.startswith("access-control-")]


# --- body size limits --------------------------------------------------------------------


def test_an_action_body_over_64_kib_is_refused_with_413(api: Api):
    ticket_id = api.post_alarm(alarm(AlarmKind.SMOKE_ALARM, "smk-elderly"))["ticket_id"]
    padded = json.dumps({"action": "comment", "note": "fits"}).encode()
    padded = padded[:-1] + b" " * (DEFAULT_LIMIT - len(padded)) + b"}"
    assert len(padded) == DEFAULT_LIMIT
    fits = api.client.post(f"/api/tickets/{ticket_id}/actions", content=padded,
                           headers={**api.auth("property_office"),
                                    "Content-Type": "application/json"})
    assert fits.status_code == 200, fits.text
    over = api.client.post(f"/api/tickets/{ticket_id}/actions", content=padded + b" ",
                           headers={**api.auth("property_office"),
                                    "Content-Type": "application/json"})
    assert over.status_code == 413
    assert over.json()["detail"] == (f"request body larger than {DEFAULT_LIMIT} bytes (the limit "
                                     f"of /api/tickets/{ticket_id}/actions)")
    comments = [e for e in api.ticket(ticket_id)["timeline"] if e.get("action") == "comment"]
    assert len(comments) == 1  # the refused request changed nothing


def _worst_case_states(count: int) -> dict[str, Any]:
    """Device states as long as the gateway makes them: 64-character ids, the five electrical
    metrics with full-precision floats."""
    values = {m: 1234.5678901234567 for m in
              ("residual_ma", "cable_temp_c", "current_a", "voltage_v", "power_w")}
    return {"devices": [{"device_id": f"{i:064d}", "online": True,
                         "last_seen_ms": 1_767_225_600_000 + i, "values": values,
                         "values_ts_ms": 1_767_225_600_000 + i} for i in range(count)]}


def test_the_largest_device_state_batch_fits_and_a_bigger_body_does_not(
        api: Api, data_dir: Path, clock: ManualClock):
    most = DeviceStatesIn.model_fields["devices"].metadata[0].max_length
    worst = _worst_case_states(most)
    write_registry(data_dir / "registry.csv", DEVICES + [
        device(d["device_id"], DeviceType.ELECTRICAL) for d in worst["devices"]])
    clock.advance(1_000)  # the platform looks at the registry file once a second
    batch = json.dumps(worst).encode()
    limit = PATH_LIMITS["/api/device-states"]
    assert len(batch) <= limit
    stored = api.client.post("/api/device-states", content=batch,
                             headers={**api.auth("gateway"), "Content-Type": "application/json"})
    assert stored.status_code == 200
    assert stored.json() == {"accepted": most, "refused": 0, "unregistered": []}
    over = api.client.post("/api/device-states", content=batch + b" " * (limit + 1 - len(batch)),
                           headers={**api.auth("gateway"), "Content-Type": "application/json"})
    assert over.status_code == 413
    alarm_over = api.client.post("/api/alarms", content=b" " * (PATH_LIMITS["/api/alarms"] + 1),
                                 headers=api.auth("gateway"))
    assert alarm_over.status_code == 413
    big_alarm = alarm(AlarmKind.SMOKE_ALARM, "smk-b2",
                      evidence={"rule": "test", "window": [0.5] * 50_000})
    assert DEFAULT_LIMIT < len(json.dumps(big_alarm)) < PATH_LIMITS["/api/alarms"]
    assert api.post_alarm(big_alarm)["created"]


def test_the_openapi_document_declares_the_guards_answers(api: Api):
    paths = api.client.get("/openapi.json").json()["paths"]
    actions = paths["/api/tickets/{ticket_id}/actions"]["post"]["responses"]
    assert {"401", "413", "429"} <= set(actions)
    assert str(DEFAULT_LIMIT) in actions["413"]["description"]
    assert "Retry-After" in actions["429"]["headers"]
    states = paths["/api/device-states"]["post"]["responses"]
    assert str(PATH_LIMITS["/api/device-states"]) in states["413"]["description"]
    assert "413" not in paths["/api/tickets"]["get"]["responses"]  # no body, no 413
    health = paths["/healthz"]["get"]["responses"]
    assert not {"401", "429"} & set(health)  # no token asked, none refused


def test_an_unreachable_store_answers_503_with_one_log_line(
        api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    def gone(*_args: object, **_kwargs: object) -> None:
        raise StoreUnavailable("connection refused")

    monkeypatch.setattr(api.app.state.hub.store, "transaction", gone)
    with caplog.at_level(logging.WARNING):
        listed = api.client.get("/api/tickets", headers=api.auth("property_office"))
        sent = api.client.post("/api/alarms", json=alarm(AlarmKind.TAMPER, "smk-young"),
                               headers=api.auth("gateway"))
    for answer in (listed, sent):
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "1"
    assert "Traceback" not in caplog.text
    assert caplog.text.count("ticket store unavailable") == 2
    assert all(r.exc_info is None for r in caplog.records)
