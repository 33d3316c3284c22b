"""`gongzhi platform` over HTTPS with the certificates of scripts/make-certs.sh: clients that
trust the deployment's CA get answers, plain HTTP gets none, and a half or broken TLS
configuration is refused before serving."""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from hub_helpers import DEVICES, PlatformProcess, free_port, run_platform_command

from gongzhi.core.cli import main
from gongzhi.devices.registry import write_registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    subprocess.run(["bash", str(ROOT / "scripts" / "make-certs.sh"), str(directory)],
                   check=True, capture_output=True, timeout=60)
    return directory


def test_the_platform_serves_https_only(tmp_path: Path, certs: Path):
    assert main(["tokens", "init", "--data-dir", str(tmp_path)]) == 0
    write_registry(tmp_path / "registry.csv", DEVICES)
    tokens = json.loads((tmp_path / "tokens.json").read_text())
    port = free_port()
    trust = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    with PlatformProcess(tmp_path, port, GONGZHI_HTTP_TLS_CERT=str(certs / "platform.crt"),
                         GONGZHI_HTTP_TLS_KEY=str(certs / "platform.key")) as platform, \
            httpx.Client(verify=trust, timeout=2) as client:
        health = platform.first_answer(client, f"https://127.0.0.1:{port}/healthz")
        assert health.json() == {"status": "ok", "store": "sqlite"}
        assert health.headers["strict-transport-security"] == "max-age=31536000"
        me = client.get(f"https://localhost:{port}/api/me",
                        headers={"Authorization": f"Bearer {tokens['police_room']}"})
        assert me.json()["party"] == "police_room"
        # Plain HTTP gets no answer at all.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        # A client that does not trust the deployment's CA refuses the certificate.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"https://127.0.0.1:{port}/healthz", timeout=5,
                      verify=ssl.create_default_context())
    assert platform.returncode == 0, platform.err
    assert f"https://127.0.0.1:{port}/" in platform.out


@pytest.mark.parametrize(("files", "message"), [
    ({"GONGZHI_HTTP_TLS_CERT": "platform.crt"}, "GONGZHI_HTTP_TLS_KEY is not set"),
    ({"GONGZHI_HTTP_TLS_KEY": "platform.key"}, "GONGZHI_HTTP_TLS_CERT is not set"),
    ({"GONGZHI_HTTP_TLS_CERT": "platform.crt", "GONGZHI_HTTP_TLS_KEY": "nowhere.key"},
     "nowhere.key: HTTPS private key not found"),
    ({"GONGZHI_HTTP_TLS_CERT": "platform.crt", "GONGZHI_HTTP_TLS_KEY": "broker.key"},
     "HTTPS certificate and key unusable together"),
])
def test_a_half_or_broken_tls_configuration_is_refused(tmp_path: Path, certs: Path,
                                                       files: dict[str, str], message: str):
    assert main(["tokens", "init", "--data-dir", str(tmp_path)]) == 0
    result = run_platform_command(tmp_path, free_port(),
                                  **{name: str(certs / file) for name, file in files.items()})
    assert result.returncode == 2, result.stderr
    assert "configuration error" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
