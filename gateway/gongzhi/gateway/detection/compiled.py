"""Rules compiled to machine code: the one module that touches the compiler.

A rule's step on one report is a few dozen comparisons per candidate. Written with numpy over
the devices of a round it costs a microsecond per operation whatever the round's size, which is
the whole cost when a round holds one device (a household's recording replayed); compiled, a
loop over the round's devices costs what the arithmetic costs. The compiled functions keep
numpy's arithmetic exactly (float32 where the state is float32), so a rule gives the same
alarms either way.

The machine code is cached beside the source (or under ``NUMBA_CACHE_DIR``): compiling takes
seconds, once per installation; nothing is compiled at import, only at a function's first call
(``warm.compile_rules`` makes that the start of a process). A compiled function carries the code
of the compiled functions it calls, which live in other modules, while the compiler's cache
knows only the function's own file: each cache is therefore stamped with the contents of every
module of this package that compiles (``sources_stamp``), so a change to any of them compiles
all afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., object])

_IMPORT = f"from {__name__} import compiled"


def compiled(function: F) -> F:
    """``function`` compiled on its first call (no Python objects inside: numbers and arrays)."""
    dispatcher = numba.njit(cache=True, nogil=True, inline="always")(function)
    # (The compiler's own stamp is the function's file's time and size.)
    dispatcher._cache._cache_file._source_stamp = sources_stamp()  # type: ignore[attr-defined]
    return cast(F, dispatcher)


@cache
def sources_stamp(folder: Path = Path(__file__).parent) -> str:
    """A digest of the modules in ``folder`` (this package's) that compile: this one and those
    importing it."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        text = path.read_bytes()
        if path.name == Path(__file__).name or _IMPORT.encode() in text:
            digest.update(path.name.encode() + b"\0" + text)
    return digest.hexdigest()
