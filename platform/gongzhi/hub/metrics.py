"""The platform's counters and gauges (prometheus_client), with the store's figures read when
``/metrics`` is scraped.

Every metric is declared in ``SPEC`` (kind, help, label names) and lives in ``Metrics.registry``,
a registry of this application only (not the library's global one), so several applications in
one process keep their own figures. Kinds: ``counter`` (names end in ``_total``), ``gauge`` (set
in this process, e.g. open server-push streams) and ``scraped`` (read from the store at scrape
time by the caller, off the event loop, and passed to ``render``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily

from gongzhi.core.exposition import Families, exposition

Kind = Literal["counter", "gauge", "scraped"]

SPEC: dict[str, tuple[Kind, str, tuple[str, ...]]] = {
    "gongzhi_alarms_received_total": ("counter", "Alarm deliveries received, by kind",
                                      ("kind", "state")),
    "gongzhi_alarms_duplicate_total": ("counter", "Alarm deliveries already seen", ()),
    "gongzhi_alarms_refused_total": ("counter", "Alarm deliveries refused (422) because their "
                                                "device or building is not in the registry, "
                                                "by reason", ("reason",)),
    "gongzhi_alarms_held_total": ("counter", "Welfare alarms held by a declared absence (no "
                                             "ticket), by reason", ("reason",)),
    "gongzhi_device_states_refused_total": ("counter", "Device states refused because the "
                                                       "device is not in the registry",
                                            ("reason",)),
    "gongzhi_tickets_opened_total": ("counter", "Tickets opened by this process", ("kind",)),
    "gongzhi_actions_total": ("counter", "Ticket actions taken, by action", ("action",)),
    "gongzhi_actions_refused_total": ("counter", "Ticket actions the action matrix refused "
                                                 "(403), by reason", ("reason",)),
    "gongzhi_escalations_total": ("counter", "Escalation steps applied by this process",
                                  ("step",)),
    "gongzhi_http_requests_total": ("counter", "HTTP requests, by method, route and status",
                                    ("method", "route", "status")),
    "gongzhi_auth_failures_total": ("counter", "Requests refused for a missing or unknown "
                                               "token, by answer (401, or 429 when limited)",
                                    ("answer",)),
    "gongzhi_sse_clients": ("gauge", "Open server-push streams", ()),
    "gongzhi_link_refusals_total": ("counter", "Signed ticket links refused (403), by reason",
                                    ("reason",)),
    "gongzhi_renotify_attempts_total": ("counter", "Notification attempts of unacknowledged "
                                                   "tickets made by this process, by outcome",
                                        ("outcome",)),
    "gongzhi_notify_requests_total": ("counter", "Requests to notification providers (WeCom, "
                                                 "DingTalk, Feishu, SMS, e-mail, webhooks), by "
                                                 "channel kind and result", ("channel", "result")),
    "gongzhi_webhook_deliveries_total": ("counter", "Webhook delivery attempts, by result",
                                         ("party", "result")),
    "gongzhi_reports_total": ("counter", "Residents' reports accepted, by category",
                              ("category",)),
    "gongzhi_reports_refused_total": ("counter", "Residents' reports and ratings refused, by "
                                                 "reason (limits, links, photos, input)",
                                      ("reason",)),
    "gongzhi_tickets": ("scraped", "Tickets in the store, by kind and status",
                        ("kind", "status")),
    "gongzhi_webhook_backlog": ("scraped", "Webhook messages not delivered yet", ()),
    "gongzhi_notify_backlog": ("scraped", "Notification messages not sent yet, by channel",
                               ("channel",)),
}

GaugeSample = tuple[str, dict[str, str], float]


class Metrics:
    """Thread-safe counters and gauges of this process, in ``registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._metrics: dict[str, Counter | Gauge] = {}
        for name, (kind, help_text, labels) in SPEC.items():
            if kind == "counter":
                self._metrics[name] = Counter(name.removesuffix("_total"), help_text, labels,
                                              registry=self.registry)
            elif kind == "gauge":
                self._metrics[name] = Gauge(name, help_text, labels, registry=self.registry)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` to a counter, or to a gauge (negative: take away)."""
        metric = self._metrics[name]
        (metric.labels(**labels) if labels else metric).inc(amount)

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def render(self, gauges: Iterable[GaugeSample] = ()) -> str:
        """The text format of this process's metrics and of ``gauges``, the ``scraped`` ones
        the caller read."""
        families: dict[str, GaugeMetricFamily] = {}
        for name, labels, value in gauges:
            kind, help_text, label_names = SPEC[name]
            if kind != "scraped":
                raise KeyError(f"{name} is not a scraped gauge")
            family = families.setdefault(
                name, GaugeMetricFamily(name, help_text, labels=label_names))
            family.add_metric([labels[k] for k in label_names], value)
        return exposition(self.registry, Families(families.values()))
