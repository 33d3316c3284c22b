"""The answers of authentication, body parsing and the body size limit, declared in the OpenAPI
document: every operation that takes a token may answer 401 or 429, and 403 when it is only for
parties or only for the gateway (the other kind of token is refused); every one with a body 400
(not JSON) and 413. They come from dependencies, FastAPI's body parsing and a middleware, which
FastAPI does not see when it writes the document."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from gongzhi.hub.body_limit import limit_for
from gongzhi.hub.deps import get_gateway, get_party

RETRY_AFTER = {"description": "seconds to wait before trying another token",
               "schema": {"type": "integer", "minimum": 1}}


# Dependencies that refuse a valid token of the wrong kind with 403, and what they say.
REFUSING: dict[Callable[..., Any], str] = {
    get_party: "the gateway's token may only deliver alarms and device states",
    get_gateway: "only the gateway's token delivers this",
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def refusals(app: FastAPI) -> dict[tuple[str, str], str]:
    """(path, method) -> why a valid token may be refused with 403, for every operation whose
    dependencies refuse the other kind of token."""
    found: dict[tuple[str, str], str] = {}
    for route in iter_route_contexts(app.routes):  # routers included in routers, flattened
        dependant = getattr(route, "dependant", None)
        if not isinstance(dependant, Dependant) or route.path_format is None:
            continue
        why = next((REFUSING[c] for c in _calls(dependant) if c in REFUSING), None)
        if why is not None:
            for method in route.methods or ():
                found[(route.path_format, method.lower())] = why
    return found


def _declare(document: dict[str, Any], refused: dict[tuple[str, str], str]) -> None:
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            why = refused.get((path, method))
            if why is not None:
                forbidden = responses.setdefault("403", {"description": why})
                if why not in forbidden["description"]:
                    forbidden["description"] += f"; or {why}"
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
            # FastAPI keeps the document it builds in app.openapi_schema
            _declare(build(), refusals(app))
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
