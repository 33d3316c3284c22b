"""The people-facing pages and their assets, all served from the package: the screens work on a
closed network with no CDN. The platform's middleware gives every response a strict
Content-Security-Policy (no inline script, no eval, nothing from another origin)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, Response

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

# Module scripts must be served as JavaScript whatever the host's mime.types says.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".wav": "audio/wav",
    ".json": "application/json",
    ".png": "image/png",
}

PAGES = {"/": "console.html", "/police": "console.html", "/supervision": "supervision.html"}

router = APIRouter(tags=["pages"])


def _file_response(path: Path, *, cache: str) -> Response:
    media_type = CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    # The security headers and the Content-Security-Policy come from the platform's middleware
    # (gongzhi.hub.security_headers), one policy for every page.
    return FileResponse(path, media_type=media_type or "application/octet-stream",
                        headers={"Cache-Control": cache})


def static_file(relative: str) -> Path:
    """The asset under the static folder, or 404 for anything outside it or missing."""
    candidate = (STATIC_DIR / relative).resolve()
    if not candidate.is_relative_to(STATIC_DIR) or not candidate.is_file():
        raise HTTPException(404, "no such asset")
    return candidate


def _page(name: str) -> Response:
    # Pages are small and change with each release: always revalidate.
    return _file_response(STATIC_DIR / name, cache="no-cache")


@router.get("/", include_in_schema=False)
def wall_page() -> Response:
    """The alarm wall of the property management office."""
    return _page(PAGES["/"])


@router.get("/police", include_in_schema=False)
def police_page() -> Response:
    """The community police room's console."""
    return _page(PAGES["/police"])


@router.get("/supervision", include_in_schema=False)
def supervision_page() -> Response:
    """The supervision view of the NPC liaison station and the party committee."""
    return _page(PAGES["/supervision"])


@router.get("/static/{relative:path}", include_in_schema=False)
def asset(relative: str) -> Response:
    return _file_response(static_file(relative), cache="no-cache")


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    return _file_response(static_file("img/icon.svg"), cache="max-age=86400")
