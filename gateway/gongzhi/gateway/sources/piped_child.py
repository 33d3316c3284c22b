"""A source's helper process tied to the gateway by a pipe (the push front end, an MQTT
subscriber): started as ``python -m <module>`` with its settings pickled on its standard input,
which the gateway keeps open. The helper ends when that pipe closes, so it never outlives the
gateway, however the gateway ends (killed included). What it says comes back on its standard
output, read by a thread of the gateway's (the subclass's ``_read``); its log goes to the
gateway's standard error. A helper that ends unasked is started again by its source, when and
on which thread the source says, after the waits of ``Restarts``.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import random
import subprocess
import sys
import threading
from typing import IO, Any

from gongzhi.core.backoff import Backoff

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0
# How long a started helper has to say it is ready before its start fails.
READY_TIMEOUT_S = 30.0
# Between a helper that ended on its own and its next start.
RESTART = Backoff(first_s=1.0, max_s=30.0, floor_s=0.5)


class PipedChild:
    """Starting, watching and stopping the process; ``exited`` is set when it ends unasked."""

    def __init__(self, module: str, name: str) -> None:
        self._module = module
        self._name = name  # for the log: "the push front end of telecom"
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._stopping = False
        self.exited = threading.Event()
        self.exit_code: int | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> object:
        """Starts the process; returns once it said it is ready, raises when it cannot start
        (the subclass's)."""
        raise NotImplementedError

    def _spawn(self, spec: object) -> subprocess.Popen[bytes]:
        """The process started and handed ``spec`` (``OSError`` when it cannot be)."""
        self._stopping = False
        self.exited.clear()
        proc = subprocess.Popen([sys.executable, "-m", self._module], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
        self._proc = proc
        assert proc.stdin is not None
        proc.stdin.write(pickle.dumps(spec))
        proc.stdin.flush()
        return proc

    def _watch(self, target: object, *args: object) -> None:
        """The reader thread (``target(proc, *args)``), started."""
        assert callable(target)
        self._reader = threading.Thread(target=target, args=(self._proc, *args),
                                        name=self._module.rsplit(".", 1)[-1], daemon=True)
        self._reader.start()

    def stop(self) -> None:
        """Closes the process's pipe (it finishes what it holds, then ends) and waits."""
        self._stopping = True
        proc, self._proc = self._proc, None
        if proc is None:
            return
        close_pipe(proc.stdin)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.error("%s did not stop; killed", self._name)
            proc.kill()
            proc.wait()
        close_pipe(proc.stdout)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=STOP_TIMEOUT_S)
            self._reader = None

    def _ended(self, proc: subprocess.Popen[bytes]) -> bool:
        """After the reader's end of input: whether the process ended unasked (then its pipes
        are closed, the end logged and ``exited`` set)."""
        self.exit_code = proc.wait()
        if self._stopping:
            return False
        close_pipe(proc.stdin)
        close_pipe(proc.stdout)
        log.error("%s ended (exit code %s)", self._name, self.exit_code)
        self.exited.set()
        return True


class Restarts:
    """A source's restarts of its helper after it ended unasked, one ``attempt`` a call (the
    source says when, and on which thread): each waits ``backoff``'s delay for the failures in
    a row so far (drawn with the source's ``rng``), then starts the helper; ``stopping`` set
    during the wait ends it at once, starting nothing. A start that fails adds a failure; one
    that succeeds (the helper said it is ready) sets them back to none. A new ``Restarts``
    begins with none."""

    def __init__(self, child: PipedChild, stopping: threading.Event, rng: random.Random,
                 backoff: Backoff = RESTART) -> None:
        self._child = child
        self._stopping = stopping
        self._rng = rng
        self._backoff = backoff
        self.failures = 0

    def attempt(self) -> bool:
        """Whether the helper was started again: False when ``stopping`` was set during the
        wait (nothing tried). A start that fails is logged and counted, and raises as the
        helper's ``start`` does."""
        if self._stopping.wait(self._backoff.delay(self.failures + 1, self._rng)):
            return False
        try:
            self._child.start()
        except Exception as exc:
            self.failures += 1
            log.error("cannot start %s again: %s", self._child.name, exc)
            raise
        self.failures = 0
        log.warning("%s started again", self._child.name)
        return True


def read_spec() -> Any:
    """In the helper: its settings from the gateway's pipe, and its log set up at their
    ``log_level`` on standard error (the gateway's)."""
    spec = pickle.load(sys.stdin.buffer)
    logging.basicConfig(level=spec.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return spec


def close_pipe(pipe: IO[bytes] | None) -> None:
    if pipe is not None:
        with contextlib.suppress(OSError):
            pipe.close()
