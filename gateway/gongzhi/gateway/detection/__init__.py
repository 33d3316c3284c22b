"""Streaming anomaly detection: per-device state in numpy arrays, rules vectorized per batch (the
e-bike rule compiled: ``compiled``).

``DetectionEngine(registry).process(messages)`` turns validated, deduplicated messages into
alarms; ``tick(now_ms)`` runs the time-based rules (heartbeats, offline clusters).
"""

from gongzhi.gateway.detection.config import DetectionConfig
from gongzhi.gateway.detection.engine import DetectionEngine

__all__ = ["DetectionConfig", "DetectionEngine"]
