"""Writing a file whole or not at all, with its mode from the first byte (files of secrets)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomically(path: Path, text: str, mode: int, *, replace: bool = True) -> None:
    """Write ``text`` beside ``path``, then rename it into place (``replace``) or link it there,
    which fails with ``FileExistsError`` if ``path`` exists: a reader never sees half a file,
    and the file never has a wider mode than ``mode``, even for a moment."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(partial, mode)  # the umask may have narrowed it
        if replace:
            os.replace(partial, path)
        else:
            os.link(partial, path)
    finally:
        partial.unlink(missing_ok=True)
