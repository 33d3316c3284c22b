"""Rules compiled to machine code: the one module that touches the compiler.

A rule's step on one report is a few dozen comparisons per candidate. Written with numpy over
the devices of a round it costs a microsecond per operation whatever the round's size, which is
the whole cost when a round holds one device (a household's recording replayed); compiled, a
loop over the round's devices costs what the arithmetic costs. The compiled functions keep
numpy's arithmetic exactly (float32 where the state is float32), so a rule gives the same
alarms either way.

The machine code is cached beside the source (or under ``NUMBA_CACHE_DIR``): compiling takes
seconds, once per installation; nothing is compiled at import, only at a function's first call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., object])


def compiled(function: F) -> F:
    """``function`` compiled on its first call (no Python objects inside: numbers and arrays)."""
    return cast(F, numba.njit(cache=True, nogil=True)(function))
