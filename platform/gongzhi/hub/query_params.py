"""Each query parameter given once. For ``?kind=a&kind=b`` FastAPI silently takes the last value
of a parameter that holds one; the platform answers 422 instead, so a request means one thing.
An app-wide dependency: it reads the parameters the matched operation declares."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from types import UnionType
from typing import Any, Union, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError


def _takes_many(annotation: Any) -> bool:
    """A list (or other sequence) of values, possibly optional."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return any(_takes_many(arg) for arg in get_args(annotation))
    kind = origin or annotation
    return (isinstance(kind, type) and issubclass(kind, Sequence | set | frozenset)
            and not issubclass(kind, str | bytes))


def _single_valued(dependant: Dependant) -> Iterator[str]:
    for field in dependant.query_params:
        if not _takes_many(field.field_info.annotation):
            yield field.alias
    for dependency in dependant.dependencies:
        yield from _single_valued(dependency)


def one_value_each(request: Request) -> None:
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if not isinstance(dependant, Dependant):
        return
    given = Counter(name for name, _ in request.query_params.multi_items())
    repeated = sorted({name for name in _single_valued(dependant) if given[name] > 1})
    if repeated:
        raise RequestValidationError([
            {"loc": ("query", name), "type": "repeated_parameter",
             "msg": f"given {given[name]} times; this parameter takes one value"}
            for name in repeated])
