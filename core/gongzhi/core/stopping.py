"""How a process is asked to stop (or reload): by a signal (``gongzhi demo``, a supervisor and
service managers send SIGTERM) whose handler only notes it, and a loop that looks at the notes at
its next turn. The gateway's workers and the simulators' commands stop this way."""

from __future__ import annotations

import signal
import time
from types import TracebackType
from typing import Any, Protocol

POLL_S = 0.1  # how long a wait goes without looking at the note


class StopFlag(Protocol):
    """What a loop asks of its stop: a ``threading.Event`` (a caller of its own) or a
    ``SignalledStop``."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float) -> bool: ...


class SignalledStop:
    """Set once one of ``signums`` came, while installed (``with``: the handlers that were
    there before are given back at the end); ``pop`` takes the signals noted one by one.

    The handler only notes the signal: it takes no lock. A handler runs in the main thread
    between two of its bytecodes, a second signal's inside the first's; one that set a
    ``threading.Event`` could find that Event's lock held by the code it interrupted (the first
    handler's own ``set``, or the loop's ``wait`` on the Event) and wait for it forever: a
    process given two SIGTERMs at once never stopped (given more, it died of a stack of
    handlers each waiting inside the one before, without its summary)."""

    def __init__(self, *signums: int, poll_s: float = POLL_S) -> None:
        self._signums = signums or (signal.SIGTERM,)
        self._poll_s = poll_s
        self._noted: list[int] = []  # list.append is atomic and takes no lock a handler holds
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalledStop:
        self._previous = {s: signal.signal(s, self._note) for s in self._signums}
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            if handler is not None:  # None: not installed from Python, nothing to give back
                signal.signal(signum, handler)
        self._previous = {}

    def _note(self, signum: int, frame: object) -> None:
        self._noted.append(signum)

    def is_set(self) -> bool:
        return bool(self._noted)

    def pop(self) -> int | None:
        """The oldest signal noted and not yet popped (None: none): for a loop that tells them
        apart (SIGHUP, a reload, from a stop)."""
        return self._noted.pop(0) if self._noted else None

    def wait(self, timeout: float) -> bool:
        """Whether a signal came, by ``timeout`` seconds at the latest; looks every ``poll_s``
        (a handler runs within the sleep, which carries on after it)."""
        deadline = time.monotonic() + timeout
        while not self._noted:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, self._poll_s))
        return True
