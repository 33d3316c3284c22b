"""The refusals the routes on elderly households share (absences, the link's absence, visits):
a party whose duty does not need the households (403 ``not_allowed``) and a household the
registry does not flag elderly-alone (404 ``unknown_household``)."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import HTTPException, status

from gongzhi.devices.registry import Registry
from gongzhi.hub.elderly import elderly_households


def require_party(party: str, allowed: Collection[str], doing: str) -> None:
    """403 ``not_allowed`` ("<party> may not <doing>") unless ``party`` is one of ``allowed``."""
    if party not in allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, {
            "reason": "not_allowed", "message": f"{party} may not {doing}"})


def require_elderly_household(registry: Registry, estate_id: str, household: str) -> None:
    """404 ``unknown_household`` unless the registry flags the household elderly-alone."""
    if (estate_id, household) not in elderly_households(registry):
        raise HTTPException(status.HTTP_404_NOT_FOUND, {
            "reason": "unknown_household",
            "message": f"no household {household!r} flagged elderly-alone in estate "
                       f"{estate_id!r}"})
