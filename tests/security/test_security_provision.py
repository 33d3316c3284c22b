"""`gongzhi devices provision`: Mosquitto's hash format, the files it writes, idempotent re-runs
and rotation (the broker's view of these files is tested in test_security_broker.py)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from security_setup import REGISTRY, Provisioned, read_credentials, run_provision

from gongzhi.core import cli
from gongzhi.core.errors import ConfigError
from gongzhi.devices.mqtt_access import principals_for, render_acl
from gongzhi.devices.mqtt_passwords import (
    hash_password,
    parse_password_file,
    verify_password,
)
from gongzhi.devices.registry import parse_registry

ROOT = Path(__file__).resolve().parents[2]
FILES = ("credentials.csv", "passwd", "acl", "mqtt.env")


def snapshot(out_dir: Path) -> dict[str, bytes]:
    return {name: (out_dir / name).read_bytes() for name in FILES}


@pytest.mark.integration
def test_hashes_match_the_mosquitto_passwd_tool(tmp_path: Path) -> None:
    exe = shutil.which("mosquitto_passwd")
    assert exe is not None, "mosquitto_passwd comes with Debian's mosquitto package"
    path = tmp_path / "passwd"
    subprocess.run([exe, "-c", "-b", str(path), "alice", "s3cret pass"], check=True)
    encoded = parse_password_file(path.read_text())["alice"]
    assert verify_password(encoded, "s3cret pass")
    assert not verify_password(encoded, "s3cret pas")
    _, _, iterations, salt_b64, _ = encoded.split("$")
    assert hash_password("s3cret pass", base64.b64decode(salt_b64), int(iterations)) == encoded


def test_hash_format_and_malformed_entries() -> None:
    encoded = hash_password("pw", b"0123456789ab")
    prefix, iterations, salt, digest = encoded.split("$")[1:]
    assert (prefix, iterations, salt) == ("7", "101", "MDEyMzQ1Njc4OWFi")
    assert len(digest) == 88  # 64 bytes of SHA-512 in base64
    for bad in ("", "$6$abc$def", "$7$x$MDEy$AAAA", "$7$101$!!!$AAAA", encoded + "$", "pw"):
        assert not verify_password(bad, "pw"), bad
    with pytest.raises(ConfigError, match="passwd:2"):
        parse_password_file("a:$7$1$x$y\nno-colon\n", "passwd")


def test_files_modes_and_contents(provisioned: Provisioned) -> None:
    out = provisioned.out_dir
    modes = {name: (out / name).stat().st_mode & 0o777 for name in FILES}
    assert modes == {"credentials.csv": 0o600, "passwd": 0o600, "acl": 0o644, "mqtt.env": 0o600}

    passwords = provisioned.passwords
    assert set(passwords) == {"gateway", "gateway-b", "simulator", "dev-1", "dev-2", "dev-3"}
    assert len(set(passwords.values())) == 6 and all(len(p) >= 32 for p in passwords.values())
    rows = (out / "credentials.csv").read_text().splitlines()
    assert rows[0] == "device_id,username,password,role,estate_id"
    assert f"dev-3,dev-3,{passwords['dev-3']},device,e2" in rows
    assert f",gateway,{passwords['gateway']},gateway," in rows

    hashes = parse_password_file((out / "passwd").read_text())
    assert set(hashes) == set(passwords)
    for user, password in passwords.items():
        assert verify_password(hashes[user], password), user
        assert password not in (out / "passwd").read_text()

    env = (out / "mqtt.env").read_text().splitlines()
    assert f"GATEWAY_MQTT_PASSWORD={passwords['gateway']}" in env
    assert f"GATEWAY_B_MQTT_PASSWORD={passwords['gateway-b']}" in env
    assert f"SIMULATOR_MQTT_PASSWORD={passwords['simulator']}" in env
    assert not any(line.startswith("DEV_") for line in env)


def test_the_acl_grants_each_user_only_its_own_topics(provisioned: Provisioned) -> None:
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (provisioned.out_dir / "acl").read_text().splitlines():
        if line.startswith("user "):
            current = blocks.setdefault(line.split()[1], [])
        elif line.startswith(("topic", "pattern")):
            assert current is not None, f"{line!r} would apply to anonymous clients"
            current.append(line)
    assert blocks == {
        "gateway": ["topic read estate/#", "topic read $share/+/estate/#",
                    "topic write gongzhi/gateway/#"],
        "gateway-b": ["topic read estate/#", "topic read $share/+/estate/#",
                      "topic write gongzhi/gateway/#"],
        "simulator": ["topic write estate/#"],
        "dev-1": ["topic write estate/e1/dev-1/#"],
        "dev-2": ["topic write estate/e1/dev-2/#"],
        "dev-3": ["topic write estate/e2/dev-3/#"],
    }


def test_a_second_run_changes_nothing(provisioned: Provisioned,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(provisioned.out_dir)
    capsys.readouterr()
    assert provisioned.run() == 0
    assert snapshot(provisioned.out_dir) == before
    assert "0 new, 0 rotated, 6 kept, 0 revoked" in capsys.readouterr().out


def test_new_and_removed_devices(provisioned: Provisioned) -> None:
    old = provisioned.passwords
    lines = provisioned.registry.read_text().splitlines()
    kept = [line for line in lines if not line.startswith("dev-3,")]
    provisioned.registry.write_text("\n".join([*kept, "dev-4,smoke,e2,b7,2,6,601,0"]) + "\n")
    assert provisioned.run() == 0
    new = provisioned.passwords
    assert set(new) == {"gateway", "gateway-b", "simulator", "dev-1", "dev-2", "dev-4"}
    assert all(new[u] == old[u] for u in ("gateway", "simulator", "dev-1", "dev-2"))
    assert "dev-3" not in (provisioned.out_dir / "acl").read_text()
    assert "dev-3" not in parse_password_file((provisioned.out_dir / "passwd").read_text())


def test_rotation_of_everyone_or_of_named_users(provisioned: Provisioned) -> None:
    first = provisioned.passwords
    first_hashes = parse_password_file((provisioned.out_dir / "passwd").read_text())
    assert provisioned.run("--rotate", "dev-2", "gateway") == 0
    second = provisioned.passwords
    changed = {u for u in first if first[u] != second[u]}
    assert changed == {"dev-2", "gateway"}
    hashes = parse_password_file((provisioned.out_dir / "passwd").read_text())
    assert hashes["dev-1"] == first_hashes["dev-1"]  # unchanged users keep their hash line
    assert verify_password(hashes["dev-2"], second["dev-2"])

    assert provisioned.run("--rotate") == 0
    third = provisioned.passwords
    assert all(third[u] != second[u] for u in second)


def test_errors_leave_the_files_as_they_were(provisioned: Provisioned) -> None:
    before = snapshot(provisioned.out_dir)
    with pytest.raises(ConfigError, match="unknown MQTT user"):
        provisioned.run("--rotate", "dev-99")
    with pytest.raises(ConfigError, match="used twice"):
        run_provision("--registry", str(provisioned.registry), "--out-dir",
                      str(provisioned.out_dir), "--gateway-user", "dev-1")
    assert snapshot(provisioned.out_dir) == before

    (provisioned.out_dir / "credentials.csv").write_text("username,password\nonly-a-name,\n")
    broken = (provisioned.out_dir / "credentials.csv").read_bytes()
    with pytest.raises(ConfigError, match=r"credentials.csv:2"):
        provisioned.run()
    assert (provisioned.out_dir / "credentials.csv").read_bytes() == broken


def test_the_command_is_registered_and_prints_no_secret(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "gongzhi.devices.commands" in cli.COMMAND_MODULES
    registry = tmp_path / "registry.csv"
    registry.write_text(REGISTRY)
    assert run_provision("--registry", str(registry), "--out-dir", str(tmp_path / "o")) == 0
    out = capsys.readouterr().out
    assert "3 device(s) and 1 service user(s)" in out
    assert not any(p in out for p in read_credentials(tmp_path / "o").values())


def test_the_shipped_acl_example_is_what_provisioning_writes() -> None:
    example = (ROOT / "deploy" / "mosquitto" / "acl.example").read_text()
    registry = parse_registry(REGISTRY)
    assert example.endswith(render_acl(principals_for(registry, ["gateway"], ["simulator"])))


def test_the_shipped_broker_config_is_locked_down() -> None:
    conf = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    directives = [line.split(None, 1) for line in conf.splitlines()
                  if line.strip() and not line.startswith("#")]
    settings = {d[0]: d[1] if len(d) > 1 else "" for d in directives}
    assert settings["allow_anonymous"] == "false"
    assert settings["per_listener_settings"] == "false"  # the same rules on every listener
    assert {"password_file", "acl_file"} <= set(settings)
    assert int(settings["max_queued_messages"]) > 1000
    listeners = [d[1] for d in directives if d[0] == "listener"]
    assert listeners == ["1883", "8883"]
    assert settings["certfile"].startswith("/mosquitto/certs/")
    assert settings["keyfile"].startswith("/mosquitto/certs/")


def test_the_pattern_acl_style_has_one_line_for_all_devices(tmp_path: Path) -> None:
    registry = tmp_path / "registry.csv"
    registry.write_text(REGISTRY)
    assert run_provision("--registry", str(registry), "--out-dir", str(tmp_path / "o"),
                         "--acl-style", "pattern") == 0
    acl = [line for line in (tmp_path / "o" / "acl").read_text().splitlines()
           if line and not line.startswith("#")]
    assert acl == ["user gateway", "topic read estate/#", "topic read $share/+/estate/#",
                   "topic write gongzhi/gateway/#", "pattern write estate/+/%u/#"]
    # The devices still get their own passwords.
    assert {"dev-1", "dev-2", "dev-3"} <= set(read_credentials(tmp_path / "o"))


def test_a_damaged_password_file_is_rebuilt_from_the_credentials(
        provisioned: Provisioned) -> None:
    passwords = provisioned.passwords
    (provisioned.out_dir / "passwd").write_text("garbage without a colon\n")
    assert provisioned.run() == 0
    hashes = parse_password_file((provisioned.out_dir / "passwd").read_text())
    assert provisioned.passwords == passwords
    assert all(verify_password(hashes[u], p) for u, p in passwords.items())
