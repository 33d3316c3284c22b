"""The demo's stream of residents' reports: the same seed plans the same reports, and
``gongzhi residents`` sends them through the real report API of a running platform, where each
becomes a ticket of a report kind routed by the duty matrix."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from gongzhi.core.cli import main
from gongzhi.simulators.residents import PlannedReport, plan
from tests.pages.pages_support import Platform


def test_the_same_seed_plans_the_same_reports() -> None:
    def first(seed: int) -> list[PlannedReport]:
        return list(itertools.islice(plan(random.Random(seed), ["a", "b"],
                                          mean_interval_s=60), 20))

    assert first(3) == first(3)
    assert first(3) != first(4)
    reports = first(3)
    assert any(r.body["photos"] for r in reports)
    assert all(r.wait_s > 0 for r in reports)


@pytest.mark.integration
def test_gongzhi_residents_reports_through_the_platforms_api(platform: Platform) -> None:
    before = {t["id"] for t in _report_tickets(platform)}
    assert main(["residents", "--count", "4", "--interval", "0.01", "--seed", "5",
                 "--data-dir", str(platform.settings.data_dir),
                 "--platform-url", platform.url]) == 0
    made = [t for t in _report_tickets(platform) if t["id"] not in before]
    assert len(made) == 4
    assert all(t["kind"].startswith("report_") and t["location"]["estate_id"] == "yijing"
               for t in made)


def _report_tickets(platform: Platform) -> list[dict[str, Any]]:
    found = []
    for party in ("property_office", "residents_committee"):
        found += [t for t in platform.get("/api/tickets", party)
                  if str(t["kind"]).startswith("report_")]
    return list({t["id"]: t for t in found}.values())
