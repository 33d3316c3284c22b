"""Fixtures of the delivery layer's tests: the injected clock, the local providers on it and
their base URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from notify_providers import Providers, serve

from gongzhi.core.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def providers(clock: ManualClock) -> Providers:
    return Providers(clock)


@pytest.fixture
def base(providers: Providers) -> Iterator[str]:
    with serve(providers) as url:
        yield url
