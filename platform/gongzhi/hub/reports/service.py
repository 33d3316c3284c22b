"""Residents' reports: made from a building link, turned into a ticket the duty matrix routes,
followed by the resident through a tracking link, rated once after it is closed, and shown to
the parties that handle its ticket. No HTTP here: the routes translate the errors."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gongzhi.core.alarms import Alarm
from gongzhi.core.clock import Clock
from gongzhi.core.errors import AccessDenied, TicketNotFound
from gongzhi.devices.registry import Registry
from gongzhi.hub.action_matrix import HOLDERS, Role, role_of
from gongzhi.hub.lifecycle import Action
from gongzhi.hub.metrics import Metrics
from gongzhi.hub.privacy import Access, access_of, mask_phone
from gongzhi.hub.reports.categories import KIND_OF, Category
from gongzhi.hub.reports.errors import ReportRefused
from gongzhi.hub.reports.limits import Limited, ReportLimiter
from gongzhi.hub.reports.links import Building, LinkProblem, ReportLinks
from gongzhi.hub.reports.photos import CleanPhoto, clean_photo
from gongzhi.hub.reports.store import NewReport, SqlReports, StoredReport
from gongzhi.hub.service import TicketService
from gongzhi.hub.tickets import CLOSED, EntryType, Ticket, TimelineEntry

MAX_PHOTOS = 3
# A report still without its ticket this long after it was kept lost its ticket to a failure.
ORPHAN_AFTER_MS = 60_000
CLOSING = frozenset({Action.RESOLVE.value, Action.FALSE_ALARM.value})


@dataclass(frozen=True, slots=True)
class ReportForm:
    category: Category
    text: str
    phone: str | None
    photos: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Submitted:
    report_id: int
    ticket_id: int
    track_token: str
    track_url: str


def public_replies(timeline: list[TimelineEntry]) -> list[dict[str, Any]]:
    """What the handling parties said to the resident: the note of the action that closed the
    ticket, and comments posted as a reply to the resident. Other notes stay internal."""
    return [{"ts": e.ts_ms, "party": e.actor, "text": e.note}
            for e in timeline
            if e.type is EntryType.ACTION and e.note
            and (e.action in CLOSING or (e.action == Action.COMMENT.value
                                          and e.data.get("public") is True))]


class ReportService:
    def __init__(self, reports: SqlReports, tickets: TicketService, links: ReportLinks,
                 limiter: ReportLimiter, registry: Callable[[], Registry], clock: Clock,
                 metrics: Metrics) -> None:
        self.reports = reports
        self.tickets = tickets
        self.links = links
        self.limiter = limiter
        self.registry = registry
        self.clock = clock
        self.metrics = metrics

    def _refuse(self, status: int, reason: str, message: str,
                retry_after_s: int | None = None) -> ReportRefused:
        return self._counted(ReportRefused(status, reason, message, retry_after_s))

    def _counted(self, refused: ReportRefused) -> ReportRefused:
        self.metrics.inc("gongzhi_reports_refused_total", reason=refused.reason)
        return refused

    # --- the building page -------------------------------------------------------------------

    def building(self, token: str) -> Building:
        """The building of a link, if the link is signed and the building still in the
        registry."""
        try:
            where = self.links.verify_building(token)
        except ReportRefused as refused:
            raise self._counted(refused) from None
        if not self.registry().in_building(where.estate_id, where.building):
            raise self._refuse(403, LinkProblem.UNKNOWN_BUILDING.value,
                               "this building is no longer served by the platform")
        return where

    def submit(self, where: Building, form: ReportForm, *, device: str,
               address: str) -> Submitted:
        place = self.limiter.reserve(device=device, address=address, building=_place(where))
        if isinstance(place, Limited):
            raise self._refuse(429, place.reason, place.message + "; try again later",
                               place.retry_after_s)
        try:
            photos = self._photos(form)
        except ReportRefused:
            self.limiter.release(place)  # a refused report uses up nothing
            raise
        self.ticket_orphans()
        now = self.clock.now_ms()
        report_id = self.reports.add(NewReport(
            where.estate_id, where.building, form.category, form.text, form.phone,
            tuple(photos)), now)
        ticket_id, token = self._open_ticket(report_id, where, form.category, len(photos), now)
        self.metrics.inc("gongzhi_reports_total", category=form.category.value)
        return Submitted(report_id, ticket_id, token, self.links.track_url(token))

    def _photos(self, form: ReportForm) -> list[CleanPhoto]:
        if len(form.photos) > MAX_PHOTOS:
            raise self._refuse(422, "too_many_photos", f"at most {MAX_PHOTOS} photos")
        photos = []
        for raw in form.photos:
            try:
                photos.append(clean_photo(raw))
            except ReportRefused as refused:
                raise self._counted(refused) from None
        return photos

    def _open_ticket(self, report_id: int, where: Building, category: Category, photos: int,
                     now: int) -> tuple[int, str]:
        """The report's ticket (the report's own id makes the alarm's, so opening it again
        joins the same ticket) and a tracking link, whose nonce's hash the report keeps."""
        outcome = self.tickets.receive_alarm(Alarm(
            alarm_id=f"rp-{report_id}", kind=KIND_OF[category],
            device_id=f"report-{report_id}", estate_id=where.estate_id, ts_ms=now,
            building=where.building,
            evidence={"source": "resident_report", "report_id": report_id,
                      "category": category.value, "photos": photos}))
        assert outcome.ticket_id is not None
        token, nonce_hash = self.links.new_track_token(report_id)
        self.reports.attach(report_id, ticket_id=outcome.ticket_id, track_hash=nonce_hash,
                            now=now)
        return outcome.ticket_id, token

    def ticket_orphans(self) -> int:
        """Reports kept without their ticket (the store failed between the two writes and the
        resident was answered 503): their tickets are opened now, so no report is lost. Their
        residents have no tracking link; the parties handle them as any other."""
        now = self.clock.now_ms()
        orphans = self.reports.orphans(before=now - ORPHAN_AFTER_MS)
        for report in orphans:
            self._open_ticket(report.id, Building(report.estate_id, report.building),
                              report.category, report.photos, report.created_at)
        return len(orphans)

    # --- the resident's tracking page --------------------------------------------------------

    def _tracked(self, token: str) -> StoredReport:
        try:
            grant = self.links.verify_track(token)
        except ReportRefused as refused:
            raise self._counted(refused) from None
        report = self.reports.get(grant.report_id)
        if report is None or report.track_hash is None or report.ticket_id is None \
                or not hmac.compare_digest(report.track_hash, grant.nonce_hash):
            raise self._refuse(403, LinkProblem.UNKNOWN_REPORT.value,
                               "this tracking link opens no report")
        return report

    def _ticket(self, ticket_id: int) -> tuple[Ticket, list[TimelineEntry]]:
        with self.tickets.store.transaction(self.clock.now_ms()) as tx:
            ticket = tx.get_ticket(ticket_id)
            if ticket is None:
                raise TicketNotFound(f"no ticket {ticket_id}")
            return ticket, tx.timeline(ticket_id)

    def track(self, token: str) -> dict[str, Any]:
        """The report of ``token`` as its resident sees it: what they sent, where it stands,
        the replies and their rating. Nothing of any other report or resident."""
        report = self._tracked(token)
        assert report.ticket_id is not None
        ticket, timeline = self._ticket(report.ticket_id)
        closed = ticket.status in CLOSED
        return {
            "report": {"id": report.id, "category": report.category.value,
                       "estate_id": report.estate_id, "building": report.building,
                       "text": report.body, "photos": report.photos,
                       "created_at": report.created_at},
            "status": ticket.status.value,
            "party": ticket.assignee,
            "steps": {"received": ticket.opened_at, "acknowledged": ticket.acknowledged_at,
                      "on_site": ticket.on_site_at, "closed": ticket.closed_at},
            "replies": public_replies(timeline),
            "rating": None if report.rating is None else {
                "stars": report.rating, "comment": report.rating_comment,
                "at": report.rated_at},
            "can_rate": closed and report.rating is None,
        }

    def rate(self, token: str, stars: int, comment: str | None) -> dict[str, Any]:
        report = self._tracked(token)
        assert report.ticket_id is not None
        ticket, _ = self._ticket(report.ticket_id)
        if ticket.status not in CLOSED:
            raise self._refuse(409, "not_closed", "a report is rated once it is resolved")
        if not self.reports.rate(report.id, stars, comment, self.clock.now_ms()):
            raise self._refuse(409, "already_rated", "this report has been rated already")
        return self.track(token)

    # --- the parties -------------------------------------------------------------------------

    def _handled(self, ticket_id: int, party: str) -> tuple[Ticket, StoredReport, Role]:
        """The report of a ticket ``party`` handles: holding it or notified of it, with a duty
        that needs personal data. Supervisors read aggregates, never a resident's words."""
        ticket, _ = self.tickets.ticket_for(party, ticket_id)
        report = self.reports.by_ticket(ticket_id)
        if report is None:
            raise TicketNotFound(f"ticket {ticket_id} is not a resident's report")
        role = role_of(ticket, party)
        if role not in (*HOLDERS, Role.NOTIFIED) or access_of(party) is not Access.FULL:
            raise AccessDenied("not_handling",
                               f"{party} does not handle ticket {ticket_id}: a resident's "
                               "report is shown only to the parties that handle it")
        return ticket, report, role

    def for_party(self, ticket_id: int, party: str) -> dict[str, Any]:
        """The report behind a ticket: the resident's words, photos and phone (in full for the
        party holding the ticket, which calls back; masked for a notified one)."""
        _, report, role = self._handled(ticket_id, party)
        phone = report.phone if role in HOLDERS else mask_phone(report.phone)
        return {"ticket_id": ticket_id, "report_id": report.id,
                "category": report.category.value, "building": report.building,
                "text": report.body, "phone": phone, "created_at": report.created_at,
                "photos": [f"/api/reports/tickets/{ticket_id}/photos/{i}"
                           for i in range(report.photos)],
                "rating": report.rating, "rating_comment": report.rating_comment}

    def photo_for_party(self, ticket_id: int, party: str, idx: int) -> tuple[str, bytes]:
        _, report, _ = self._handled(ticket_id, party)
        found = self.reports.photo(report.id, idx)
        if found is None:
            raise TicketNotFound(f"report of ticket {ticket_id} has no photo {idx}")
        return found

    def reply(self, ticket_id: int, party: str, text: str) -> dict[str, Any]:
        """A reply the resident reads on the tracking page: a comment of the handling party,
        marked public, through the action matrix."""
        self._handled(ticket_id, party)
        self.tickets.act(ticket_id, party, Action.COMMENT, text, by={"public": True})
        return self.for_party(ticket_id, party)


def _place(where: Building) -> str:
    return f"{where.estate_id}/{where.building}"
