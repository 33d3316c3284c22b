"""The gateway's log levels: its own lines at the configured level, the libraries' at WARNING."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from gongzhi.gateway.commands import set_log_levels

NAMES = ("", "gongzhi.gateway", "httpx", "numba", "numba.core.ssa")


@pytest.fixture(autouse=True)
def levels_restored() -> Iterator[None]:
    before = {name: logging.getLogger(name).level for name in NAMES}
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


def test_debug_shows_the_gateway_s_lines_and_not_the_compiler_s() -> None:
    set_log_levels("debug")
    assert logging.getLogger("gongzhi.gateway.service").isEnabledFor(logging.DEBUG)
    # The compiler logs every pass over every rule it compiles at a cold start.
    assert not logging.getLogger("numba.core.ssa").isEnabledFor(logging.INFO)
    assert logging.getLogger("numba.core.ssa").isEnabledFor(logging.WARNING)
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)


def test_warning_keeps_the_gateway_s_info_lines_out() -> None:
    set_log_levels("WARNING")
    assert not logging.getLogger("gongzhi.gateway.service").isEnabledFor(logging.INFO)
    assert logging.getLogger("gongzhi.gateway.service").isEnabledFor(logging.WARNING)
