"""What a carrier platform's push says about one device, before it is mapped to our contract.

The CTWing and OneNET decoders (pure) turn a push body into ``Uplink`` records; the source's
field mapping (``mapping.FieldMapping``, the one ChirpStack and mapped JSON use) reads catalogue
metrics and events from their ``fields``; the registry's ``external_id`` maps their outside
identity to our ``device_id``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gongzhi.gateway.messages import Presence


@dataclass(frozen=True, slots=True)
class Uplink:
    """One device's report. ``identities``: outside ids to look up, most specific first (an
    IMEI before a platform device id). ``fields``: the document the field mapping reads (data
    points by outside name; a reported event as ``serviceId``/``eventType`` (CTWing) or
    ``event`` (OneNET Studio) beside its content). ``presence``: an online/offline report.
    (A retry of the same push is told by the push's key, ``Carrier.admit``.)"""

    identities: tuple[str, ...]
    ts_ms: int | None
    fields: Mapping[str, Any] = field(default_factory=dict)
    presence: Presence | None = None


def content_key(*parts: Any) -> str:
    """A stable key of a report's content (for platforms whose pushes carry no message id):
    a hash of the canonical JSON of ``parts``."""
    blob = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.blake2b(blob, digest_size=16).hexdigest()
