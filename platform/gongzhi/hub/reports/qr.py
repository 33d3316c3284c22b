"""QR codes of building links, as SVG data URLs a page can print (segno, no network)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import segno

from gongzhi.hub.reports.links import Building, ReportLinks


def qr_sheet(links: ReportLinks, buildings: Iterable[Building]) -> list[dict[str, Any]]:
    codes = []
    for where in buildings:
        url = links.building_url(where)
        # Error correction M: a code on a notice board survives some dirt and a crease.
        code = segno.make(url, error="m", micro=False)
        codes.append({"estate_id": where.estate_id, "building": where.building, "url": url,
                      "svg": code.svg_data_uri(scale=6, border=2)})
    return codes
