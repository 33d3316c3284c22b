"""The residents' committee's visits to elderly people living alone: the routine visit the
civil-affairs target asks for every month, and what the visit found. A month's coverage says
which flagged households were visited and which still wait. Pure: the ticket store keeps the
visits (``gongzhi.hub.visit_store``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from gongzhi.devices.registry import Location
from gongzhi.hub.elderly import Household


class Outcome(StrEnum):
    WELL = "well"  # seen and well
    NEEDS_HELP = "needs_help"  # seen; something to follow up (health, repairs, money)
    NOT_HOME = "not_home"  # nobody answered: not a visit made


@dataclass(frozen=True, slots=True)
class Visit:
    id: int
    estate_id: str
    household: str
    visited_at: int
    outcome: Outcome
    note: str
    recorded_by: str
    created_at: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data


@dataclass(frozen=True, slots=True)
class HouseholdMonth:
    """One flagged household's visits in a month: ``visited`` once someone was seen."""
    estate_id: str
    household: str
    location: Location
    visits: int
    visited: bool
    last: Visit | None

    def to_dict(self) -> dict[str, Any]:
        return {"estate_id": self.estate_id, "household": self.household,
                "location": self.location.to_dict(), "visits": self.visits,
                "visited": self.visited, "last": None if self.last is None else self.last.to_dict()}


def month_coverage(households: Mapping[Household, Location], visits: Iterable[Visit],
                   start_ms: int, end_ms: int) -> list[HouseholdMonth]:
    """Each flagged household's visits in ``[start_ms, end_ms)``, those still to visit first.
    A visit that found nobody home is counted but does not make the household visited."""
    mine: dict[Household, list[Visit]] = {key: [] for key in households}
    for visit in visits:
        key = (visit.estate_id, visit.household)
        if key in mine and start_ms <= visit.visited_at < end_ms:
            mine[key].append(visit)
    rows = [HouseholdMonth(estate, household, households[(estate, household)], len(found),
                           any(v.outcome is not Outcome.NOT_HOME for v in found),
                           max(found, key=lambda v: (v.visited_at, v.id)) if found else None)
            for (estate, household), found in mine.items()]
    return sorted(rows, key=lambda r: (r.visited, r.estate_id, r.household))


@dataclass(frozen=True, slots=True)
class VisitFigures:
    """A month's visits in an estate as counts: no home is named (the monthly report, the
    supervision view)."""
    homes: int  # flagged elderly-alone in the estate
    visited: int  # of them, seen at least once in the month
    visits: int  # visits recorded (doors nobody answered included)
    needs_help: int  # visits that found something to follow up

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def visit_figures(coverage: Iterable[HouseholdMonth], visits: Iterable[Visit]) -> VisitFigures:
    rows = list(coverage)
    made = list(visits)
    return VisitFigures(homes=len(rows), visited=sum(1 for r in rows if r.visited),
                        visits=len(made),
                        needs_help=sum(1 for v in made if v.outcome is Outcome.NEEDS_HELP))


def estate_visit_figures(households: Mapping[Household, Location], visits: Iterable[Visit],
                         estate_id: str, start_ms: int, end_ms: int) -> VisitFigures:
    """The counts of one estate's visits in ``[start_ms, end_ms)``."""
    homes = {key: flat for key, flat in households.items() if key[0] == estate_id}
    made = [v for v in visits if v.estate_id == estate_id and start_ms <= v.visited_at < end_ms]
    return visit_figures(month_coverage(homes, made, start_ms, end_ms), made)
