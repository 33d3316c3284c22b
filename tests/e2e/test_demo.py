"""The README's first command, ``gongzhi demo``, as a user runs it: broker, platform, gateway and
a simulated estate come up, tickets reach the alarm wall's API, Ctrl-C or SIGTERM stops
everything (nothing is left running), and settings are honoured or refused with the reason."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gongzhi.core.cli import main
from gongzhi.core.demo import (
    EXAMPLE_ROSTERS,
    child_env,
    replay_start,
    without_password,
    write_example_rosters,
)
from gongzhi.core.settings import Settings
from gongzhi.hub.notify.roster import duty_at, load_rosters
from gongzhi.hub.parties import PARTY_IDS, SUPERVISORS
from tests.conftest import Broker, free_port
from tests.e2e.harness import wait_until

NOW = 1_800_000_000_000
MINUTE = 60_000


@pytest.mark.parametrize(("speed", "start"), [
    (1.0, NOW),                          # real time: now
    (0.5, NOW),                          # slower than real time: now
    (20.0, NOW - 100 * MINUTE),          # five real minutes of replay at 20x
    (288.0, NOW - 24 * 60 * MINUTE),     # exactly a day in five minutes
    (1440.0, NOW - 24 * 60 * MINUTE),    # at most a day
])
def test_a_fast_demo_replays_the_recent_past(speed: float, start: int) -> None:
    assert replay_start(NOW, speed) == start


class Demo:
    """``gongzhi demo`` in a process group of its own, so that the test can tell whether it left
    anything behind (a process of the group still alive after the demo exited) and never does.
    ``sigint_ignored``: started as a background job of a non-interactive shell starts it, which
    inherits SIGINT ignored."""

    def __init__(self, *args: str, env: dict[str, str], sigint_ignored: bool = False) -> None:
        command = [sys.executable, "-m", "gongzhi.core.cli", "demo", *args]
        if sigint_ignored:
            command = [sys.executable, "-c",
                       "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                       "os.execv(sys.argv[1], sys.argv[1:])", *command]
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:  # closed at the end of the output
            for line in self.proc.stdout:
                self._lines.append(line.decode(errors="replace"))

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def stop(self, sig: signal.Signals) -> int:
        """Send ``sig``, wait for the demo, then check that its whole group is gone."""
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        assert self.leftovers() == [], "the demo left processes behind"
        return self.proc.returncode

    def leftovers(self) -> list[str]:
        """Processes of the demo's group still alive a few seconds after it exited (killed
        then, so that the test never leaves them behind)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            alive = group_members(self.proc.pid)
            if not alive:
                return []
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return alive

    def kill_group(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._reader.join(timeout=10)


def group_members(pgid: int) -> list[str]:
    """Command lines of the live (not zombie) processes in process group ``pgid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace").strip())
    return found


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GONGZHI_")}


@pytest.mark.integration
def test_demo_brings_tickets_to_the_wall_and_stops_on_ctrl_c_even_as_a_background_job(
        tmp_path: Path, broker: Broker) -> None:
    port = free_port()
    data = tmp_path / "demo"
    demo = Demo("--estate", "small", "--speed", "20", "--data-dir", str(data),
                "--mqtt-url", broker.url, "--http-port", str(port), env=clean_env(),
                sigint_ignored=True)
    try:
        tokens = data / "tokens.json"
        wait_until(tokens.exists, 60, "the demo's tokens")
        office = json.loads(tokens.read_text())["property_office"]

        def tickets() -> list[dict[str, Any]]:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/tickets",
                              headers={"Authorization": f"Bearer {office}"}, timeout=2)
            except httpx.HTTPError:
                return []
            body = r.json() if r.status_code == 200 else []
            return list(body["tickets"] if isinstance(body, dict) else body)

        # A fault about every 30 simulated seconds, 20 times real time.
        found = wait_until(tickets, 60, "a ticket from the simulated estate")
        assert {t["location"]["estate_id"] for t in found} == {"small"}
        wall = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert wall.status_code == 200 and "<html" in wall.text.lower()
        check_example_roster_on_duty(port, json.loads(tokens.read_text()), data)
        assert demo.stop(signal.SIGINT) == 0, demo.output[-3000:]
    finally:
        demo.kill_group()
    text = demo.output
    assert "alarm wall (property office)" in text and "stopping" in text
    assert office not in text  # the banner names the tokens' file, never a token
    for name in ("platform", "gateway", "simulator"):
        assert (data / "logs" / f"{name}.log").stat().st_size > 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def check_example_roster_on_duty(port: int, tokens: dict[str, str], data: Path) -> None:
    """Each party's on-duty answer names the one person of the example roster on the shift
    running now, never a mobile number; another party's roster is refused."""
    rosters = load_rosters(data / "rosters.yaml")
    mobiles = [p.mobile for r in rosters.parties.values() for p in r.people]
    assert mobiles and all(m and m.startswith("+447700900") for m in mobiles)  # fiction's range
    for party in sorted(PARTY_IDS):
        auth = {"Authorization": f"Bearer {tokens[party]}"}
        before = duty_at(rosters, party, int(time.time() * 1000))
        answer = httpx.get(f"http://127.0.0.1:{port}/api/parties/{party}/on-duty",
                           headers=auth, timeout=5)
        after = duty_at(rosters, party, int(time.time() * 1000))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if party in SUPERVISORS:
            assert body["shift"] is None and body["people"] == []
            continue
        assert body["shift"] in ("day", "night") and body["timezone"] == "Asia/Shanghai"
        expected = [(d.shift, [p.name for p in d.people]) for d in (before, after)]
        assert (body["shift"], [p["name"] for p in body["people"]]) in expected
        assert len(body["people"]) == 1 and "示例" in body["people"][0]["name"]
        assert not any(m in answer.text or m[1:] in answer.text for m in mobiles if m)
        other = "police_room" if party != "police_room" else "property_office"
        refused = httpx.get(f"http://127.0.0.1:{port}/api/parties/{other}/on-duty",
                            headers=auth, timeout=5)
        assert refused.status_code == 403 and refused.json()["detail"]["reason"] == "other_party"


def test_the_example_roster_has_one_person_per_party_on_duty_round_the_clock() -> None:
    rosters = load_rosters(EXAMPLE_ROSTERS)
    assert set(rosters.parties) == PARTY_IDS - SUPERVISORS
    names = set()
    for party, roster in rosters.parties.items():
        assert all(not p.channels for p in roster.people)  # nobody is ever sent anything
        for hour in range(0, 24 * 14):  # every hour of two weeks
            people = duty_at(rosters, party, NOW + hour * 3_600_000).people
            assert len(people) == 1, (party, hour)
            names.add(people[0].name)
    assert len(names) == 2 * len(rosters.parties)


def test_demo_writes_the_example_roster_unless_one_is_named(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    data.mkdir()
    own = tmp_path / "mine.yaml"
    for named, expected in ((None, data / "rosters.yaml"), (own, own)):
        settings = Settings(data_dir=data, rosters=named)
        write_example_rosters(settings, data)
        env = child_env({}, settings, "mqtt://127.0.0.1:1", data, 1)
        assert env["GONGZHI_ROSTERS"] == str(expected.resolve())
    assert (data / "rosters.yaml").read_text() == EXAMPLE_ROSTERS.read_text()
    assert not own.exists()  # the user's own is honoured, never written


@pytest.mark.integration
@pytest.mark.postgres
def test_demo_honours_the_tokens_file_and_database_and_stops_on_sigterm(
        tmp_path: Path, broker: Broker, postgres_url: str) -> None:
    port = free_port()
    tokens = tmp_path / "secrets" / "my-tokens.json"
    tokens.parent.mkdir()
    env = clean_env() | {"GONGZHI_TOKENS_FILE": str(tokens),
                         "GONGZHI_DATABASE_URL": postgres_url}
    demo = Demo("--estate", "small", "--no-simulator", "--data-dir", str(tmp_path / "demo"),
                "--mqtt-url", broker.url, "--http-port", str(port), env=env)
    try:
        wait_until(lambda: "Gongzhi demo is running" in demo.output, 60, "the demo's banner")
        office = json.loads(tokens.read_text())["property_office"]
        answer = httpx.get(f"http://127.0.0.1:{port}/api/tickets", timeout=5,
                           headers={"Authorization": f"Bearer {office}"})
        assert answer.status_code == 200  # the platform reads the tokens file named
        with psycopg.connect(postgres_url) as db:  # and keeps its tickets in that database
            tables = {row[0] for row in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert "tickets" in tables, tables
        assert demo.stop(signal.SIGTERM) == 0, demo.output[-3000:]
    finally:
        demo.kill_group()
    assert not (tmp_path / "demo" / "tokens.json").exists()
    assert f"ticket store:                  {without_password(postgres_url)}" in demo.output
    assert postgres_url.split(":")[2].split("@")[0] not in demo.output  # no password shown


@pytest.mark.parametrize("variable", ["GONGZHI_REGISTRY", "GONGZHI_PLATFORM_URL",
                                      "GONGZHI_HTTP_TLS_CERT"])
def test_demo_refuses_settings_it_would_replace(
        variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in [k for k in os.environ if k.startswith("GONGZHI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv(variable, str(tmp_path / "x"))
    assert main(["demo", "--data-dir", str(tmp_path / "demo"), "--mqtt-url",
                 "mqtt://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert variable in err and "cannot honour" in err
    assert not (tmp_path / "demo" / "logs").exists()  # refused before anything started


def test_a_typo_in_a_setting_stops_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GONGZHI_DATABSE_URL", "postgresql://x")
    assert main(["demo", "--data-dir", str(tmp_path / "demo")]) == 2
    assert "GONGZHI_DATABSE_URL" in capsys.readouterr().err
