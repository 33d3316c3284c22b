"""The gateway never imports the simulators: a deployed gateway carries no simulator, and the
simulated evaluation lives in gongzhi.evaluation, which may use both."""

from __future__ import annotations

import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "gateway" / "gongzhi" / "gateway"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_gateway_module_imports_the_simulators_or_the_evaluation() -> None:
    sources = sorted(GATEWAY.rglob("*.py"))
    assert len(sources) > 40
    offenders = {str(p.relative_to(GATEWAY)): sorted(m for m in imported_modules(p)
                                                     if m.startswith(("gongzhi.simulators",
                                                                      "gongzhi.evaluation")))
                 for p in sources}
    assert {k: v for k, v in offenders.items() if v} == {}
