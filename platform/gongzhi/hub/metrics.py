"""Counters of this process, rendered in the Prometheus text format with the store's gauges."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


HELP: dict[str, tuple[str, str]] = {
    "gongzhi_alarms_received_total": ("counter", "Alarm deliveries received, by kind"),
    "gongzhi_alarms_duplicate_total": ("counter", "Alarm deliveries already seen"),
    "gongzhi_alarms_refused_total": ("counter", "Alarm deliveries refused (422) because their "
                                                "device or building is not in the registry, "
                                                "by reason"),
    "gongzhi_device_states_refused_total": ("counter", "Device states refused because the "
                                                       "device is not in the registry"),
    "gongzhi_tickets_opened_total": ("counter", "Tickets opened by this process"),
    "gongzhi_actions_total": ("counter", "Ticket actions taken, by action"),
    "gongzhi_actions_refused_total": ("counter", "Ticket actions the action matrix refused "
                                                 "(403), by reason"),
    "gongzhi_escalations_total": ("counter", "Escalation steps applied by this process"),
    "gongzhi_http_requests_total": ("counter", "HTTP requests, by method, route and status"),
    "gongzhi_auth_failures_total": ("counter", "Requests refused for a missing or unknown "
                                               "token, by answer (401, or 429 when limited)"),
    "gongzhi_sse_clients": ("gauge", "Open server-push streams"),
    "gongzhi_webhook_deliveries_total": ("counter", "Webhook delivery attempts, by result"),
    "gongzhi_tickets": ("gauge", "Tickets in the store, by kind and status"),
    "gongzhi_webhook_backlog": ("gauge", "Webhook messages not delivered yet"),
}


class Metrics:
    """Thread-safe counters and gauges keyed by (name, labels)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: defaultdict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(
            float)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] += amount

    def value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, tuple(sorted(labels.items()))), 0.0)

    def render(self, gauges: Iterable[tuple[str, dict[str, str], float]] = ()) -> str:
        with self._lock:
            samples = [(n, lbl, v) for (n, lbl), v in self._values.items()]
        samples += [(n, tuple(sorted(lbl.items())), v) for n, lbl, v in gauges]
        lines: list[str] = []
        for name in sorted({n for n, _, _ in samples} | {"gongzhi_sse_clients"}):
            kind, text = HELP.get(name, ("untyped", name))
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            rows = sorted((lbl, v) for n, lbl, v in samples if n == name)
            if not rows and kind == "gauge":
                rows = [((), 0.0)]  # a gauge nobody touched yet reads 0
            for lbl, v in rows:
                lines.append(f"{name}{_labels(lbl)} {_number(v)}")
        return "\n".join(lines) + "\n"
