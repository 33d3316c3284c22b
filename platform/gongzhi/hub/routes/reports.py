"""Residents' reports over HTTP, without an account: the building page a QR code opens
(``/r/<building link>``), the report itself (``POST /api/reports``, the building link in the
``X-Gongzhi-Building`` header), and the resident's tracking page (``/r/t#<tracking link>``, the
link in ``X-Gongzhi-Track``) with the rating once the report is closed.

Abuse limits count per device (a random cookie set by the page) and per client address, each per
building: over a limit the answer is 429 with the reason and ``Retry-After``. Refusals carry
``{"detail": {"reason", "message"}}``.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import Field, field_validator

from gongzhi.hub.auth_limit import client_key
from gongzhi.hub.reports.categories import LABELS, Category
from gongzhi.hub.reports.errors import ReportRefused
from gongzhi.hub.reports.photos import MAX_PHOTO_BYTES
from gongzhi.hub.reports.service import MAX_PHOTOS, ReportForm, ReportService
from gongzhi.hub.reports.wiring import get_reports
from gongzhi.hub.routes.pages import STATIC_DIR, _file_response
from gongzhi.hub.schemas import NO_NUL, Strict

router = APIRouter(tags=["residents' reports"])

ReportsDep = Annotated[ReportService, Depends(get_reports)]
BuildingHeader = Annotated[str | None, Header(alias="X-Gongzhi-Building", max_length=512,
                                              description="the building link's token")]
TrackHeader = Annotated[str | None, Header(alias="X-Gongzhi-Track", max_length=512,
                                           description="the tracking link's token")]

DEVICE_COOKIE = "gz_rdev"
_DEVICE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_TEXT = 1000
# A photo as base64 (optionally a data: URL): 4 characters per 3 bytes.
MAX_PHOTO_CHARS = MAX_PHOTO_BYTES * 4 // 3 + 64
_DATA_URL = re.compile(r"^data:image/[a-z0-9.+-]+;base64,")


# 7 to 15 digits, with an optional leading + and spaces, dashes or brackets between; or none.
PHONE = r"^\s*\+?(?:[\s()-]*[0-9]){7,15}[\s()-]*$|^\s*$"
# Some text that is not only white space.
SAID = r"^[^\x00]*[^\x00\s][^\x00]*$"


class ReportIn(Strict):
    category: Category
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT, pattern=SAID)]
    phone: Annotated[str | None, Field(max_length=32, pattern=PHONE)] = None
    photos: Annotated[list[Annotated[str, Field(max_length=MAX_PHOTO_CHARS)]],
                      Field(default_factory=list, max_length=MAX_PHOTOS)]

    @field_validator("text")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return value.strip()

    @field_validator("phone")
    @classmethod
    def _digits(cls, value: str | None) -> str | None:
        """Digits only (+, spaces, dashes and brackets dropped), or none."""
        digits = re.sub(r"\D", "", value or "")
        return digits or None


class RatingIn(Strict):
    stars: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str | None, Field(max_length=500, pattern=NO_NUL)] = None


def _refused(refused: ReportRefused) -> JSONResponse:
    headers = {"Retry-After": str(refused.retry_after_s)} if refused.retry_after_s else None
    return JSONResponse({"detail": {"reason": refused.reason, "message": refused.message}},
                        status_code=refused.status, headers=headers)


def _photo_bytes(text: str) -> bytes:
    body = _DATA_URL.sub("", text, count=1)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ReportRefused(422, "photo_unreadable", "a photo is not base64") from None


# --- pages ---------------------------------------------------------------------------------------

@router.get("/r/t", include_in_schema=False)
def track_page() -> Response:
    """The resident's tracking page; the link's token is in the fragment."""
    return _file_response(STATIC_DIR / "track.html", cache="no-cache")


@router.get("/r/{token}", include_in_schema=False)
def report_page(token: str, request: Request) -> Response:
    """The building's report page (the page checks its link with the API). Gives the phone a
    random device cookie, which the abuse limits count by."""
    del token
    response = _file_response(STATIC_DIR / "report.html", cache="no-cache")
    if not _DEVICE.fullmatch(request.cookies.get(DEVICE_COOKIE, "")):
        response.set_cookie(DEVICE_COOKIE, secrets.token_urlsafe(16), max_age=365 * 86_400,
                            httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    return response


@router.get("/reports/qr", include_in_schema=False)
def qr_page() -> Response:
    """The printable sheet of the buildings' QR codes (signed-in parties)."""
    return _file_response(STATIC_DIR / "qr.html", cache="no-cache")


# --- the resident's API --------------------------------------------------------------------------

@router.get("/api/reports/building",
            responses={403: {"description": "the building link is not valid"}})
def building(reports: ReportsDep, link: BuildingHeader = None) -> Any:
    """The building a link names, and the categories a resident may report."""
    try:
        where = reports.building(link or "")
    except ReportRefused as refused:
        return _refused(refused)
    return {"estate_id": where.estate_id, "building": where.building,
            "categories": [{"id": c.value, "zh": LABELS["zh"][c], "en": LABELS["en"][c]}
                           for c in Category],
            "max_photos": MAX_PHOTOS, "max_photo_bytes": MAX_PHOTO_BYTES, "max_text": MAX_TEXT}


@router.post("/api/reports", status_code=status.HTTP_201_CREATED,
             responses={403: {"description": "the building link is not valid"},
                        413: {"description": "a photo is too large"},
                        422: {"description": "bad input, or a photo that is not one"},
                        429: {"description": "a limit per device or address is reached"}})
def make_report(body: ReportIn, request: Request, reports: ReportsDep,
                link: BuildingHeader = None) -> Any:
    """A resident's report: a ticket for the building, routed by the duty matrix. The answer's
    tracking link is given once: it is the only way back to the report."""
    address = client_key(request.client.host if request.client else None)
    cookie = request.cookies.get(DEVICE_COOKIE, "")
    device = cookie if _DEVICE.fullmatch(cookie) else f"no-cookie:{address}"
    try:
        where = reports.building(link or "")
        form = ReportForm(body.category, body.text, body.phone,
                          tuple(_photo_bytes(p) for p in body.photos))
        made = reports.submit(where, form, device=device, address=address)
    except ReportRefused as refused:
        return _refused(refused)
    return {"report_id": made.report_id, "track_token": made.track_token,
            "track_url": made.track_url}


@router.get("/api/reports/track", responses={403: {"description": "the link opens no report"}})
def track(reports: ReportsDep, link: TrackHeader = None) -> Any:
    """The tracking link's report: status, replies, rating. Nothing of any other report."""
    try:
        return reports.track(link or "")
    except ReportRefused as refused:
        return _refused(refused)


@router.post("/api/reports/track/rating",
             responses={403: {"description": "the link opens no report"},
                        409: {"description": "not closed yet, or rated already"}})
def rate(body: RatingIn, reports: ReportsDep, link: TrackHeader = None) -> Any:
    """The resident's satisfaction (1-5 stars, a comment), once, after the report is closed."""
    comment = body.comment.strip() if body.comment else None
    try:
        return reports.rate(link or "", body.stars, comment or None)
    except ReportRefused as refused:
        return _refused(refused)
