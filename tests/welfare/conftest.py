"""Fixtures for the welfare tests: the simulated household's recordings that a restart cuts
and its gateway's settings (the builders are in welfare_support)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gongzhi.core.alarms import AlarmState
from gongzhi.core.settings import Settings
from gongzhi.devices.registry import write_registry
from gongzhi.evaluation.welfare_sim import LEARN_DAYS
from gongzhi.simulators.living import DAY_MS, HOUR_MS, Fault
from tests.conftest import Broker
from tests.gateway.gateway_support import AlarmPeer, gateway_settings
from tests.welfare.welfare_support import FALL, RECORDS, Fall, Trip, raises, recorded, whole


@pytest.fixture
def fall() -> Fall:
    rows = recorded(Fault("no_activity", FALL), LEARN_DAYS + 1)
    [never_stopped] = raises(whole(rows))
    return Fall(rows, FALL - 2 * HOUR_MS, never_stopped)


@pytest.fixture
def trip() -> Trip:
    back = FALL + 2 * DAY_MS + 9 * HOUR_MS
    rows = recorded(Fault("away", FALL, back), LEARN_DAYS + 4)
    alarms = whole(rows)
    [raised] = raises(alarms)
    [cleared] = [a for a in alarms if a.state is AlarmState.CLEAR]
    return Trip(rows, raised.ts_ms + DAY_MS, back, raised, cleared)


@pytest.fixture
def household_settings(data_dir: Path, broker: Broker,
                       peer: AlarmPeer) -> Callable[..., Settings]:
    """Settings of a gateway on the test's broker and platform peer, its registry the simulated
    household's; keyword arguments are further settings."""

    def build(**extra: Any) -> Settings:
        settings = gateway_settings(data_dir, broker.url, peer.url, **extra)
        write_registry(settings.registry_path, RECORDS)
        return settings

    return build
