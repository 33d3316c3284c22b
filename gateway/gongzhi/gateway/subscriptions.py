"""Which device topics a gateway subscribes to.

``GONGZHI_GATEWAY_SUBSCRIBE=all`` (the default): ``estate/+/+/+``; a replica of a static partition
receives every message and skips the others' (``messages_skipped_total``). That costs each replica
the broker's delivery and paho's decoding of the whole stream, which is most of a gateway's
intake: N partitioned replicas on one machine are no faster than one.

``owned``: one filter per estate of this replica's share in the registry,
``estate/<estate>/+/+`` (``$share/<group>/estate/<estate>/+/+`` in a shared-subscription group),
so the broker delivers a replica only its own messages. The set follows the registry (reload).
A message under an estate that is in no one's registry then reaches no gateway and is not
recorded as a dead letter: provision devices into the registry before they publish (the
deployment's ACL already ties each device to its own topics). The partition must be by estate:
the building is not in the topic.
"""

from __future__ import annotations

from gongzhi.core.errors import ConfigError
from gongzhi.devices.registry import Registry
from gongzhi.gateway.mqtt import subscription_filter
from gongzhi.gateway.partition import Partition


def device_filters(mode: str, partition: Partition, group: str | None,
                   registry: Registry) -> list[str]:
    """The topic filters for ``mode`` (``all`` or ``owned``); ``owned`` gives one per owned
    estate in the registry, sorted (an empty list when the share holds no estate)."""
    if mode == "all":
        return [subscription_filter(group)]
    if partition.by_building:
        raise ConfigError("GONGZHI_GATEWAY_SUBSCRIBE=owned needs a partition by estate "
                          f"(the building is not in the topic), got {partition}")
    prefix = f"$share/{group}/" if group else ""
    return [f"{prefix}estate/{estate}/+/+" for estate in registry.estates()
            if partition.owns(estate)]
