"""The mixed demo's sources file and token files: each written whole (a reader that sees the
file sees all of it), the tokens owner-only and kept across runs, no secret in the YAML."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from gongzhi.core.demo_routes import PUSH, MixedRoutes

REGISTRY = ("device_id,external_id\n"
            "rcm-1,modbus:127.0.0.1:5020/1\n"
            "rcm-2,modbus:127.0.0.1:5020/2\n"
            "smoke-1,\n")


def test_the_sources_file_and_its_tokens_are_written_whole_and_kept(tmp_path: Path) -> None:
    registry = tmp_path / "registry.csv"
    registry.write_text(REGISTRY, encoding="utf-8")
    routes = MixedRoutes(tmp_path / "sources", {"ctwing": 1, "onenet": 2, "modbus": 3})

    written = routes.write_sources(registry)
    tokens = {name: routes.token_file(name).read_text(encoding="utf-8") for name in PUSH}
    routes.write_sources(registry)  # a second run keeps the tokens the first one made

    assert sorted(p.name for p in routes.directory.iterdir()) \
        == ["ctwing.token", "onenet.token", "sources.yaml"]  # no partial file left behind
    text = written.read_text(encoding="utf-8")
    sources = {s["id"]: s for s in yaml.safe_load(text)["sources"]}
    assert sources["monitors"]["options"]["slaves"] == [{"unit": 1, "map": "rcm"},
                                                      {"unit": 2, "map": "rcm"}]
    for name in PUSH:
        path = routes.token_file(name)
        token = path.read_text(encoding="utf-8")
        assert token == tokens[name] and len(token.strip()) >= 32
        assert token.strip() not in text
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sources["telecom"]["options"]["token"] == {"file": "ctwing.token"}
    assert sources["mobile"]["options"]["token"] == {"file": "onenet.token"}
