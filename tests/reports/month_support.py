"""A month of an estate in a platform store, for the monthly report's test and benchmark: a
registry of flats (a smoke detector and an electrical monitor in each, a riser pressure sensor
per building, some elderly people living alone with phone numbers), alarms of every usual kind
raised through the ticket service on a manual clock, most acknowledged and resolved after a
random delay by the party holding them, the rest left to the escalation engine; welfare checks;
residents' reports with phone numbers, replies and ratings. Seeded: the same month each time."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass

from gongzhi.core.alarms import Alarm, AlarmKind
from gongzhi.core.clock import ManualClock
from gongzhi.devices.catalogue import DeviceType
from gongzhi.devices.registry import DeviceRecord, Location, Registry
from gongzhi.hub.duty_model import DutyMatrix
from gongzhi.hub.lifecycle import Action
from gongzhi.hub.metrics import Metrics
from gongzhi.hub.monthly_report.period import Month
from gongzhi.hub.reports.categories import Category
from gongzhi.hub.reports.limits import ReportLimiter
from gongzhi.hub.reports.links import Building, ReportLinks
from gongzhi.hub.reports.service import ReportForm, ReportService
from gongzhi.hub.reports.store import SqlReports
from gongzhi.hub.service import TicketService
from gongzhi.hub.store.base import Store
from gongzhi.hub.tickets import Ticket

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# Device alarms a month brings, per 1,000 devices and day.
DAILY_RATES: dict[AlarmKind, float] = {
    AlarmKind.SMOKE_ALARM: 1.2, AlarmKind.ELECTRICAL_LEAKAGE: 1.5, AlarmKind.CABLE_OVERHEAT: 0.4,
    AlarmKind.LOW_BATTERY: 3.0, AlarmKind.DEVICE_OFFLINE: 2.0, AlarmKind.EBIKE_CHARGING: 1.0,
    AlarmKind.WATER_PRESSURE_LOW: 0.3, AlarmKind.WELFARE_CHECK: 0.4, AlarmKind.TAMPER: 0.2,
}
REPORTS_PER_DAY = 3.0
PHONE_PREFIX = "139"


def flats_registry(estate: str, devices: int) -> list[DeviceRecord]:
    """About ``devices`` devices: buildings of 6 floors, 2 units, 2 flats a landing."""
    records: list[DeviceRecord] = []
    building = 0
    while len(records) < devices:
        building += 1
        b = str(building)
        records.append(DeviceRecord(f"wp-{b}", DeviceType.WATER_PRESSURE,
                                    Location(estate, b, "1", "1", "pump"), riser=f"{b}#R1"))
        for unit in ("1", "2"):
            for floor in range(1, 7):
                for flat in ("1", "2"):
                    room = f"{floor}0{flat}"
                    where = Location(estate, b, unit, str(floor), room)
                    household = f"{b}-{unit}-{room}"
                    elderly = (building * 7 + floor * 3 + int(flat)) % 11 == 0
                    records.append(DeviceRecord(
                        f"smk-{household}", DeviceType.SMOKE, where, elderly_alone=elderly,
                        household=household,
                        phone=f"{PHONE_PREFIX}{building:04d}{floor}{unit}{flat}{floor}"))
                    records.append(DeviceRecord(f"el-{household}", DeviceType.ELECTRICAL, where,
                                                household=household))
    return records[:devices]


def _device_for(kind: AlarmKind, devices: list[DeviceRecord], rng: random.Random) -> DeviceRecord:
    wanted = {AlarmKind.SMOKE_ALARM: DeviceType.SMOKE, AlarmKind.LOW_BATTERY: DeviceType.SMOKE,
              AlarmKind.TAMPER: DeviceType.SMOKE, AlarmKind.WATER_PRESSURE_LOW:
              DeviceType.WATER_PRESSURE}.get(kind, DeviceType.ELECTRICAL)
    pool = [d for d in devices if d.type is wanted]
    if kind is AlarmKind.WELFARE_CHECK:
        pool = [d for d in devices if d.elderly_alone] or pool
    return rng.choice(pool)


@dataclass
class SeededMonth:
    tickets: int
    reports: int
    phones: list[str]  # every phone number the month's data holds
    households: list[str]


def seed_month(store: Store, matrix: DutyMatrix, registry: Registry, estate: str,
               month: Month, *, seed: int = 7, days: int | None = None) -> SeededMonth:
    """Fill ``store`` with the estate's month (``days``: only the first days of it)."""
    rng = random.Random(seed)
    clock = ManualClock(month.start_ms)
    metrics = Metrics()
    tickets = TicketService(store, matrix, lambda: registry, clock, metrics)
    secret = bytes(rng.getrandbits(8) for _ in range(32))
    reports = ReportService(SqlReports(store), tickets, ReportLinks(
        secret, "http://platform", nonce=lambda n: bytes(rng.getrandbits(8) for _ in range(n))),
        ReportLimiter(store, clock, windows=()), lambda: registry, clock, metrics)
    devices = list(registry)
    scale = len(devices) / 1000
    span = (days or month.days) * DAY
    events: list[tuple[int, int, Callable[[], None]]] = []
    order = 0

    def at(ts: int, action: Callable[[], None]) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (ts, order, action))

    for kind, rate in DAILY_RATES.items():
        for _ in range(_poisson(rng, rate * scale * span / DAY)):
            ts = month.start_ms + rng.randrange(span)
            device = _device_for(kind, devices, rng)
            at(ts, _raiser(tickets, clock, device, kind, ts, rng, at))
    phones = sorted({d.phone for d in devices if d.phone})
    buildings = sorted({d.location.building for d in devices})
    made_reports = 0
    for _ in range(_poisson(rng, REPORTS_PER_DAY * scale * span / DAY)):
        ts = month.start_ms + rng.randrange(span)
        phone = f"138{rng.randrange(10**8):08d}"
        phones.append(phone)
        made_reports += 1
        at(ts, _reporter(reports, tickets, clock, Building(estate, rng.choice(buildings)),
                         phone, rng, at))
    while events:
        ts, _, action = heapq.heappop(events)
        clock.set(ts)
        tickets.escalate_due()
        action()
    clock.set(month.start_ms + span)
    tickets.escalate_due()
    with store.transaction(clock.now_ms()) as tx:
        count = len(tx.list_tickets(limit=1_000_000))
    return SeededMonth(count, made_reports, phones,
                       sorted({d.household for d in devices if d.household}))


def _poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


Scheduler = Callable[[int, Callable[[], None]], None]


def _ticket(tickets: TicketService, ticket_id: int) -> Ticket:
    with tickets.store.transaction(tickets.clock.now_ms()) as tx:
        found = tx.get_ticket(ticket_id)
    assert found is not None
    return found


def _handle(tickets: TicketService, clock: ManualClock, ticket_id: int,
            rng: random.Random, at: Scheduler, note: str) -> None:
    """The holder acknowledges after minutes (sometimes too late) and resolves after hours;
    one ticket in eight is left open."""
    if rng.random() < 0.125:
        return
    ack = clock.now_ms() + int(rng.lognormvariate(2.0, 1.0) * MINUTE)
    done = ack + int(rng.lognormvariate(1.0, 1.0) * HOUR)

    def acknowledge() -> None:
        ticket = _ticket(tickets, ticket_id)
        if ticket.status.value == "open":
            tickets.act(ticket_id, ticket.assignee, Action.ACK, None)

    def resolve() -> None:
        ticket = _ticket(tickets, ticket_id)
        if ticket.status.value in ("acknowledged", "dispatched", "on_site"):
            tickets.act(ticket_id, ticket.assignee, Action.RESOLVE, note)

    at(ack, acknowledge)
    at(done, resolve)


def _raiser(tickets: TicketService, clock: ManualClock, device: DeviceRecord, kind: AlarmKind,
            ts: int, rng: random.Random, at: Scheduler) -> Callable[[], None]:
    def raise_alarm() -> None:
        outcome = tickets.receive_alarm(Alarm(
            alarm_id=f"al-month-{device.device_id}-{kind.value}-{ts}", kind=kind,
            device_id=device.device_id, estate_id=device.location.estate_id, ts_ms=ts,
            evidence={"rule": "seeded"}))
        if outcome.created and outcome.ticket_id is not None:
            _handle(tickets, clock, outcome.ticket_id, rng, at, "处理完毕")

    return raise_alarm


def _reporter(reports: ReportService, tickets: TicketService, clock: ManualClock,
              where: Building, phone: str, rng: random.Random,
              at: Scheduler) -> Callable[[], None]:
    def report() -> None:
        category = rng.choice(list(Category))
        made = reports.submit(where, ReportForm(
            category, f"张阿姨说：{where.building}栋楼道有问题，请联系 {phone}", phone, ()),
            device=f"dev-{rng.randrange(10**6)}", address="10.9.8.7")
        _handle(tickets, clock, made.ticket_id, rng, at, "已处理，感谢反映")
        if rng.random() < 0.7:
            stars = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 4, 5])[0]

            def rate() -> None:
                if reports.track(made.track_token)["can_rate"]:
                    reports.rate(made.track_token, stars, None)

            at(clock.now_ms() + 3 * DAY, rate)

    return report
