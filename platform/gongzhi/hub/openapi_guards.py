"""The answers of authentication, body parsing and the body size limit, declared in the OpenAPI
document: every operation that takes a token may answer 401 or 429, every one with a body 400
(not JSON) and 413. They come from a dependency, FastAPI's body parsing and a middleware, which
FastAPI does not see when it writes the document."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from gongzhi.hub.body_limit import limit_for

RETRY_AFTER = {"description": "seconds to wait before trying another token",
               "schema": {"type": "integer", "minimum": 1}}


def _declare(document: dict[str, Any]) -> None:
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if operation.get("security"):
                responses.setdefault("401", {"description": "missing or unknown bearer token"})
                responses.setdefault("429", {
                    "description": "too many failed authentications from this address",
                    "headers": {"Retry-After": RETRY_AFTER}})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "the body is not valid JSON"})
                responses.setdefault("413", {
                    "description": f"request body larger than {limit_for(path)} bytes"})


def declare_guard_answers(app: FastAPI) -> None:
    build = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            _declare(build())  # FastAPI keeps the document it builds in app.openapi_schema
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
