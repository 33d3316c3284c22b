"""The import rules of docs/ARCHITECTURE.md, enforced: every module of every part is read (its
syntax tree, so imports inside functions count too) and each import is checked against the
tables below; a failure names every offending ``module:line``. The tables are shown in
docs/ARCHITECTURE.md, and a test keeps that copy the same as this one.

A second test imports the platform's application in a fresh interpreter, the way
``gongzhi platform`` does, and looks in ``sys.modules``: no MQTT client, no gateway, no simulator.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gongzhi.core import cli

ROOT = Path(__file__).resolve().parents[1]

# part (folder) -> its package
PARTS: dict[str, str] = {
    "core": "gongzhi.core",
    "devices": "gongzhi.devices",
    "telemetry": "gongzhi.telemetry",
    "gateway": "gongzhi.gateway",
    "platform": "gongzhi.hub",
    "simulators": "gongzhi.simulators",
    "evaluation": "gongzhi.evaluation",
}

# part -> the other parts its modules may import (anything not listed is refused)
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "core": (),
    "devices": ("core",),
    "telemetry": ("core", "devices"),
    "gateway": ("core", "devices", "telemetry"),
    "platform": ("core", "devices", "telemetry"),
    "simulators": ("core", "devices"),
    "evaluation": ("core", "devices", "telemetry", "gateway", "simulators"),
}

# The domain: decoding, detection, routing, ticket lifecycle, the simulators' physics. Pure:
# none of these modules imports a transport or a database.
DOMAIN: tuple[str, ...] = (
    "gongzhi.core.alarms",
    "gongzhi.core.clock",
    "gongzhi.core.errors",
    "gongzhi.devices.catalogue",
    "gongzhi.devices.registry",
    "gongzhi.gateway.decode",
    "gongzhi.gateway.senml",
    "gongzhi.gateway.messages",
    "gongzhi.gateway.reasons",
    "gongzhi.gateway.dedup",
    "gongzhi.gateway.partition",
    "gongzhi.gateway.line_protocol",
    "gongzhi.gateway.detection.*",
    "gongzhi.hub.routing",
    "gongzhi.hub.duty*",
    "gongzhi.hub.lifecycle",
    "gongzhi.hub.tickets",
    "gongzhi.hub.escalation",
    "gongzhi.hub.action_matrix",
    "gongzhi.hub.sla",
    "gongzhi.hub.privacy",
    "gongzhi.hub.incidents",
    "gongzhi.simulators.signals.*",
    "gongzhi.simulators.faults.*",
    "gongzhi.simulators.scenario",
    "gongzhi.simulators.groundtruth",
    "gongzhi.evaluation.analytics.scoring",
)

# What the domain never imports (a name and everything under it).
TRANSPORTS: tuple[str, ...] = (
    "paho", "httpx", "psycopg", "sqlite3", "sqlalchemy", "alembic", "fastapi", "starlette",
    "uvicorn", "pymodbus", "influxdb_client", "socket", "http", "urllib.request", "smtplib",
)

# The only modules that talk to paho (one per process).
PAHO_MODULES: tuple[str, ...] = ("gongzhi.gateway.mqtt", "gongzhi.simulators.publisher")

# The only module that touches the compiler (the others decorate with its ``compiled``).
COMPILER_MODULES: tuple[str, ...] = ("gongzhi.gateway.detection.compiled",)

# Never in sys.modules after the platform's application is built.
NOT_IN_PLATFORM: tuple[str, ...] = ("paho", "gongzhi.gateway", "gongzhi.simulators",
                                    "gongzhi.evaluation")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    where: str  # its file and the line of the import
    name: str  # what it imports

    def __str__(self) -> str:
        return f"{self.where} ({self.module}) imports {self.name}"


def module_name(part_dir: Path, path: Path) -> str:
    relative = path.relative_to(part_dir).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imports(root: Path = ROOT) -> list[Import]:
    """Every absolute import of every module of every part under ``root``."""
    found: list[Import] = []
    for part in PARTS:
        for path in sorted((root / part / "gongzhi").rglob("*.py")):
            module = module_name(root / part, path)
            where = path.relative_to(root)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                else:
                    continue
                found += [Import(module, f"{where}:{node.lineno}", name) for name in names]
    return found


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def part_of(module: str) -> str | None:
    return next((part for part, package in PARTS.items() if under(module, package)), None)


def matches(module: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(module, pattern) or module == pattern.removesuffix(".*")


def is_domain(module: str) -> bool:
    return any(matches(module, pattern) for pattern in DOMAIN)


def across_boundaries(found: list[Import]) -> list[Import]:
    return [i for i in found
            if (imported := part_of(i.name)) not in (None, part_of(i.module))
            and imported not in MAY_IMPORT[part_of(i.module) or ""]]


def domain_transports(found: list[Import]) -> list[Import]:
    return [i for i in found if is_domain(i.module) and any(under(i.name, t) for t in TRANSPORTS)]


def paho_outside(found: list[Import]) -> list[Import]:
    return [i for i in found if under(i.name, "paho") and i.module not in PAHO_MODULES]


def report(title: str, found: list[Import]) -> str:
    return f"{title} ({len(found)}):\n  " + "\n  ".join(str(i) for i in found)


def test_the_tables_name_every_part_and_only_real_modules() -> None:
    assert set(MAY_IMPORT) == set(PARTS)
    assert set(PARTS) == {p.name for p in ROOT.iterdir() if (p / "gongzhi").is_dir()}
    found = imports()
    assert all(part_of(i.module) is not None for i in found)
    modules = {i.module for i in found}
    stale = [p for p in DOMAIN if not any(matches(m, p) for m in modules)]
    assert not stale, f"DOMAIN names modules that do not exist: {stale}"


def test_each_part_imports_only_what_it_may() -> None:
    found = across_boundaries(imports())
    assert not found, report("imports across the parts' boundaries (see MAY_IMPORT)", found)


def test_the_domain_imports_no_transport() -> None:
    found = domain_transports(imports())
    assert not found, report("domain modules importing a transport or a database", found)


def test_one_module_per_process_talks_to_paho() -> None:
    found = paho_outside(imports())
    assert not found, report("paho imported outside " + ", ".join(PAHO_MODULES), found)


def test_one_module_touches_the_compiler() -> None:
    found = [i for i in imports() if under(i.name, "numba") and i.module not in COMPILER_MODULES]
    assert any(i.module in COMPILER_MODULES and under(i.name, "numba") for i in imports())
    assert not found, report("numba imported outside " + ", ".join(COMPILER_MODULES), found)


def test_the_checks_find_what_they_must_refuse(tmp_path: Path) -> None:
    """A tree that breaks each rule, lazily inside functions too, is caught line by line."""
    files = {
        "platform/gongzhi/hub/trends.py":
            "import json\n\ndef f():\n    from gongzhi.gateway.service import x\n",
        "gateway/gongzhi/gateway/analytics.py": "import gongzhi.simulators.engine\n",
        "gateway/gongzhi/gateway/detection/rules.py": "import sqlite3\nimport paho.mqtt.client\n",
        "simulators/gongzhi/simulators/publisher.py": "import paho.mqtt.client\n",
        "core/gongzhi/core/clock.py": "from gongzhi.core.errors import GongzhiError\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = imports(tmp_path)
    assert [str(i) for i in across_boundaries(found)] == [
        "gateway/gongzhi/gateway/analytics.py:1 (gongzhi.gateway.analytics) imports "
        "gongzhi.simulators.engine",
        "platform/gongzhi/hub/trends.py:4 (gongzhi.hub.trends) imports gongzhi.gateway.service"]
    assert [i.where for i in domain_transports(found)] == [
        "gateway/gongzhi/gateway/detection/rules.py:1",
        "gateway/gongzhi/gateway/detection/rules.py:2"]
    assert [i.where for i in paho_outside(found)] == [
        "gateway/gongzhi/gateway/detection/rules.py:2"]


PLATFORM_PROBE = """
import json, sys
from gongzhi.core.cli import build_parser, chosen_command, settings_from_args
argv = ["platform", "--data-dir", sys.argv[1]]
args = build_parser(chosen_command(argv)).parse_args(argv)
from gongzhi.hub.app import create_app
app = create_app(settings_from_args(args), background=False)
assert app.routes
print(json.dumps(sorted(sys.modules)))
"""


def test_the_platform_loads_no_mqtt_gateway_or_simulator(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", PLATFORM_PROBE, str(tmp_path)], check=True,
                         capture_output=True, text=True, cwd=tmp_path, timeout=120).stdout
    loaded: list[str] = json.loads(out.splitlines()[-1])
    assert "gongzhi.hub.app" in loaded and "gongzhi.telemetry.reader" in loaded
    found = [m for m in loaded if any(under(m, p) for p in NOT_IN_PLATFORM)]
    assert not found, f"the platform loaded {found}"


def test_the_command_list_matches_the_commands_own_help() -> None:
    """``gongzhi --help`` lists the lazy summaries; they are what each module registers."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    registered = {action.dest: action.help for action in sub._choices_actions}
    assert registered == {name: summary for name, (_, summary) in cli.COMMANDS.items()}


def rules_markdown() -> str:
    """The tables as docs/ARCHITECTURE.md shows them."""
    rows = ["| part | package | may import |", "|---|---|---|"]
    rows += [f"| `{part}/` | `{package}` | "
             + (", ".join(f"`{p}`" for p in MAY_IMPORT[part]) or "nothing of ours") + " |"
             for part, package in PARTS.items()]
    return "\n".join([
        *rows, "",
        "Domain modules (no transport, no database): "
        + ", ".join(f"`{d}`" for d in DOMAIN) + ".", "",
        "Transports they never import: " + ", ".join(f"`{t}`" for t in TRANSPORTS) + ".", "",
        "Only " + " and ".join(f"`{m}`" for m in PAHO_MODULES) + " import paho.", "",
        "After the platform's application is built, none of these is loaded: "
        + ", ".join(f"`{m}`" for m in NOT_IN_PLATFORM) + ".",
    ])


def test_the_architecture_document_shows_these_rules() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    flowed = " ".join(text.split())
    for paragraph in rules_markdown().split("\n\n"):
        if paragraph.startswith("|"):
            assert paragraph in text, f"docs/ARCHITECTURE.md lacks the table:\n{paragraph}"
        else:
            assert " ".join(paragraph.split()) in flowed, \
                f"docs/ARCHITECTURE.md lacks: {paragraph}"
