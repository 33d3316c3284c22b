"""Fixtures of the residents' report tests: one real platform per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pages.pages_support import Platform, running_platform


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("reports")) as running:
        yield running
