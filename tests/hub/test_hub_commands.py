"""``gongzhi tokens init`` and ``gongzhi platform`` as a newcomer runs them."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest
from hub_helpers import DEVICES, PlatformProcess, free_port, run_platform_command

from gongzhi.core.cli import main
from gongzhi.devices.registry import write_registry
from gongzhi.hub.tokens import new_tokens, write_tokens


def test_tokens_init_writes_a_private_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "t" / "tokens.json"
    assert main(["tokens", "init", "--out", str(path)]) == 0
    assert str(path.resolve()) in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    tokens = json.loads(path.read_text())
    assert set(tokens) == {"property_office", "police_room", "residents_committee",
                           "owners_committee", "party_committee", "npc_liaison", "gateway"}
    assert len(set(tokens.values())) == 7 and all(len(t) >= 24 for t in tokens.values())
    assert main(["tokens", "init", "--out", str(path)]) == 2  # never overwrites by accident
    assert "--force" in capsys.readouterr().err
    assert json.loads(path.read_text()) == tokens
    assert main(["tokens", "init", "--out", str(path), "--force"]) == 0
    assert json.loads(path.read_text()) != tokens
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["tokens.json"]  # no partial file left


def test_tokens_file_appears_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Another process polling for the file (the demo's users do) never reads half of it."""
    path = tmp_path / "tokens.json"
    seen: list[bool] = []
    real_fsync = os.fsync

    def fsync_and_look(fd: int) -> None:  # the moment a plain write would be half done
        seen.append(path.exists())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_and_look)
    write_tokens(path, new_tokens())
    assert seen == [False] and len(json.loads(path.read_text())) == 7


def test_tokens_init_defaults_to_the_data_directory(tmp_path: Path):
    assert main(["tokens", "init", "--data-dir", str(tmp_path)]) == 0
    assert (tmp_path / "tokens.json").exists()


def test_platform_command_serves_and_stops_on_ctrl_c(tmp_path: Path):
    assert main(["tokens", "init", "--data-dir", str(tmp_path)]) == 0
    write_registry(tmp_path / "registry.csv", DEVICES)
    tokens = json.loads((tmp_path / "tokens.json").read_text())
    port = free_port()
    with PlatformProcess(tmp_path, port) as platform, httpx.Client(timeout=1) as client:
        health = platform.first_answer(client, f"http://127.0.0.1:{port}/healthz")
        assert health.json() == {"status": "ok", "store": "sqlite"}
        me = client.get(f"http://127.0.0.1:{port}/api/me",
                        headers={"Authorization": f"Bearer {tokens['police_room']}"})
        assert me.json()["party"] == "police_room"
        assert (tmp_path / "platform.db").exists()
    assert platform.returncode == 0, platform.err
    assert f"127.0.0.1:{port}" in platform.out


@pytest.mark.parametrize(("setup", "message"), [
    ("no_tokens", "gongzhi tokens init"),
    ("bad_matrix", "matrix.yaml:2: "),
])
def test_platform_command_refuses_unusable_configuration(tmp_path: Path, setup: str,
                                                        message: str):
    extra: dict[str, str] = {}
    if setup == "bad_matrix":
        assert main(["tokens", "init", "--data-dir", str(tmp_path)]) == 0
        (tmp_path / "matrix.yaml").write_text("version: 1\nroutes: 5\n")
        extra["GONGZHI_DUTY_MATRIX"] = str(tmp_path / "matrix.yaml")
    result = run_platform_command(tmp_path, free_port(), **extra)
    assert result.returncode == 2
    assert message in result.stderr
