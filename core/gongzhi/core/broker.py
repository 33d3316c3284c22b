"""Finding an MQTT broker for the demo, or starting a private Mosquitto from our own config."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from gongzhi.core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[3]
DEV_CONF = REPO_ROOT / "deploy" / "mosquitto" / "dev.conf"


def port_answers(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


_HANDED_OUT: set[int] = set()
_HANDED_OUT_LOCK = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now and not handed out before by this process. The kernel may give a port
    just released to the next ``bind`` to port 0, so two servers picked before either listens
    (a demo's routes, a supervisor's workers) could otherwise be handed the same one."""
    while True:
        with socket.socket() as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        with _HANDED_OUT_LOCK:
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port


def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_answers(host, port):
            return
        time.sleep(0.05)
    raise ConfigError(f"nothing answers on {host}:{port} after {timeout_s:.0f} s")


@dataclass
class PrivateBroker:
    """A Mosquitto started from deploy/mosquitto/dev.conf on ``port`` (loopback only)."""

    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if exe is None:
            raise ConfigError("no MQTT broker answers on 127.0.0.1:1883 and the mosquitto "
                              "binary is not installed (Debian: apt-get install mosquitto)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(DEV_CONF.read_text() + f"\nlistener {self.port} 127.0.0.1\n")
        log = (self.workdir / "mosquitto.log").open("ab")
        try:
            self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=log)
        finally:
            log.close()
        wait_for_port("127.0.0.1", self.port, 10)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
