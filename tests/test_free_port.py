"""``free_port``: a port is handed out once per process, even when the kernel gives a port just
released to the next bind to port 0 (two servers picked before either listens, as a demo's
routes or a supervisor's workers, would otherwise share it)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import pytest

from gongzhi.core import broker


class KernelGivingAgain:
    """A socket whose bind to port 0 gets the ports of ``given`` in turn."""

    def __init__(self, given: Iterator[int]) -> None:
        self._given = given
        self._port = 0

    def __call__(self, *args: Any, **kwargs: Any) -> KernelGivingAgain:
        return self

    def __enter__(self) -> KernelGivingAgain:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        self._port = next(self._given)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self._port)


def test_a_port_the_kernel_gives_again_is_not_handed_out_twice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker, "_HANDED_OUT", set())
    kernel = KernelGivingAgain(iter([41001, 41001, 41001, 41002, 41001, 41003]))
    monkeypatch.setattr(broker.socket, "socket", kernel)
    assert [broker.free_port() for _ in range(3)] == [41001, 41002, 41003]


def test_the_ports_handed_out_are_free_and_distinct() -> None:
    ports = [broker.free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    for port in ports[:5]:  # free: a server can listen on it
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            s.listen()
