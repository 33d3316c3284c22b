"""Modules named in a table and imported only when a configuration uses them (source kinds,
simulator protocols): a missing one is a configuration error, not a crash."""

from __future__ import annotations

import importlib
from types import ModuleType

from gongzhi.core.errors import ConfigError


def import_named(module_name: str, what: str) -> ModuleType:
    """``module_name`` imported; ``ConfigError`` naming ``what`` when the module itself does not
    exist (an import error inside it is raised as it is)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ConfigError(f"{what} is not available in this build") from None
        raise
