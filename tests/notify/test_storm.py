"""A storm of 1,000 alarms in one simulated minute across four parties: no channel exceeds its
provider's limit (no throttling answer at all), every critical ticket reaches someone within
10 s, nothing critical is dropped, and every digest's counts add up."""

from __future__ import annotations

from pathlib import Path

import pytest
from notify_storm import LIMITS_PER_MIN, run_storm


@pytest.mark.parametrize("seed", [1, 2])
def test_a_storm_stays_within_every_limit_and_reaches_every_critical_ticket(tmp_path: Path,
                                                                           seed: int):
    result = run_storm(tmp_path / "storm.db", count=1000, seed=seed)
    assert len(result.alarms) == 1000
    critical = [a for a in result.alarms if a.severity == "critical"]
    assert len(critical) > 100
    assert result.dropped_critical == []
    assert len(result.critical_latency_ms) == len(critical)
    assert max(result.critical_latency_ms.values()) <= 10_000
    for provider, limit in LIMITS_PER_MIN.items():
        assert result.max_per_min[provider] <= limit, result.max_per_min
    assert result.max_per_s["feishu"] <= 5
    assert result.throttle_answers == 0
    assert result.digests > 10 and result.digest_problems == []
    assert result.states.get("failed", 0) == 0 and result.states.get("pending", 0) == 0
