"""TLS: the broker's 8883 listener with certificates from scripts/make-certs.sh, and the
platform's certificate for HTTPS."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from security_mqtt import MAKE_CERTS, SecureBroker
from security_setup import ClientFactory

pytestmark = pytest.mark.integration


def make_certs(out: Path, *names: str) -> None:
    subprocess.run(["bash", str(MAKE_CERTS), str(out), *names], check=True,
                   capture_output=True)


def subject_alt_names(cert: Path) -> str:
    return subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext",
                           "subjectAltName"], check=True, capture_output=True, text=True).stdout


def test_a_device_connects_over_tls_with_the_ca_and_the_gateway_receives(
        client: ClientFactory, certs: Path) -> None:
    gateway = client("gateway")
    device = client("dev-2", listener="tls", ca_file=certs / "ca.crt")
    assert gateway.connect() == 0 and device.connect() == 0
    gateway.subscribe("estate/#")
    assert not device.publish("estate/e1/dev-2/telemetry", '{"values": {"pressure_mpa": 0.3}}'
                              ).is_failure
    assert gateway.next_message().topic == "estate/e1/dev-2/telemetry"


def test_the_tls_listener_keeps_the_access_rules(client: ClientFactory, certs: Path) -> None:
    wrong = client("dev-2", "wrong-password", listener="tls", ca_file=certs / "ca.crt").connect()
    assert wrong is not None and wrong.is_failure
    anonymous = client(None, listener="tls", ca_file=certs / "ca.crt").connect()
    assert anonymous is not None and anonymous.is_failure


def test_a_plain_connection_to_the_tls_listener_gets_no_connack(client: ClientFactory) -> None:
    assert client("dev-2", listener="tls").connect() is None


def test_a_broker_signed_by_another_ca_is_not_trusted(secure_broker: SecureBroker,
                                                      certs: Path, tmp_path: Path) -> None:
    """A bare TLS handshake (paho 2.2 leaves the socket open when its handshake fails)."""
    make_certs(tmp_path / "other")
    for ca, trusted in ((tmp_path / "other" / "ca.crt", False), (certs / "ca.crt", True)):
        context = ssl.create_default_context(cafile=str(ca))
        with socket.create_connection(("127.0.0.1", secure_broker.tls_port), timeout=5) as raw:
            try:
                with context.wrap_socket(raw, server_hostname="mosquitto"):
                    handshake_ok = True
            except ssl.SSLCertVerificationError:
                handshake_ok = False
        assert handshake_ok is trusted, ca


def test_make_certs_names_the_services_and_keeps_its_ca(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    make_certs(out, "estate.example.org", "192.0.2.10")
    ca, broker = (out / "ca.crt").read_bytes(), (out / "broker.crt").read_bytes()
    broker_names = subject_alt_names(out / "broker.crt")
    for name in ("DNS:mosquitto", "DNS:localhost", "IP Address:127.0.0.1",
                 "DNS:estate.example.org", "IP Address:192.0.2.10"):
        assert name in broker_names
    assert "DNS:platform" in subject_alt_names(out / "platform.crt")
    for key in ("ca.key", "broker.key", "platform.key"):
        assert (out / key).stat().st_mode & 0o777 == 0o600, key

    make_certs(out)  # renewal: same CA, new server certificates that it still verifies
    assert (out / "ca.crt").read_bytes() == ca
    assert (out / "broker.crt").read_bytes() != broker
    for name in ("broker", "platform"):
        subprocess.run(["openssl", "verify", "-CAfile", str(out / "ca.crt"),
                        str(out / f"{name}.crt")], check=True, capture_output=True)


@pytest.mark.parametrize("server_name", ["platform", "localhost", "127.0.0.1"])
def test_the_platform_certificate_serves_https_under_its_names(certs: Path,
                                                               server_name: str) -> None:
    """A TLS server with platform.crt; a client trusting only ca.crt checks name and chain."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(certs / "platform.crt", certs / "platform.key")
    client_ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        errors: list[BaseException] = []

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            except (OSError, ssl.SSLError) as exc:
                errors.append(exc)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                    client_ctx.wrap_socket(raw, server_hostname=server_name) as tls:
                assert tls.recv(64).startswith(b"HTTP/1.1 200")
        finally:
            thread.join(timeout=5)
    assert errors == []
