"""The storm through the whole platform: 1,000 alarms in one simulated minute posted to the
alarm API, tickets routed by the shipped duty matrix, the first notification of each planned
by the rosters and sent by the delivery layer to the local providers. No robot exceeds its
limit, every critical ticket reaches someone within 10 s of its alarm, the digests' counts add
up and nothing is left undelivered."""

from __future__ import annotations

from pathlib import Path

from notify_platform_storm import run_platform_storm
from notify_providers import Providers
from notify_storm import check_digests


def test_a_storm_through_the_platform(tmp_path: Path, base: str, providers: Providers):
    result = run_platform_storm(tmp_path, base, providers)
    assert len(result.critical_latency_ms) == 150
    assert max(result.critical_latency_ms.values()) <= 10_000, \
        sorted(result.critical_latency_ms.values())[-5:]
    assert result.stuck == []
    for provider, limit in (("wecom", 20), ("dingtalk", 20), ("feishu", 100)):
        assert 0 < providers.sent_in_window(provider, 60_000) <= limit, provider
    assert providers.sent_in_window("feishu", 1_000) <= 5
    assert not [a for a in providers.answers if a[2] in ("45009", "130101", "11232")]
    assert check_digests(providers, result.jobs) == []
