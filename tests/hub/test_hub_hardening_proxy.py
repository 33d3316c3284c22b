"""Forwarded headers and the authentication limiter, against `gongzhi platform` itself (uvicorn
over real HTTP): X-Forwarded-For is believed only from the proxies in GONGZHI_TRUSTED_PROXIES
(none by default), so a client cannot pick the address its failures are counted under."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hub_helpers import DEVICES, PlatformProcess, free_port, run_platform_command

from gongzhi.core.cli import main
from gongzhi.core.errors import ConfigError
from gongzhi.core.settings import load_settings
from gongzhi.devices.registry import write_registry
from gongzhi.hub.auth_limit import DEFAULT_LIMIT, client_key

GUESSES = 50
# Any address of 127/8 reaches the platform on 127.0.0.1: this one plays the reverse proxy.
PROXY = "127.0.0.2"


@pytest.fixture
def data_dir_with_tokens(tmp_path: Path) -> Path:
    assert main(["tokens", "init", "--data-dir", str(tmp_path)]) == 0
    write_registry(tmp_path / "registry.csv", DEVICES)
    return tmp_path


def _client(source: str) -> httpx.Client:
    return httpx.Client(timeout=5, transport=httpx.HTTPTransport(local_address=source))


def _guesses(client: httpx.Client, url: str, forwarded: Iterator[str]) -> list[int]:
    """A wrong token per request, each with the next forwarded address."""
    return [client.get(f"{url}/api/me", headers={"Authorization": f"Bearer wrong-{n:030d}",
                                                 "X-Forwarded-For": address}).status_code
            for n, address in zip(range(GUESSES), forwarded, strict=False)]


def _addresses() -> Iterator[str]:
    n = 0
    while True:
        yield f"203.0.113.{n % 250 + 1}" if n < 250 else f"198.51.100.{n % 250 + 1}"
        n += 1


def test_forwarded_addresses_are_not_believed_by_default(data_dir_with_tokens: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with PlatformProcess(data_dir_with_tokens, port) as platform, _client("127.0.0.1") as client:
        platform.first_answer(client, f"{url}/healthz")
        statuses = _guesses(client, url, _addresses())
        tokens = json.loads((data_dir_with_tokens / "tokens.json").read_text())
        # A valid token from the limited address is still accepted.
        me = client.get(f"{url}/api/me", headers={
            "Authorization": f"Bearer {tokens['police_room']}", "X-Forwarded-For": "203.0.113.99"})
        assert me.status_code == 200
        metrics = client.get(f"{url}/metrics").text
    assert statuses == [401] * DEFAULT_LIMIT + [429] * (GUESSES - DEFAULT_LIMIT)
    assert f'gongzhi_auth_failures_total{{answer="429"}} {GUESSES - DEFAULT_LIMIT}' in metrics
    assert "forwarded headers believed from: none" in platform.out


def test_a_trusted_proxy_forwards_the_address_and_no_one_else_does(data_dir_with_tokens: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with PlatformProcess(data_dir_with_tokens, port, GONGZHI_TRUSTED_PROXIES=PROXY) as platform, \
            _client(PROXY) as proxy, _client("127.0.0.1") as direct:
        platform.first_answer(direct, f"{url}/healthz")
        # Through the proxy, each forwarded client is counted on its own: none is limited ...
        assert _guesses(proxy, url, _addresses()) == [401] * GUESSES
        # ... and one forwarded client that keeps guessing is, whatever the proxy's address.
        repeated = _guesses(proxy, url, iter(["192.0.2.7"] * (DEFAULT_LIMIT + 1)))
        assert repeated == [401] * DEFAULT_LIMIT + [429]
        # A client that is not the proxy cannot forward: its own address is counted.
        assert _guesses(direct, url, _addresses()) == (
            [401] * DEFAULT_LIMIT + [429] * (GUESSES - DEFAULT_LIMIT))
    assert f"forwarded headers believed from: {PROXY}/32" in platform.out


def test_an_unusable_trusted_proxy_setting_stops_the_platform(data_dir_with_tokens: Path):
    result = run_platform_command(data_dir_with_tokens, free_port(),
                                  GONGZHI_TRUSTED_PROXIES="10.0.0.1, *")
    assert result.returncode == 2
    assert "GONGZHI_TRUSTED_PROXIES" in result.stderr and "'*'" in result.stderr


def test_trusted_proxies_are_read_as_networks_and_a_misspelt_name_is_an_error():
    settings = load_settings({"GONGZHI_TRUSTED_PROXIES": " 10.1.0.0/16, 10.0.0.5 ,::1"})
    assert settings.trusted_proxies == "10.1.0.0/16,10.0.0.5/32,::1/128"
    assert [str(n) for n in settings.trusted_proxy_networks] == [
        "10.1.0.0/16", "10.0.0.5/32", "::1/128"]
    assert load_settings({}).trusted_proxies == ""
    with pytest.raises(ConfigError, match="GONGZHI_TRUSTED_PROXIES"):
        load_settings({"GONGZHI_TRUSTED_PROXIES": "proxy.example"})
    with pytest.raises(ConfigError, match="unknown variable GONGZHI_TRUSTED_PROXY"):
        load_settings({"GONGZHI_TRUSTED_PROXY": "10.0.0.5"})


def test_an_ipv6_client_is_counted_by_its_64():
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == \
        "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:10.0.0.7") == client_key("10.0.0.7") == "10.0.0.7"
    assert client_key(None) == "unknown"
