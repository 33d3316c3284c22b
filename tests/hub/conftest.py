"""Fixtures of the platform's tests: tokens, a registry, the store (SQLite and the real
PostgreSQL), and apps behind TestClients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hub_helpers import DEVICES, Api, ApiFactory

from gongzhi.core.clock import ManualClock
from gongzhi.core.settings import Settings
from gongzhi.devices.registry import write_registry
from gongzhi.hub.app import create_app
from gongzhi.hub.tokens import new_tokens, write_tokens


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, data_dir: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{data_dir / 'platform.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def tokens(data_dir: Path) -> dict[str, str]:
    found = new_tokens()
    write_tokens(data_dir / "tokens.json", found)
    return found


@pytest.fixture
def settings(data_dir: Path, database_url: str, tokens: dict[str, str]) -> Settings:
    write_registry(data_dir / "registry.csv", DEVICES)
    return Settings(data_dir=data_dir, database_url=database_url)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_api(settings: Settings, clock: ManualClock,
             tokens: dict[str, str]) -> Iterator[ApiFactory]:
    """Start apps (each a 'replica' or a restart) on the same settings; all closed at the end."""
    clients: list[TestClient] = []

    def make(**kwargs: Any) -> Api:
        app = create_app(kwargs.pop("settings", settings), kwargs.pop("clock", clock),
                         background=kwargs.pop("background", False), **kwargs)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return Api(client, tokens, app)

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: ApiFactory) -> Api:
    return make_api()


