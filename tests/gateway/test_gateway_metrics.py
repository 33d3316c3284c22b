"""The Prometheus text of the gateway's counters and gauges (prometheus_client, a registry of
its own)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, Counter

from gongzhi.gateway.metrics import GatewayMetrics


def test_counters_labels_and_gauges_render() -> None:
    m = GatewayMetrics()
    m.inc("messages_rejected_total", reason="not_json")
    m.inc("messages_rejected_total", 2, reason='we"ird')
    m.inc("duplicates_total", 3)
    m.gauge("queue_depth", "messages waiting", lambda: 7)
    m.gauge("broken", "a gauge that fails", lambda: 1 / 0)
    text = m.render()
    assert '# TYPE gongzhi_gateway_messages_rejected_total counter' in text
    assert 'gongzhi_gateway_messages_rejected_total{reason="not_json"} 1' in text
    assert 'gongzhi_gateway_messages_rejected_total{reason="we\\"ird"} 2' in text
    assert "gongzhi_gateway_duplicates_total 3" in text
    assert "gongzhi_gateway_alarms_sent_total 0" in text  # never incremented: still shown
    assert "gongzhi_gateway_queue_depth 7" in text
    assert "broken" not in text
    assert m.total("messages_rejected_total") == 3


def test_unknown_counter_is_an_error() -> None:
    with pytest.raises(KeyError):
        GatewayMetrics().inc("no_such_total")


def test_each_gateway_has_its_own_registry_and_others_can_add_to_it() -> None:
    first, second = GatewayMetrics(), GatewayMetrics()
    first.inc("duplicates_total", 2)
    assert (first.value("duplicates_total"), second.value("duplicates_total")) == (2, 0)
    # Nothing in the library's global registry: several gateways in one process do not collide.
    assert not [m for m in REGISTRY.collect() if m.name.startswith("gongzhi_")]
    # Another part registers its own figures in the gateway's registry.
    per_source = Counter("gongzhi_gateway_source_messages_received", "messages a source took",
                         ["source"], registry=first.registry)
    per_source.labels("lorawan").inc(5)
    text = first.render()
    assert 'gongzhi_gateway_source_messages_received_total{source="lorawan"} 5.0' in text
    assert "_created" not in text  # the creation-time series of counters are left out
    assert "gongzhi_gateway_source" not in second.render()

