"""A throwaway PostgreSQL cluster for one test session: ``initdb`` into a private directory, a
server on a free loopback port with a random password, stopped and deleted at the end.

It needs only the server binaries of Debian's ``postgresql`` package (``scripts/ensure-deps.sh``
installs them), never a running server, a password prompt or the machine's own cluster. As root
the cluster runs as the ``postgres`` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from gongzhi.core.broker import free_port

BIN_GLOB = "/usr/lib/postgresql/*/bin"
START_TIMEOUT_S = 30.0


class PostgresUnavailable(RuntimeError):
    """The cluster cannot be made or started; the message says why and what to do."""


def server_bin_dir() -> Path:
    """The newest installed server's binaries (Debian keeps them off PATH)."""
    found = sorted((Path(p) for p in glob.glob(BIN_GLOB) if (Path(p) / "initdb").exists()),
                   key=lambda p: _version_key(p.parent.name))
    if found:
        return found[-1]
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PostgresUnavailable(
        "the PostgreSQL server binaries (initdb, postgres) are not installed: run "
        "`bash scripts/ensure-deps.sh test` (Debian: apt-get install postgresql)")


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


@dataclass
class ThrowawayPostgres:
    """``start()`` makes and starts the cluster; ``admin_url`` reaches its ``postgres``
    database as the superuser; ``stop()`` stops it and deletes every file."""

    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    home: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        bin_dir = server_bin_dir()
        run_as = self._run_as()
        self.home = Path(tempfile.mkdtemp(prefix="gongzhi-pg-"))
        data, sockets, log = self.home / "data", self.home / "sockets", self.home / "server.log"
        pwfile = self.home / "pwfile"
        pwfile.write_text(self.password + "\n")
        sockets.mkdir()
        if run_as:
            uid, gid = run_as["user"].pw_uid, run_as["user"].pw_gid
            for path in (self.home, sockets, pwfile):
                os.chown(path, uid, gid)
        done = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
             "--locale=C", "--auth=scram-sha-256", f"--pwfile={pwfile}", "--no-sync"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, **self._popen_user(run_as))
        pwfile.unlink()
        if done.returncode != 0:
            self._remove()
            raise PostgresUnavailable(f"initdb failed ({done.returncode}):\n{done.stderr}")
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port),
                 "-k", str(sockets), "-c", "listen_addresses=127.0.0.1",
                 # A test cluster: durability buys nothing, speed does.
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                **self._popen_user(run_as))
        self._wait_ready(log)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # "fast" shutdown: disconnect clients, stop
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._remove()

    # ---------------------------------------------------------------------------------------

    @staticmethod
    def _run_as() -> dict[str, Any] | None:
        if os.geteuid() != 0:
            return None
        try:
            return {"user": pwd.getpwnam("postgres")}
        except KeyError:
            raise PostgresUnavailable(
                "running as root, and there is no `postgres` user to run the test cluster as "
                "(PostgreSQL refuses root): install Debian's postgresql package") from None

    @staticmethod
    def _popen_user(run_as: dict[str, Any] | None) -> dict[str, Any]:
        if run_as is None:
            return {}
        user = run_as["user"]
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [],
                "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C",
                        "HOME": str(Path(user.pw_dir))}}

    def _wait_ready(self, log: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                text = log.read_text(errors="replace")
                self.stop()
                raise PostgresUnavailable(f"the test cluster exited while starting:\n{text}")
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    text = log.read_text(errors="replace")
                    self.stop()
                    raise PostgresUnavailable(
                        f"the test cluster did not accept connections within "
                        f"{START_TIMEOUT_S:.0f} s ({exc}):\n{text}") from None
            time.sleep(0.1)

    def _remove(self) -> None:
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None
