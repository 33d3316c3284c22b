"""The push front end's own process, and the gateway's handle on it (``FrontProcess``).

Why a process: at thousands of pushes a second the port's parsing, checks and commits and the
pipeline's decoding, detection and storage each want a core; in one process they take turns
on the interpreter lock, and each push's answer waits for the pipeline's turn. The two sides
share only the spool (SQLite, WAL: one file, a connection each).

The gateway starts ``python -m gongzhi.gateway.sources.http_push_process``, writes the pickled
``FrontSpec`` to its standard input and keeps that pipe open: when the gateway ends, however it
ends (killed included), the pipe closes and the front end stops, so no front end outlives its
gateway. The front end answers on its standard output, a line each:

    ready <port>          listening (the first line; or ``error <kind> <text>``, then exit 1)
    c                     new pushes committed to the spool
    r <reason>            a push refused and not kept (401, 413)
    d <count>             retries recognised

Its log lines go to standard error, the gateway's own.
"""

from __future__ import annotations

import contextlib
import logging
import select
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import IO

from gongzhi.core.clock import SystemClock
from gongzhi.core.errors import ConfigError
from gongzhi.gateway.sources.http_push_front import FrontEvents, FrontSpec, PushFront
from gongzhi.gateway.sources.piped_child import READY_TIMEOUT_S, PipedChild, read_spec

log = logging.getLogger(__name__)



class FrontFailed(RuntimeError):
    """The front end's process could not start, or ended."""


class FrontProcess(PipedChild):
    """Starts, watches and stops one front end's process; its events reach ``events`` (from a
    reader thread of this process). ``exited`` is set when the process ends unasked."""

    def __init__(self, spec: FrontSpec, events: FrontEvents,
                 on_exit: Callable[[], None] = lambda: None) -> None:
        super().__init__(__name__, f"the push front end of {spec.source_id}")
        self._spec = spec
        self._events = events
        self._on_exit = on_exit

    def start(self) -> int:
        """Starts the process; its port once it listens. ``ConfigError`` for what the
        configuration must change (a port in use, an unusable certificate), ``FrontFailed``
        for the rest."""
        try:
            proc = self._spawn(self._spec)
            assert proc.stdout is not None
            first = _first_line(proc.stdout, READY_TIMEOUT_S)
        except (OSError, FrontFailed) as exc:
            self.stop()
            raise FrontFailed(f"{self._name} did not start: {exc}") from None
        word, _, rest = first.partition(" ")
        if word != "ready":
            self.stop()
            kind, _, text = rest.partition(" ")
            if kind == "config":
                raise ConfigError(text)
            raise FrontFailed(f"{self._name} did not start: {text or first or 'it ended'}")
        self._watch(self._read)
        port = int(rest)
        self._spec = replace(self._spec, port=port)  # a start again takes the same port
        return port

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        events = self._events
        try:
            for line in proc.stdout:
                if line == b"c\n":
                    events.committed()
                elif line.startswith(b"r "):
                    events.refused(line[2:].decode().strip())
                elif line.startswith(b"d "):
                    events.duplicates(int(line[2:]))
        except (OSError, ValueError):
            pass  # the pipe closed under the reader (stop)
        if self._ended(proc):
            self._on_exit()


def _first_line(stream: IO[bytes], timeout_s: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout_s)
    if not ready:
        raise FrontFailed(f"no answer in {timeout_s:.0f} s")
    return stream.readline().decode("utf-8", "replace").strip()


class _PipeEvents:
    """The front end's events, written to the gateway (a line each, flushed at once)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def _write(self, line: bytes) -> None:
        # A closed pipe: the gateway has ended and this process is ending too (its pushes
        # are in the spool; answered or not, the next gateway hands them over).
        with self._lock, contextlib.suppress(OSError):
            self._out.write(line)
            self._out.flush()

    def committed(self) -> None:
        self._write(b"c\n")

    def refused(self, reason: str) -> None:
        self._write(f"r {reason}\n".encode())

    def duplicates(self, count: int) -> None:
        self._write(f"d {count}\n".encode())


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def main() -> int:
    spec: FrontSpec = read_spec()
    out = sys.stdout.buffer
    front = PushFront(spec, _PipeEvents(out), SystemClock())
    try:
        front.start()
    except ConfigError as exc:
        out.write(f"error config {_one_line(exc)}\n".encode())
        return 1
    except Exception as exc:
        log.exception("the push front end of %s did not start", spec.source_id)
        out.write(f"error fatal {_one_line(exc)}\n".encode())
        return 1
    out.write(f"ready {front.port}\n".encode())
    out.flush()
    sys.stdin.buffer.read()  # until the gateway closes the pipe or ends
    front.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
