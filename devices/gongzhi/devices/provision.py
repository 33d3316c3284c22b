"""Per-device MQTT credentials for the deployment broker, from the device registry.

``provision`` writes into one directory:

- ``credentials.csv`` (mode 0600): ``device_id,username,password,role,estate_id``, the plain
  passwords for whoever installs the devices and configures the services;
- ``passwd``: Mosquitto's password file (PBKDF2-SHA512 ``$7$`` hashes);
- ``acl``: Mosquitto's ACL file (see ``gongzhi.devices.mqtt_access``);
- ``mqtt.env`` (mode 0600): ``<USER>_MQTT_PASSWORD=...`` for the gateway and the extra users,
  ready to append to docker-compose's ``.env``.

Running it again keeps every existing password (and its hash, so the files do not change) and
only adds users for new devices and drops users of devices gone from the registry. Rotation
gives the named users (or all) new passwords.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gongzhi.core.errors import ConfigError
from gongzhi.core.files import write_atomically
from gongzhi.devices.mqtt_access import (
    AclStyle,
    MqttPrincipal,
    Role,
    principals_for,
    render_acl,
)
from gongzhi.devices.mqtt_passwords import (
    SALT_BYTES,
    format_password_file,
    hash_password,
    parse_password_file,
    verify_password,
)
from gongzhi.devices.registry import Registry

CREDENTIALS_FILE = "credentials.csv"
PASSWORD_FILE = "passwd"
ACL_FILE = "acl"
ENV_FILE = "mqtt.env"
CREDENTIAL_COLUMNS = ("device_id", "username", "password", "role", "estate_id")
SECRET_MODE = 0o600
# The ACL holds no secret; the broker (another user inside its container) must read it.
PUBLIC_MODE = 0o644


def new_password() -> str:
    """192 random bits in URL-safe characters: usable in mqtt://user:password@host unescaped."""
    return secrets.token_urlsafe(24)


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


@dataclass(frozen=True, slots=True)
class Credential:
    principal: MqttPrincipal
    password: str


@dataclass(frozen=True, slots=True)
class CredentialPlan:
    """Who gets which password, and what changed since the last run (usernames)."""

    credentials: tuple[Credential, ...]
    created: tuple[str, ...]
    rotated: tuple[str, ...]
    kept: tuple[str, ...]
    revoked: tuple[str, ...]


def plan_credentials(principals: Sequence[MqttPrincipal], existing: Mapping[str, str], *,
                     rotate_all: bool = False, rotate: Collection[str] = (),
                     make_password: Callable[[], str] = new_password) -> CredentialPlan:
    names = {p.username for p in principals}
    unknown = sorted(set(rotate) - names)
    if unknown:
        raise ConfigError(f"cannot rotate unknown MQTT user(s): {', '.join(unknown)}")
    credentials: list[Credential] = []
    created: list[str] = []
    rotated: list[str] = []
    kept: list[str] = []
    for p in principals:
        old = existing.get(p.username)
        if old is None:
            credentials.append(Credential(p, make_password()))
            created.append(p.username)
        elif rotate_all or p.username in rotate:
            credentials.append(Credential(p, make_password()))
            rotated.append(p.username)
        else:
            credentials.append(Credential(p, old))
            kept.append(p.username)
    revoked = tuple(sorted(set(existing) - names))
    return CredentialPlan(tuple(credentials), tuple(created), tuple(rotated), tuple(kept),
                          revoked)


def password_entries(credentials: Sequence[Credential], existing_hashes: Mapping[str, str],
                     make_salt: Callable[[], bytes] = new_salt) -> list[tuple[str, str]]:
    """One ``(username, $7$ hash)`` per credential; a hash that still matches is reused."""
    entries = []
    for c in credentials:
        old = existing_hashes.get(c.principal.username)
        if old is not None and verify_password(old, c.password):
            entries.append((c.principal.username, old))
        else:
            entries.append((c.principal.username, hash_password(c.password, make_salt())))
    return entries


def render_credentials(credentials: Sequence[Credential]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CREDENTIAL_COLUMNS)
    for c in credentials:
        p = c.principal
        writer.writerow([p.device_id or "", p.username, c.password, p.role.value,
                         p.estate_id or ""])
    return buffer.getvalue()


def parse_credentials(text: str, source: str) -> dict[str, str]:
    """``{username: password}`` from a credentials file written by a previous run."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("username", "password") if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"missing column(s) {', '.join(missing)}", source=f"{source}:1")
    found: dict[str, str] = {}
    for row in reader:
        where = f"{source}:{reader.line_num}"
        username = (row.get("username") or "").strip()
        password = row.get("password") or ""
        if not username or not password:
            raise ConfigError("empty username or password", source=where)
        if username in found:
            raise ConfigError(f"duplicate username {username!r}", source=where)
        found[username] = password
    return found


def env_variable(username: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", username.upper()) + "_MQTT_PASSWORD"


def render_env(credentials: Sequence[Credential]) -> str:
    lines = ["# MQTT passwords of the services; append to the .env beside docker-compose.yml."]
    lines += [f"{env_variable(c.principal.username)}={c.password}" for c in credentials
              if c.principal.role is not Role.DEVICE]
    return "\n".join(lines) + "\n"


def _read_optional(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from None


def _old_hashes(path: Path) -> dict[str, str]:
    """The previous run's hashes, to keep unchanged lines unchanged. Missing, unreadable (e.g.
    handed over to the broker's user) or malformed: every hash is written afresh from the
    credentials, which are the source of truth."""
    try:
        return parse_password_file(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, ConfigError):
        return {}


def write_file(path: Path, text: str, mode: int) -> None:
    """Atomically replace ``path``; the file has ``mode`` from its creation on, so a secret is
    never readable by others even for a moment."""
    write_atomically(path, text, mode)


def provision(registry: Registry, out_dir: Path, *, gateway_users: Sequence[str] = ("gateway",),
              extra_users: Sequence[str] = (), acl_style: AclStyle = AclStyle.PER_DEVICE,
              rotate_all: bool = False, rotate: Collection[str] = (),
              make_password: Callable[[], str] = new_password,
              make_salt: Callable[[], bytes] = new_salt) -> CredentialPlan:
    """Write the four files into ``out_dir`` and return what changed. The credentials file is
    written first: whatever happens later, no password handed out is lost."""
    principals = principals_for(registry, gateway_users, extra_users)
    credentials_path = out_dir / CREDENTIALS_FILE
    old_credentials = _read_optional(credentials_path)
    existing = ({} if old_credentials is None
                else parse_credentials(old_credentials, str(credentials_path)))
    old_hashes = _old_hashes(out_dir / PASSWORD_FILE)
    plan = plan_credentials(principals, existing, rotate_all=rotate_all, rotate=rotate,
                            make_password=make_password)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_file(credentials_path, render_credentials(plan.credentials), SECRET_MODE)
        write_file(out_dir / PASSWORD_FILE, format_password_file(
            password_entries(plan.credentials, old_hashes, make_salt)), SECRET_MODE)
        write_file(out_dir / ACL_FILE, render_acl(principals, acl_style), PUBLIC_MODE)
        write_file(out_dir / ENV_FILE, render_env(plan.credentials), SECRET_MODE)
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror}",
                          source=str(exc.filename or out_dir)) from None
    return plan
