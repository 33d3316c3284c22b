"""The exception tree. Each boundary translates these into its own terms (MQTT dead letters,
HTTP 4xx, CLI exit codes); nothing below a boundary raises a foreign exception on purpose.

GongzhiError
├── ConfigError          settings, registry, duty matrix or scenario files that cannot be used
├── RejectedMessage      a device message that cannot be used (carries a stable ``reason``)
├── StoreUnavailable     a store that is configured right cannot be reached now: retry later
└── TicketError
    ├── TicketNotFound
    ├── IllegalTransition
    └── AccessDenied
"""

from __future__ import annotations


class GongzhiError(Exception):
    """Base of every error Gongzhi raises on purpose."""


class ConfigError(GongzhiError):
    """A configuration file or variable is unusable. ``source`` names the file (and line)."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class RejectedMessage(GongzhiError):
    """A device message was refused. ``reason`` is a short stable identifier used as a metric
    label; ``detail`` is for people."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class StoreUnavailable(GongzhiError):
    """A database or service that is configured right cannot be reached right now. Boundaries
    answer "try again" (HTTP 503) rather than fail for good."""


class TicketError(GongzhiError):
    """Base of ticket lifecycle errors."""


class TicketNotFound(TicketError):
    pass


class IllegalTransition(TicketError):
    pass


class AccessDenied(TicketError):
    """A party may not do this. ``reason`` is a short stable identifier for machines."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)
