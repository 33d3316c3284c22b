"""Passive care: no sign of life from an elderly person living alone (docs/welfare.md).

Households are opt-in: the registry's devices flagged ``elderly_alone``, grouped by their
``household`` column (else by their room). A household's signs of life are the steps of its
electrical monitor's power (a kettle, a light, the television: ``STEP_W`` between two reports,
two within ``BURST_MS``: a lone step may be a timer or a freezer's defrost heater) and the
water meter's starts (water moving again after a pause of the leak rule's ``pause_ms``: a
person's uses start and stop, a leak starts once and runs on). Its ``Rhythm`` learns from its
own days; a ``welfare_check`` is raised when the silence goes past what that rhythm makes
likely:

- ``first_activity``: no sign of life by the day's expected time (the late quantile of its first
  activities, plus a margin);
- ``silent_gap``: silent for longer than its longest silences while up, at a time of the day
  when it is nearly always still up (a silence running into its night is left to the next
  morning's rule);
- ``left_on_silence``: a silence while up with something left on all through it (a light, the
  television: the power above the standby floor), longer than its longest such silences: a
  person who falls leaves on what was on, a household going out switches things off, and its
  all-off silences keep the rules above;
- ``no_water``: in a household with a water meter, no water and no other sign of life for
  longer than its longest quiet times, nights included (at least 12 h): the rule that still
  watches when the monitor cannot.

One silence is one alarm: raised once, when the first rule is due, it stays active through
the days the silence lasts (nothing of the household is judged again meanwhile) and clears at
the next sign of life. What is not silence: a monitor that does not report (offline: its own
ticket) or reports an outage (0 W, or under ``OUTAGE_V``: a power cut has its own tickets)
leaves the household unseen for that time; the silence clock starts again when it reports, and
a morning not seen whole is not judged (nor learned). A declared absence (a trip) is the
platform's: it keeps the alarm from becoming a ticket while the absence lasts.

Pure and streaming: time is the reports' device time; the model is learned from the stream as it
passes, so the backtest of recorded data runs exactly this, and so does a gateway started again
on the telemetry it recorded (``learn``; ``gongzhi.gateway.welfare_history``). A gateway keeps
what was learned across starts: with a ``journal``, each day learned is noted with the
household's state as the next day began (``LearnedDay``), and ``resume`` puts a household back
in that state, so only the reports from then on need replaying.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from gongzhi.core.alarms import Alarm, AlarmKind, AlarmState
from gongzhi.devices.catalogue import WATER_METER, DeviceType
from gongzhi.devices.registry import DeviceRecord
from gongzhi.gateway.detection.devices import DeviceIndex
from gongzhi.gateway.detection.leak import RESOLUTION_M3
from gongzhi.gateway.detection.rhythm import (
    DAY_START_MIN,
    MINUTE_MS,
    DayRecord,
    Expectation,
    Rhythm,
    RhythmSettings,
    all_off_below,
    clock_text,
)
from gongzhi.gateway.messages import Telemetry

STEP_W = 150.0  # a load switched on or off: more than a fridge's or a router's wander
# A sign of life is a second step within this of the one before (a kettle on and off, a light
# and the television): a lone step may be a timer or a freezer's defrost heater.
BURST_MS = 10 * MINUTE_MS
OUTAGE_V = 100.0  # a monitor reporting under this (or 0 W) sees a power cut
LEAK_FLOW = WATER_METER.flows[0]  # its pause: what separates one use of water from the next
WATCHED = (DeviceType.ELECTRICAL, DeviceType.WATER_METER)


def household_key(record: DeviceRecord) -> str:
    if record.household:
        return f"{record.location.estate_id}/{record.household}"
    loc = record.location
    return f"{loc.estate_id}/{loc.building}/{loc.unit}/{loc.floor}/{loc.room}"


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=4096)
def _offset_min(zone: str, hour: int) -> int:
    moment = datetime.fromtimestamp(hour * 3600, UTC).astimezone(_zone(zone))
    offset = moment.utcoffset()
    return 0 if offset is None else int(offset.total_seconds() // 60)


@dataclass(slots=True)
class Source:
    """One device of a household: its last report and value."""

    slot: int
    type: DeviceType
    blind_ms: int  # silence after which it saw nothing
    last_ts: int = -1
    last_value: float = float("nan")
    last_step_ms: int = -(2**62)  # the monitor's last power step


@dataclass(slots=True)
class Household:
    key: str
    alarm_slot: int  # the device whose alarms these are (the monitor, else the meter)
    sources: dict[str, Source]
    rhythm: Rhythm
    day: int = -1
    weekend: bool = False
    # today
    first_min: float | None = None
    last_min: float | None = None
    longest_gap_min: float = 0.0
    # today's longest silence while up with something left on all through (-1: not known: no
    # standby floor learned when the day began)
    longest_on_gap_min: float = -1.0
    morning_seen: bool = True  # the morning watched whole (no blind spell before a sign)
    blind_today: bool = False
    quiet_gap_min: float = 0.0  # the longest time without any sign ending today
    floor_w: float = float("inf")  # today's lowest whole-house power
    returned: bool = False  # today's first sign ended a silence of a trip's length
    # across days
    last_sign_ms: int = -1
    last_sign_what: str = ""
    seen_since_ms: int = -1  # the silence clock never starts before this (a blind spell's end)
    last_water_ms: int = -1
    water_seen_since_ms: int = -1
    water_run_start: int = -1
    water_last_move: int = -1
    level_w: float = float("nan")  # the monitor's last power
    # The lowest power since the last sign of life (inf: unknown): what the person left on
    # stays on through the silence; a timer's load switching on later does not count.
    silence_min_w: float = float("inf")
    open_onset: int = -1
    open_rule: str = ""
    open_evidence: dict[str, Any] = field(default_factory=dict)
    open_raise: Alarm | None = None

    @property
    def has_water(self) -> bool:
        return any(s.type is DeviceType.WATER_METER for s in self.sources.values())


# What a household carries from report to report (every field but its identity, its devices'
# settings and the rhythm, which is its learned days): read and set by name, so that a field
# added later is carried too.
STATE_FIELDS = tuple(f.name for f in fields(Household)
                     if f.name not in ("key", "alarm_slot", "sources", "rhythm"))
SOURCE_STATE_FIELDS = tuple(f.name for f in fields(Source)
                            if f.name not in ("slot", "type", "blind_ms"))


def household_state(house: Household) -> dict[str, Any]:
    """The household's state (``STATE_FIELDS``), its devices' under ``"sources"``."""
    state = {name: getattr(house, name) for name in STATE_FIELDS}
    state["sources"] = {device_id: {name: getattr(source, name) for name in SOURCE_STATE_FIELDS}
                        for device_id, source in house.sources.items()}
    return state


@dataclass(frozen=True, slots=True)
class LearnedDay:
    """A day the rule learned, and the household's state as the next day began, before its
    report at ``at_ms``: a gateway started again ``resume``s from it and replays the reports from
    ``at_ms`` on, as a gateway that never stopped would have taken them."""

    household: str
    record: DayRecord
    at_ms: int
    state: dict[str, Any]


class WelfareWatch:
    """The welfare rule of every opted-in household of a registry."""

    def __init__(self, index: DeviceIndex, blind_ms: Sequence[int], timezone: str,
                 settings: RhythmSettings | None = None) -> None:
        self._index = index
        self._zone = timezone
        self.settings = settings or RhythmSettings()
        members: dict[str, list[int]] = {}
        flagged: set[str] = set()
        for slot, record in enumerate(index.records):
            if record.type not in WATCHED or record.position == "corridor":
                continue
            key = household_key(record)
            members.setdefault(key, []).append(slot)
            if record.elderly_alone:
                flagged.add(key)
        self.households: dict[str, Household] = {}
        self._by_device: dict[str, Household] = {}
        # The days learned since the gateway last took them (``LearnedDay``), kept only when
        # a list is set: a backtest or an evaluation keeps none.
        self.journal: list[LearnedDay] | None = None
        for key in sorted(flagged):
            slots = members[key]
            monitors = [s for s in slots if index.records[s].type is DeviceType.ELECTRICAL]
            sources = {index.ids[s]: Source(s, index.records[s].type, int(blind_ms[s]))
                       for s in slots}
            house = Household(key, (monitors or slots)[0], sources, Rhythm(self.settings))
            self.households[key] = house
            for device_id in sources:
                self._by_device[device_id] = house

    def __len__(self) -> int:
        return len(self.households)

    def adopt(self, old: WelfareWatch) -> None:
        """After a registry reload: keep what each household that stays has learned."""
        self.journal = old.journal
        for key, house in self.households.items():
            before = old.households.get(key)
            if before is None:
                continue
            house.rhythm = before.rhythm
            for name in STATE_FIELDS:
                setattr(house, name, getattr(before, name))
            for device_id, source in house.sources.items():
                if (was := before.sources.get(device_id)) is not None:
                    for name in SOURCE_STATE_FIELDS:
                        setattr(source, name, getattr(was, name))

    def observe(self, messages: Sequence[Telemetry]) -> list[Alarm]:
        if not self._by_device:
            return []
        mine = [m for m in messages if m.device_id in self._by_device]
        if not mine:
            return []
        mine.sort(key=lambda m: m.ts_ms)
        alarms: list[Alarm] = []
        for message in mine:
            house = self._by_device[message.device_id]
            alarms += self._report(house, house.sources[message.device_id], message.ts_ms,
                                   message.values)
        return alarms

    @property
    def history_days(self) -> int:
        return self.settings.history_days

    @property
    def watched_devices(self) -> Collection[str]:
        """The devices whose reports the rule reads."""
        return self._by_device.keys()

    def household_devices(self) -> dict[str, list[str]]:
        """The devices of each watched household, by its key (what ``learn`` wants the history
        of)."""
        return {key: list(h.sources) for key, h in self.households.items()}

    def resume(self, key: str, days: Sequence[DayRecord], state: Mapping[str, Any]) -> None:
        """Put household ``key`` back as it was (a ``LearnedDay``'s ``state``, with the days it
        had learned): the reports from that day's ``at_ms`` on then go on from there. A field
        the state lacks keeps its fresh value; a device it does not name starts fresh."""
        house = self.households[key]
        rhythm = Rhythm(self.settings)
        for record in sorted(days, key=lambda d: d.day):
            rhythm.learn(record)
        house.rhythm = rhythm
        for name in STATE_FIELDS:
            if name in state:
                setattr(house, name, state[name])
        for device_id, was in state.get("sources", {}).items():
            if (source := house.sources.get(device_id)) is not None:
                for name in SOURCE_STATE_FIELDS:
                    if name in was:
                        setattr(source, name, was[name])

    def learn(self, recorded: Sequence[Telemetry]) -> None:
        """Learn from recorded reports (a gateway started again: the history the stream
        brought before), as if they were passing now; what they raised and cleared is
        history (``active`` tells what is still raised)."""
        self.observe(recorded)

    def active(self) -> list[Alarm]:
        """The RAISE of every alarm still active, with its id (a repeat of it is the same
        alarm to the outbox and the platform)."""
        return [h.open_raise for h in self.households.values() if h.open_raise is not None]

    def expectation(self, key: str) -> Expectation | None:
        house = self.households[key]
        return house.rhythm.expect(house.weekend)

    # --- one report ---------------------------------------------------------------------

    def _local_min(self, ts: int) -> float:
        return ts / MINUTE_MS + _offset_min(self._zone, ts // 3_600_000)

    def _report(self, house: Household, source: Source, ts: int,
                values: Mapping[str, float]) -> list[Alarm]:
        if ts < source.last_ts:
            return []  # late data never rewinds a household
        local = self._local_min(ts)
        day = int((local - DAY_START_MIN) // 1440)
        if day != house.day:
            self._new_day(house, day, ts)
        minute = local - day * 1440  # minutes after the day's midnight (240 .. 1680)
        outage = self._outage(source, values)
        blind = source.last_ts < 0 or ts - source.last_ts > source.blind_ms
        if outage:
            source.last_value = float("nan")
            return []  # a power cut: the monitor sees nothing; its last_ts stays put
        if blind:
            self._blind_until(house, source, ts, minute)
        silence_min_w = house.silence_min_w  # the silence's, before the report ending it
        self._level(house, source, values, blind)
        sign = self._sign(house, source, ts, values, blind)
        source.last_ts = ts
        if sign:
            return self._sign_of_life(house, ts, minute, sign, silence_min_w)
        if house.open_onset < 0:
            return self._judge(house, ts, minute)
        return []  # the silence's alarm is active: a new day of it is not another

    def _outage(self, source: Source, values: Mapping[str, float]) -> bool:
        if source.type is not DeviceType.ELECTRICAL:
            return False
        power = values.get("power_w")
        volts = values.get("voltage_v")
        return (power is not None and power <= 0.0) or (volts is not None and volts < OUTAGE_V)

    def _level(self, house: Household, source: Source, values: Mapping[str, float],
               blind: bool) -> None:
        """The whole-house power: today's floor and the lowest since the last sign."""
        power = values.get("power_w")
        if source.type is not DeviceType.ELECTRICAL or power is None:
            return
        if blind:
            house.silence_min_w = float("inf")  # what stayed on while unseen is not known
        house.level_w = power
        house.floor_w = min(house.floor_w, power)
        house.silence_min_w = min(house.silence_min_w, power)

    def _blind_until(self, house: Household, source: Source, ts: int, minute: float) -> None:
        """``source`` saw nothing until ``ts``: the silence before is not known."""
        source.last_value = float("nan")
        if source.type is DeviceType.WATER_METER:
            house.water_seen_since_ms = ts
            return
        house.seen_since_ms = ts
        house.blind_today = True
        if house.first_min is None and minute > DAY_START_MIN:
            house.morning_seen = False

    def _sign(self, house: Household, source: Source, ts: int, values: Mapping[str, float],
              blind: bool) -> str:
        if source.type is DeviceType.ELECTRICAL:
            power = values.get("power_w")
            if power is None:
                return ""
            step = power - source.last_value
            source.last_value = power
            if blind or not abs(step) >= STEP_W:
                return ""
            burst = ts - source.last_step_ms <= BURST_MS
            source.last_step_ms = ts
            return f"power steps {step:+.0f} W" if burst else ""
        reading = values.get("water_m3")
        if reading is None:
            return ""
        moved = reading - source.last_value
        source.last_value = reading
        if blind or not moved >= RESOLUTION_M3:
            if ts - house.water_last_move >= LEAK_FLOW.pause_ms:
                house.water_run_start = -1  # the meter paused: whatever ran has stopped
            return ""
        house.water_last_move = ts
        if house.water_run_start >= 0:
            return ""  # still the same run of water: a leak never stops, a person does
        house.water_run_start = ts
        house.last_water_ms = ts
        return f"water {moved * 1000:.0f} L"

    def _sign_of_life(self, house: Household, ts: int, minute: float, what: str,
                      silence_min_w: float) -> list[Alarm]:
        if house.last_sign_ms >= 0:
            quiet = (ts - max(house.last_sign_ms, house.seen_since_ms)) / MINUTE_MS
            house.quiet_gap_min = max(house.quiet_gap_min, quiet)
        if house.first_min is None:
            house.first_min = minute
            house.returned = house.last_sign_ms >= 0 and (
                ts - house.last_sign_ms) >= self.settings.return_silence_min * MINUTE_MS
        elif house.last_min is not None and not house.blind_today:
            house.longest_gap_min = max(house.longest_gap_min, minute - house.last_min)
            if house.longest_on_gap_min >= 0 and self._left_on(silence_min_w,
                                                               house.rhythm.floor_w()):
                house.longest_on_gap_min = max(house.longest_on_gap_min,
                                               minute - house.last_min)
        house.last_min = minute
        house.last_sign_ms, house.last_sign_what = ts, what
        house.silence_min_w = house.level_w if house.level_w == house.level_w else float("inf")
        if house.open_onset < 0:
            return []
        evidence = {**house.open_evidence, "sign_of_life_at_ms": ts, "sign_of_life": what,
                    "active_h": round((ts - house.open_onset) / 3_600_000, 2)}
        alarm = self._index.alarm(house.alarm_slot, AlarmKind.WELFARE_CHECK, house.open_onset,
                                  ts, AlarmState.CLEAR, evidence)
        house.open_onset, house.open_rule, house.open_evidence = -1, "", {}
        house.open_raise = None
        return [alarm]

    def _new_day(self, house: Household, day: int, ts: int) -> None:
        """Learn the day that ended. A welfare alarm still active stays so: a new day of the
        same silence is the same alarm, not another."""
        learned: DayRecord | None = None
        if house.day >= 0:
            # A morning not seen whole, or a return from a trip, teaches nothing of mornings.
            whole = house.morning_seen and house.first_min is not None and not house.returned
            learned = DayRecord(
                day=house.day, weekend=house.weekend,
                first_min=house.first_min if whole else None,
                last_min=house.last_min,
                longest_gap_min=house.longest_gap_min if whole and not house.blind_today
                else None,
                quiet_gap_min=house.quiet_gap_min
                if house.has_water and house.quiet_gap_min > 0 else None,
                floor_w=house.floor_w if house.floor_w < float("inf") else None,
                longest_on_gap_min=house.longest_on_gap_min
                if whole and not house.blind_today and house.longest_on_gap_min >= 0 else None)
            house.rhythm.learn(learned)
        first_report = house.day < 0
        skipped = house.day >= 0 and day > house.day + 1
        house.day = day
        house.weekend = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        house.first_min = house.last_min = None
        house.longest_gap_min = 0.0
        house.longest_on_gap_min = 0.0 if house.rhythm.floor_w() is not None else -1.0
        house.morning_seen = not (first_report or skipped)
        house.blind_today = first_report or skipped
        house.quiet_gap_min = 0.0
        house.floor_w = float("inf")
        house.returned = False
        if first_report:
            house.seen_since_ms = house.water_seen_since_ms = ts
        if learned is not None and self.journal is not None:
            self.journal.append(LearnedDay(house.key, learned, ts, household_state(house)))

    # --- judging the silence --------------------------------------------------------------

    def _judge(self, house: Household, ts: int, minute: float) -> list[Alarm]:
        expect = house.rhythm.expect(house.weekend)
        if expect is None:
            return []
        day_ms = ts - int((minute - DAY_START_MIN) * MINUTE_MS)  # the day's 04:00
        found = self._first_activity(house, expect, day_ms, minute)
        if found is None:
            found = self._silent_gap(house, expect.gap_limit, expect.up_until, ts)
        if found is None and self._left_on(house.silence_min_w, expect.floor_w):
            found = self._silent_gap(house, expect.on_gap_limit, expect.on_up_until, ts,
                                     "left_on_silence")
        if found is None and house.has_water:
            found = self._no_water(house, expect, ts)
        if found is None:
            return []
        rule, due, expected_by = found
        since = max(house.last_sign_ms, house.seen_since_ms)
        below = expect.all_off_below(self.settings)
        all_off = below is not None and house.silence_min_w <= below
        departure = self._departure_due(house, expect) if all_off else None
        if departure is not None and departure > due:
            if ts < departure:
                return []  # everything off since a day-time last sign: likely gone out
            due = departure
        onset = max(due, day_ms)  # the alarm's id: its due time, within the day judged
        evidence: dict[str, Any] = {
            "rule": rule,
            "household": house.key,
            "expected_by_ms": expected_by,
            "expected_by": self._clock(expected_by),
            "last_activity_at_ms": house.last_sign_ms if house.last_sign_ms >= 0 else None,
            "last_activity_at": self._clock(house.last_sign_ms)
            if house.last_sign_ms >= 0 else None,
            "last_activity": house.last_sign_what or None,
            "silent_h": round((ts - since) / 3_600_000, 2),
            "left_on": None if below is None or house.silence_min_w == float("inf")
            else not all_off,
            "lowest_power_w": None if house.silence_min_w == float("inf")
            else round(house.silence_min_w),
            "looked_like_departure": departure is not None,
            "model": expect.summary(),
        }
        house.open_onset, house.open_rule, house.open_evidence = onset, rule, evidence
        house.open_raise = self._index.alarm(house.alarm_slot, AlarmKind.WELFARE_CHECK, onset,
                                             ts, AlarmState.RAISE, evidence)
        return [house.open_raise]

    def _departure_due(self, house: Household, expect: Expectation) -> int | None:
        """For an all-off silence that began in the day or evening (well before the
        household's usual last sign), the next morning's expected first sign plus a margin."""
        if house.last_sign_ms < 0 or expect.up_until is None:
            return None
        since_min = self._local_min(house.last_sign_ms)
        since_day = int((since_min - DAY_START_MIN) // 1440)
        if since_min - since_day * 1440 > expect.up_until - self.settings.departure_before_bed_min:
            return None  # gone quiet at bedtime: a sleeper, judged by the usual rules
        next_day = since_day + 1
        nxt = house.rhythm.expect((next_day + 3) % 7 >= 5) or expect
        local = next_day * 1440 + nxt.first_by + self.settings.away_margin_min
        return int((local - _offset_min(self._zone, house.last_sign_ms // 3_600_000))
                   * MINUTE_MS)

    def _first_activity(self, house: Household, expect: Expectation, day_ms: int,
                        minute: float) -> tuple[str, int, int] | None:
        if house.first_min is not None or not house.morning_seen or minute < expect.first_by:
            return None
        due = day_ms + int((expect.first_by - DAY_START_MIN) * MINUTE_MS)
        return "first_activity", due, due

    def _left_on(self, silence_min_w: float, floor_w: float | None) -> bool:
        """Something stayed on all through a silence whose lowest power was ``silence_min_w``:
        it never went down to the standby floor ``floor_w`` plus its margin."""
        below = all_off_below(floor_w, self.settings)
        return below is not None and below < silence_min_w < float("inf")

    def _silent_gap(self, house: Household, limit: float | None, up_until: float | None,
                    ts: int, rule: str = "silent_gap") -> tuple[str, int, int] | None:
        """Silent since today's last sign for longer than ``limit`` minutes, due before
        ``up_until`` (the household's usual last sign)."""
        if limit is None or up_until is None:
            return None
        since = max(house.last_sign_ms, house.seen_since_ms)
        if since < 0 or (house.first_min is None and house.morning_seen):
            return None  # the morning rule judges a day with no sign yet
        since_min = self._local_min(since)
        day = int((since_min - DAY_START_MIN) // 1440)
        due_min = since_min - day * 1440 + limit
        if day != house.day or due_min > up_until:
            return None  # silent since before today, or due in the household's usual night
        due = since + int(limit * MINUTE_MS)
        return (rule, due, due) if ts >= due else None

    def _no_water(self, house: Household, expect: Expectation,
                  ts: int) -> tuple[str, int, int] | None:
        if expect.water_limit is None:
            return None
        # No sign of life of any kind: power steps count too (water standing still while the
        # lights go on and off is somebody who did not need water); with the monitor offline
        # or in a power cut, the meter alone keeps watch.
        since = max(house.last_water_ms, house.water_seen_since_ms, house.last_sign_ms)
        due = since + int(expect.water_limit * MINUTE_MS)
        return ("no_water", due, due) if since >= 0 and ts >= due else None

    def _clock(self, ts: int) -> str:
        local = self._local_min(ts)
        day = int(local // 1440)
        date = datetime.fromtimestamp(day * 86_400, UTC).date().isoformat()
        return f"{date} {clock_text(local - day * 1440)}"
