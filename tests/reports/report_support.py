"""What the residents' report tests share: photos with camera metadata and a GPS position, a
building link of the test estate, and a report posted as the page posts it."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
from PIL import Image

from gongzhi.hub.reports.links import Building, ReportLinks
from gongzhi.hub.reports.wiring import build_reports
from tests.pages.pages_support import ESTATE, Platform

GPS_IFD = 0x8825
MAKE = 0x010F
SECRET_MAKER = "GZ-SecretPhone-4711"


def photo_with_gps(width: int = 1200, height: int = 900, fmt: str = "JPEG") -> bytes:
    """A photo as a phone takes it: EXIF with the camera's make and the place it was taken."""
    image = Image.new("RGB", (width, height), (180, 40, 40))
    for x in range(0, width, 40):  # something to compress
        image.paste((40, 40, 180), (x, 0, x + 20, height))
    exif = Image.Exif()
    exif[MAKE] = SECRET_MAKER
    exif[GPS_IFD] = {1: "N", 2: (22.0, 32.0, 51.0), 3: "E", 4: (114.0, 3.0, 30.0)}
    out = io.BytesIO()
    image.save(out, format=fmt, exif=exif.tobytes())
    return out.getvalue()


def has_metadata(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        return bool(image.getexif()) or "exif" in image.info or "xmp" in image.info


def links_of(platform: Platform) -> ReportLinks:
    """The platform's own report links (the same secret, as the QR sheet prints them)."""
    app = platform.app
    assert app is not None
    return build_reports(app.state.settings, app.state.hub, app.state.duty_desk).links


def building_token(platform: Platform, building: str, estate: str = ESTATE) -> str:
    return links_of(platform).building_token(Building(estate, building))


def post_report(http: httpx.Client, token: str, *, category: str = "fire_exit",
                text: str = "楼道堆满杂物，消防通道被堵", phone: str | None = None,
                photos: tuple[bytes, ...] = (), device: str | None = None,
                ) -> httpx.Response:
    """``device``: the page's device cookie (none: the limits count the address alone)."""
    body: dict[str, Any] = {"category": category, "text": text, "phone": phone,
                            "photos": [base64.b64encode(p).decode() for p in photos]}
    headers = {"X-Gongzhi-Building": token}
    if device is not None:
        headers["Cookie"] = f"gz_rdev={device}"
    return http.post("/api/reports", json=body, headers=headers)


def track(http: httpx.Client, token: str) -> httpx.Response:
    return http.get("/api/reports/track", headers={"X-Gongzhi-Track": token})
