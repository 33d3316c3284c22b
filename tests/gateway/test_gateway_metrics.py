"""The Prometheus text of the gateway's counters and gauges."""

from __future__ import annotations

import pytest

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
