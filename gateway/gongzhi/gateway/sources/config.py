"""The sources file (``GONGZHI_SOURCES``): a YAML list of sources, each with an id, a kind and
the kind's options, read with the config kit so every error names ``file:line``::

    sources:
      - id: lorawan               # 1-64 of A-Z a-z 0-9 _ -; unique; labels the source's metrics
        kind: chirpstack          # see kinds.KIND_MODULES
        stale_after: 2h           # optional: silent this long -> reported down in /readyz
        options: {...}            # the kind's own model (secrets as {file: ...} / {env: ...})

A source may be switched off with ``enabled: false`` (its options are still checked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from gongzhi.core.config_kit import (
    STRICT_CONFIG,
    Document,
    Identifier,
    PositiveDuration,
    read_yaml,
    validate,
)
from gongzhi.core.errors import ConfigError
from gongzhi.gateway.sources.base import SourceKind
from gongzhi.gateway.sources.kinds import load_kind


class SourceEntry(BaseModel):
    model_config = STRICT_CONFIG

    id: Identifier
    kind: str
    enabled: bool = True
    stale_after: PositiveDuration | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class SourcesFile(BaseModel):
    model_config = STRICT_CONFIG

    sources: list[SourceEntry]


@dataclass(frozen=True)
class SourceConfig:
    id: str
    kind: SourceKind[Any]
    options: BaseModel
    enabled: bool
    stale_after_s: float | None
    where: str  # file:line of the entry, for messages


def load_sources(path: Path, environ: Mapping[str, str] | None = None) -> list[SourceConfig]:
    """The sources of ``path``, every kind's options validated (``ConfigError`` naming the line
    of the first problem)."""
    document = read_yaml(path)
    return sources_of(document, base=path.parent, environ=environ)


def sources_of(document: Document, *, base: Path | None = None,
               environ: Mapping[str, str] | None = None) -> list[SourceConfig]:
    parsed = validate(document, SourcesFile, base=base, environ=environ)
    seen: dict[str, int] = {}
    out: list[SourceConfig] = []
    for index, entry in enumerate(parsed.sources):
        at = ("sources", index)
        if entry.id in seen:
            raise document.fail((*at, "id"), f"sources[{index}].id: {entry.id!r} is used by "
                                             f"sources[{seen[entry.id]}] too")
        seen[entry.id] = index
        try:
            kind = load_kind(entry.kind)
        except ConfigError as exc:
            raise document.fail((*at, "kind"), f"sources[{index}].kind: {exc}") from None
        options = _options(document, index, kind, base, environ)
        out.append(SourceConfig(entry.id, kind, options, entry.enabled, entry.stale_after,
                                document.where(at)))
    return out


def _options(document: Document, index: int, kind: SourceKind[Any], base: Path | None,
             environ: Mapping[str, str] | None) -> BaseModel:
    """The entry's options validated by the kind's model, errors on the options' own lines."""
    prefix = ("sources", index, "options")
    data = document.data["sources"][index].get("options") or {}
    lines = {path[len(prefix):]: line for path, line in document.lines.items()
             if path[:len(prefix)] == prefix}
    lines.setdefault((), document.line_of(prefix))
    sub = Document(document.source, data, lines)
    try:
        options: BaseModel = validate(sub, kind.options, base=base, environ=environ)
        return options
    except ConfigError as exc:
        text = str(exc)
        if exc.source and text.startswith(f"{exc.source}: "):
            text = text[len(exc.source) + 2:]
        raise ConfigError(f"sources[{index}].options: {text}", source=exc.source) from None
