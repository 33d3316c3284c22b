"""The OpenAPI docs at ``/docs``, with Swagger UI served from the package (no CDN): the platform
runs on closed networks. Swagger UI starts from one inline script: it carries a fresh nonce that
the page's own Content-Security-Policy names, so no other inline script runs there and the other
pages' policy stays free of inline script."""

from __future__ import annotations

import secrets
from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from gongzhi.hub.security_headers import docs_policy

router = APIRouter(include_in_schema=False)

# Swagger UI 5 (the first to read OpenAPI 3.1, which FastAPI writes), as fastapi-offline ships it.
SWAGGER_UI = files("fastapi_offline") / "static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    base = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{base}/openapi.json", title="Gongzhi platform API",
        swagger_js_url=f"{base}/docs/assets/swagger-ui-bundle.js",
        swagger_css_url=f"{base}/docs/assets/swagger-ui.css",
        swagger_favicon_url=f"{base}/docs/assets/favicon.png",
        swagger_ui_parameters={"persistAuthorization": False})
    nonce = secrets.token_urlsafe(16)
    html = bytes(page.body).decode().replace("<script>", f'<script nonce="{nonce}">')
    return HTMLResponse(html, headers={"Content-Security-Policy": docs_policy(nonce),
                                       "Cache-Control": "no-store"})


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, "no such asset")
    return FileResponse(str(SWAGGER_UI / name), media_type=ASSETS[name],
                        headers={"Cache-Control": "max-age=86400"})
