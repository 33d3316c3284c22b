"""The reports' repository on both dialects (SQLite and the tests' PostgreSQL): a report with its
photos (bytes kept exactly), attached to its ticket, rated once, read back by ticket and by
period; and the service's whole path from a report to a ticket the duty matrix routed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gongzhi.core.clock import ManualClock
from gongzhi.devices.registry import Registry
from gongzhi.hub.duty_parse import load_matrix
from gongzhi.hub.metrics import Metrics
from gongzhi.hub.reports.categories import Category
from gongzhi.hub.reports.limits import ReportLimiter
from gongzhi.hub.reports.links import Building, ReportLinks
from gongzhi.hub.reports.photos import CleanPhoto, clean_photo
from gongzhi.hub.reports.service import ReportForm, ReportService
from gongzhi.hub.reports.store import NewReport, SqlReports
from gongzhi.hub.service import TicketService
from gongzhi.hub.store import open_store
from gongzhi.hub.store.base import Store
from tests.reports.month_support import flats_registry
from tests.reports.report_support import has_metadata, photo_with_gps


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Store]:
    url = (f"sqlite:///{data_dir / 'platform.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    opened = open_store(url)
    opened.migrate()
    try:
        yield opened
    finally:
        opened.close()


def test_a_report_and_its_photos_are_kept_and_rated_once(store: Store) -> None:
    reports = SqlReports(store)
    photo = clean_photo(photo_with_gps())
    tiny = CleanPhoto(bytes(range(256)) * 4, 2, 2)  # every byte value survives
    report_id = reports.add(NewReport("e1", "3", Category.FIRE_EXIT, "楼道堵了", "13800000000",
                                      (photo, tiny)), 1_000)
    reports.attach(report_id, ticket_id=77, track_hash="ab" * 32, now=1_001)
    kept = reports.by_ticket(77)
    assert kept is not None and kept.id == report_id and kept.photos == 2
    assert kept.body == "楼道堵了" and kept.phone == "13800000000"
    assert reports.photo(report_id, 0) == ("image/jpeg", photo.data)
    assert reports.photo(report_id, 1) == ("image/jpeg", tiny.data)
    assert reports.photo(report_id, 2) is None
    assert reports.rate(report_id, 4, "好", 2_000) is True
    assert reports.rate(report_id, 1, None, 3_000) is False
    rated = reports.get(report_id)
    assert rated is not None and (rated.rating, rated.rating_comment) == (4, "好")
    assert [r.id for r in reports.between(0, 1_001, "e1")] == [report_id]
    assert reports.between(1_001, 5_000, "e1") == [] and reports.between(0, 5_000, "e2") == []


def test_a_report_opens_a_ticket_routed_by_the_duty_matrix(store: Store) -> None:
    clock = ManualClock()
    registry = Registry(flats_registry("e1", 60))
    metrics = Metrics()
    tickets = TicketService(store, load_matrix(None), lambda: registry, clock, metrics)
    service = ReportService(SqlReports(store), tickets, ReportLinks(b"k" * 32, "http://p"),
                            ReportLimiter(store, clock), lambda: registry, clock, metrics)
    made = service.submit(Building("e1", "1"), ReportForm(
        Category.EBIKE, "电动车在楼道充电", None, (photo_with_gps(),)), device="d" * 16,
        address="10.0.0.1")
    with store.transaction(clock.now_ms()) as tx:
        ticket = tx.get_ticket(made.ticket_id)
    assert ticket is not None
    assert (ticket.kind, ticket.assignee, ticket.notified) == (
        "report_ebike", "property_office", ("police_room",))
    assert ticket.location.building == "1" and ticket.evidence["report_id"] == made.report_id
    view = service.track(made.track_token)
    assert view["report"]["photos"] == 1 and view["status"] == "open"
    _, data = service.photo_for_party(made.ticket_id, "property_office", 0)
    assert not has_metadata(data)


def test_a_report_kept_without_its_ticket_gets_it_with_the_next_report(store: Store) -> None:
    """The store failed between keeping a report and opening its ticket: the resident was
    answered 503, but the report is not lost."""
    clock = ManualClock()
    registry = Registry(flats_registry("e1", 60))
    metrics = Metrics()
    tickets = TicketService(store, load_matrix(None), lambda: registry, clock, metrics)
    reports = SqlReports(store)
    service = ReportService(reports, tickets, ReportLinks(b"k" * 32, "http://p"),
                            ReportLimiter(store, clock), lambda: registry, clock, metrics)
    lost = reports.add(NewReport("e1", "2", Category.WATER_LEAK, "楼顶漏水", None, ()),
                       clock.now_ms())
    assert service.ticket_orphans() == 0  # it may still be on its way
    clock.advance(61_000)
    service.submit(Building("e1", "1"), ReportForm(Category.OTHER, "x", None, ()),
                   device="d" * 16, address="10.0.0.1")
    found = reports.get(lost)
    assert found is not None and found.ticket_id is not None
    with store.transaction(clock.now_ms()) as tx:
        ticket = tx.get_ticket(found.ticket_id)
    assert ticket is not None and ticket.kind == "report_water_leak"
    assert ticket.location.building == "2"
    assert service.ticket_orphans() == 0
