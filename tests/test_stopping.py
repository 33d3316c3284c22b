"""``SignalledStop``: a signal's handler only notes it; the loop reads the notes at its turn."""

from __future__ import annotations

import os
import signal

from gongzhi.core.stopping import SignalledStop


def test_a_signal_is_noted_and_the_handler_given_back() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    with SignalledStop(signal.SIGUSR1, poll_s=0.01) as stop:
        assert not stop.is_set() and stop.wait(0) is False
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.wait(5) and stop.is_set()
    assert signal.getsignal(signal.SIGUSR1) is before


def test_the_signals_noted_are_popped_oldest_first() -> None:
    with SignalledStop(signal.SIGUSR1, signal.SIGUSR2, poll_s=0.01) as noted:
        assert noted.pop() is None
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert noted.wait(5)
        assert [noted.pop(), noted.pop(), noted.pop()] == [signal.SIGUSR2, signal.SIGUSR1, None]
        assert not noted.is_set()
