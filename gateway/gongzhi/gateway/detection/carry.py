"""Detection state carried across a registry reload.

``DetectionEngine.set_registry`` builds a whole new engine from the new registry and copies
into it, row by row, the state of every device that is in both registries with the same type
(by ``device_id``). Everything derived from the registry (thresholds from settings, group
member matrices, type codes, slots, offline silences, cluster sizes) therefore comes from the
new build; only what was learned or accumulated from messages is copied. A device that is new
or whose type changed starts fresh; a removed device's state is dropped.

Each stateful class says what its attributes are, explicitly (never "any array of the right
length": a per-household array may have the device count by chance); a test walks a whole
engine and fails on any array that is not declared:

- ``DEVICE_STATE``: arrays with one row per device slot (axis 0), copied for kept devices;
- ``GROUP_STATE``: arrays with one row per group (a floor, a landing, a building), each paired
  with the attribute that lists the groups' keys: copied for the groups whose key is in both;
- ``DERIVED``: arrays built from the registry, taken from the new build, never copied;
- ``NESTED``: owned stateful parts (an object, or a list of them) on the same device rows,
  carried recursively; attributes that only refer to another part are not listed.

A group's key says what its state is about, so what survives a change of the group is chosen
by the key:

- a floor's last fire confirmation (fusion) is keyed by the floor's place: a fire under way
  stays one fire when a detector is added to or removed from the floor;
- a landing's history of its corridor's own load (its box minus its households) is keyed by
  the landing's meter and the set of its monitored households: it is a difference over those
  meters, so a changed set starts it afresh (the e-bike rule on that landing pauses for some
  buckets; its other state is per device and kept);
- a building's open offline cluster is keyed by the building, and its member set (devices it
  inhibited) is remapped to the new slots (``Presence.carry_more``): the cluster closes, with
  its single CLEAR, when too few of its members are left offline, as without the reload. A
  member that moved to another building stays a member: the cluster withdrew its own alarm, so
  the cluster's CLEAR is what gives it one back. A building no longer in the registry drops
  its cluster, alarm included (like a removed device's alarms, below).

The open-alarms ledger keeps the entries of kept devices and of buildings still in the
registry, so a kept device's open alarm clears normally after the reload; the entries of
removed devices, of devices whose type changed (their rules start fresh and would never clear
them) and of vanished buildings are dropped, with no CLEAR sent.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from gongzhi.devices.catalogue import DeviceType
    from gongzhi.gateway.detection.devices import DeviceIndex

# Not track's alias: track imports this module (its AlarmTrack is stateful).
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Rows:
    """Kept rows: ``old[i]`` in the old part is ``new[i]`` in the new one."""

    old: IntArray
    new: IntArray

    def mapping(self) -> dict[int, int]:
        return dict(zip(self.old.tolist(), self.new.tolist(), strict=True))


class Stateful:
    """The declarations ``carry`` follows (see the module docstring)."""

    DEVICE_STATE: ClassVar[tuple[str, ...]] = ()
    GROUP_STATE: ClassVar[tuple[tuple[str, str], ...]] = ()  # (array, attribute of the keys)
    DERIVED: ClassVar[tuple[str, ...]] = ()
    NESTED: ClassVar[tuple[str, ...]] = ()

    def carry_more(self, old: Self, rows: Rows) -> None:
        """Carry state that is not in declared arrays; nothing by default."""


S = TypeVar("S", bound=Stateful)


def carry(old: S, new: S, rows: Rows) -> None:
    """Copy the state of the kept ``rows`` (and of groups with a key in both) from ``old``,
    built on the old registry, into ``new``, the same part built on the new one."""
    if type(old) is not type(new):
        raise TypeError(f"cannot carry {type(old).__name__} into {type(new).__name__}")
    for name in new.DEVICE_STATE:
        getattr(new, name)[rows.new] = getattr(old, name)[rows.old]
    for name, keys in new.GROUP_STATE:
        groups = rows_by_key(getattr(old, keys), getattr(new, keys))
        getattr(new, name)[groups.new] = getattr(old, name)[groups.old]
    for name in new.NESTED:
        for old_part, new_part in zip(_parts(getattr(old, name)), _parts(getattr(new, name)),
                                      strict=True):
            carry(old_part, new_part, rows)
    new.carry_more(old, rows)


def _parts(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def rows_by_key(old_keys: Sequence[Hashable], new_keys: Sequence[Hashable]) -> Rows:
    """The rows of the keys present in both lists."""
    position = {key: i for i, key in enumerate(old_keys)}
    pairs = [(position[key], i) for i, key in enumerate(new_keys) if key in position]
    return _rows(pairs)


def kept_devices(old: DeviceIndex, new: DeviceIndex) -> Rows:
    """Global slots of the devices in both indexes with the same type."""
    pairs = [(o, n) for n, record in enumerate(new.records)
             if (o := old.slot.get(record.device_id)) is not None
             and old.records[o].type is record.type]
    return _rows(pairs)


def in_type_group(kept: Rows, old: DeviceIndex, new: DeviceIndex,
                  device_type: DeviceType) -> Rows:
    """The kept devices of one type, as slots within the type group."""
    of_type = np.isin(kept.new, new.members[device_type])
    return Rows(old.local[kept.old[of_type]].astype(np.int64),
                new.local[kept.new[of_type]].astype(np.int64))


def _rows(pairs: list[tuple[int, int]]) -> Rows:
    both = np.array(pairs, np.int64).reshape(len(pairs), 2)
    return Rows(both[:, 0].copy(), both[:, 1].copy())
