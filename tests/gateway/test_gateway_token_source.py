"""Where the gateway's credential for the platform comes from."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from gongzhi.gateway.platform_client import TokenSource


@pytest.mark.parametrize(
    ("fixed", "file_entry", "expected"),
    [
        ("from-env", "from-file", "from-env"),  # GONGZHI_GATEWAY_TOKEN wins
        (None, "from-file", "from-file"),
        (None, "sha256:" + "ab" * 32, None),  # a hash is no credential
        (None, None, None),
    ],
)
def test_token_source(tmp_path: Path, fixed: str | None, file_entry: str | None,
                      expected: str | None) -> None:
    path = tmp_path / "tokens.json"
    tokens = {"property_office": "p"} | ({"gateway": file_entry} if file_entry else {})
    path.write_text(json.dumps(tokens))
    assert TokenSource(fixed, path).token() == expected


def test_a_hashed_gateway_entry_is_reported(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"gateway": "sha256:" + "cd" * 32}))
    with caplog.at_level(logging.WARNING):
        assert TokenSource(None, path).token() is None
    assert "GONGZHI_GATEWAY_TOKEN" in caplog.text


def test_a_rewritten_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"gateway": "old"}))
    source = TokenSource(None, path)
    assert source.token() == "old"
    path.write_text(json.dumps({"gateway": "new-token"}))
    os.utime(path, (1, 1))  # a different mtime, whatever the file system's resolution
    assert source.token() == "new-token"
