"""The Prometheus text of the platform's counters and gauges (prometheus_client, a registry
per application; the store's figures read at scrape time)."""

from __future__ import annotations

import pytest

from gongzhi.hub.metrics import Metrics


def test_hub_metrics_count_and_show_the_gauges_read_at_scrape_time() -> None:
    one, other = Metrics(), Metrics()
    one.inc("gongzhi_actions_total", action="ack")
    one.inc("gongzhi_sse_clients")
    one.inc("gongzhi_sse_clients")
    one.inc("gongzhi_sse_clients", -1)
    assert one.value("gongzhi_actions_total", action="ack") == 1
    assert other.value("gongzhi_actions_total", action="ack") == 0
    text = one.render([("gongzhi_tickets", {"kind": "fire", "status": "open"}, 2),
                       ("gongzhi_tickets", {"kind": "tamper", "status": "open"}, 1),
                       ("gongzhi_webhook_backlog", {}, 0)])
    assert "# TYPE gongzhi_actions_total counter" in text
    assert 'gongzhi_actions_total{action="ack"} 1.0' in text
    assert "gongzhi_sse_clients 1.0" in text
    assert "# TYPE gongzhi_tickets gauge" in text
    assert 'gongzhi_tickets{kind="fire",status="open"} 2.0' in text
    assert 'gongzhi_tickets{kind="tamper",status="open"} 1.0' in text
    assert "gongzhi_webhook_backlog 0.0" in text
    assert "_created" not in text
    with pytest.raises(KeyError):
        one.render([("gongzhi_sse_clients", {}, 3)])  # set in-process, not read at scrape
