"""Fixtures for detection tests; the builders are in detection_support."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gongzhi.devices.registry import DeviceRecord, Registry


@pytest.fixture
def registry_of() -> Callable[..., Registry]:
    def build(*records: DeviceRecord) -> Registry:
        return Registry(records)
    return build
