"""The OpenAPI docs at ``/docs``, with Swagger UI served from the package (no CDN): the platform
runs on closed networks."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

router = APIRouter(include_in_schema=False)

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    base = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{base}/openapi.json", title="Gongzhi platform API",
        swagger_js_url=f"{base}/docs/assets/swagger-ui-bundle.js",
        swagger_css_url=f"{base}/docs/assets/swagger-ui.css",
        swagger_favicon_url=f"{base}/docs/assets/favicon-32x32.png",
        swagger_ui_parameters={"persistAuthorization": False})


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, "no such asset")
    return FileResponse(str(swagger_ui_path / name), media_type=ASSETS[name],
                        headers={"Cache-Control": "max-age=86400"})
