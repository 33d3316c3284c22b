"""Why a resident's report, link, photo or rating is not taken."""

from __future__ import annotations


class ReportRefused(Exception):
    """Answered with HTTP ``status`` and ``{"reason", "message"}``; ``retry_after_s`` for a
    limit (429)."""

    def __init__(self, status: int, reason: str, message: str,
                 retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after_s = retry_after_s
