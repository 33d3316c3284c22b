"""One 405 for a path served by a GET and a POST route: without it, a method neither serves is
answered by whichever route matched, naming only its own method in ``Allow``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status


def answer_other_methods(router: APIRouter, path: str = "") -> None:
    """Answer PUT, PATCH, DELETE and OPTIONS on ``path`` with 405 and ``Allow: GET, POST``."""

    @router.api_route(path, methods=["PUT", "PATCH", "DELETE", "OPTIONS"],
                      include_in_schema=False)
    def other_methods() -> None:
        raise HTTPException(status.HTTP_405_METHOD_NOT_ALLOWED, "Method Not Allowed",
                            headers={"Allow": "GET, POST"})
