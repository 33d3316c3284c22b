"""The households flagged elderly-alone in the registry (opt-in, per household): the ones whose
silence raises a welfare check, whose trips the residents' committee declares and whom it visits.
Who is flagged is personal data: only the committee reads it (``routes/away``, ``routes/visits``).
Pure."""

from __future__ import annotations

from gongzhi.devices.registry import Location, Registry

Household = tuple[str, str]  # (estate_id, household)


def elderly_households(registry: Registry) -> dict[Household, Location]:
    """Each flagged household with its flat (the first of its flagged devices' locations), in
    estate and household order."""
    flats: dict[Household, Location] = {}
    for record in registry:
        if record.elderly_alone and record.household:
            flats.setdefault((record.location.estate_id, record.household), record.location)
    return dict(sorted(flats.items()))
