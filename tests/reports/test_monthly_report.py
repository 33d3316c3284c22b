"""``gongzhi report`` on a seeded month of an estate (SQLite): the PDF's pages rendered to images
with pypdfium2 have their bar charts drawn, its text carries the figures and no personal data (no
phone number, masked or not, no household, no household flag, no resident's words), and the
command refuses a bad month or an unknown estate with exit code 2. Without a CJK font it says so
and writes the report in English."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from PIL import Image

from gongzhi.core.cli import main
from gongzhi.devices.registry import Registry, load_registry, write_registry
from gongzhi.hub.duty_parse import load_matrix
from gongzhi.hub.elderly import elderly_households
from gongzhi.hub.monthly_report import pdf as pdf_module
from gongzhi.hub.monthly_report.load import load_month
from gongzhi.hub.monthly_report.pdf import BAR, GOOD, render_pdf
from gongzhi.hub.monthly_report.period import parse_month
from gongzhi.hub.store import open_store
from gongzhi.hub.store.base import Store
from gongzhi.hub.visit_store import SqlVisits
from gongzhi.hub.visits import Outcome
from tests.reports.month_support import SeededMonth, flats_registry, seed_month

ESTATE = "yijing"
MONTH = "2026-11"
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def month_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SeededMonth]:
    """Ten days of a 300-device estate."""
    directory = tmp_path_factory.mktemp("month")
    records = flats_registry(ESTATE, 300)
    write_registry(directory / "registry.csv", records)
    url = f"sqlite:///{directory / 'platform.db'}"
    store = open_store(url)
    try:
        store.migrate()
        matrix = load_matrix(None)
        month = parse_month(MONTH, matrix.timezone)
        seeded = seed_month(store, matrix, Registry(records), ESTATE, month, days=10)
        _visit(store, Registry(records), month.start_ms)
    finally:
        store.close()
    return directory, seeded


def _visit(store: Store, registry: Registry, start_ms: int) -> None:
    """The committee's visits: two homes seen (one needing help), one door nobody answered,
    and a visit of the month before."""
    homes = [household for (estate, household) in elderly_households(registry)
             if estate == ESTATE]
    visits = SqlVisits(store)
    for home, outcome, at in ((homes[0], Outcome.WELL, start_ms + DAY_MS),
                              (homes[1], Outcome.NEEDS_HELP, start_ms + 2 * DAY_MS),
                              (homes[2], Outcome.NOT_HOME, start_ms + 3 * DAY_MS),
                              (homes[3], Outcome.WELL, start_ms - DAY_MS)):
        visits.record(ESTATE, home, at, outcome, "", "residents_committee", at)


def _report(directory: Path, *extra: str) -> int:
    return main(["report", "--estate", ESTATE, "--month", MONTH,
                 "--database-url", f"sqlite:///{directory / 'platform.db'}",
                 "--registry", str(directory / "registry.csv"), *extra])


def _pixels(image: object, color: tuple[int, int, int]) -> int:
    """How many pixels of a page have the chart colour (within a little of it)."""
    assert isinstance(image, Image.Image)
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    near = np.abs(rgb - np.array(color, dtype=np.int16)).max(axis=2) <= 6
    return int(near.sum())


def test_the_monthly_pdf_has_its_charts_and_no_personal_data(
        month_db: tuple[Path, SeededMonth], tmp_path: Path) -> None:
    directory, seeded = month_db
    assert seeded.tickets > 30 and seeded.reports > 5
    output = tmp_path / "report.pdf"
    figures_file = tmp_path / "figures.json"
    assert _report(directory, "--output", str(output), "--json", str(figures_file)) == 0
    figures = json.loads(figures_file.read_text(encoding="utf-8"))
    assert figures["alarms"] == sum(n for _, n in figures["alarms_by_kind"]) > 0
    assert figures["reports"] == seeded.reports
    assert sum(figures["ratings"]) > 0 and figures["welfare_checks"] >= 0
    homes = sum(1 for (estate, _) in elderly_households(load_registry(
        directory / "registry.csv")) if estate == ESTATE)
    assert figures["visits"] == {"homes": homes, "visited": 2, "visits": 3, "needs_help": 1}

    document = pdfium.PdfDocument(str(output))
    try:
        assert len(document) >= 2
        text = "\n".join(document[i].get_textpage().get_text_range()
                         for i in range(len(document)))
        pages = [document[i].render(scale=1).to_pil() for i in range(len(document))]
    finally:
        document.close()
    # The charts: bars of alarms (blue) on the first page, satisfaction (green) after it.
    assert _pixels(pages[0], BAR) > 3000
    assert sum(_pixels(page, GOOD) for page in pages[1:]) > 500
    # The figures are there, in Chinese.
    for heading in ("告警（按类型）", "告警（按楼栋）", "各单位时限达标率", "居民反映（按类型）",
                    "满意度分布", "关怀探访", "未办结事项"):
        assert heading in text, heading
    assert f"{figures['alarms']}" in text
    # Nothing personal: no phone number in any form, no household, no flag, no resident's words.
    flat = re.sub(r"\s+", "", text)
    assert f"例行走访：本月2/{homes}家已走访（共3次，其中需要帮助1次）。" in flat
    for phone in seeded.phones:
        assert phone not in flat and phone[-4:] + "\n" not in text
    assert not re.search(r"1[3-9]\d{9}", flat)
    assert not re.search(r"\d{3}\*{4}\d{4}", flat)
    for household in seeded.households:
        assert household not in flat
    for word in ("独居", "elderly", "elderly_alone", "张阿姨", "联系", "household", "住户"):
        assert word not in text, word


def test_a_bad_month_or_an_unknown_estate_is_refused_with_exit_code_2(
        month_db: tuple[Path, SeededMonth], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    directory, _ = month_db
    assert main(["report", "--estate", ESTATE, "--month", "2026-13", "--output",
                 str(tmp_path / "r.pdf"), "--registry", str(directory / "registry.csv")]) == 2
    assert "YYYY-MM" in capsys.readouterr().err
    assert main(["report", "--estate", "nowhere", "--month", MONTH, "--output",
                 str(tmp_path / "r.pdf"), "--registry", str(directory / "registry.csv")]) == 2
    assert "not in the registry" in capsys.readouterr().err
    assert not (tmp_path / "r.pdf").exists()


def test_without_a_cjk_font_the_report_says_so_and_is_written_in_english(
        month_db: tuple[Path, SeededMonth], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    directory, _ = month_db
    monkeypatch.setattr(pdf_module, "find_cjk_font", lambda _configured=None: None)
    store = open_store(f"sqlite:///{directory / 'platform.db'}")
    try:
        month = parse_month(MONTH, "Asia/Shanghai")
        figures = load_month(store, ESTATE, month, month.end_ms)
    finally:
        store.close()
    with caplog.at_level(logging.WARNING):
        render_pdf(figures, tmp_path / "en.pdf")
    assert any("no CJK font" in r.getMessage() for r in caplog.records)
    document = pdfium.PdfDocument(str(tmp_path / "en.pdf"))
    try:
        text = document[0].get_textpage().get_text_range()
    finally:
        document.close()
    assert "Alarms by kind" in text
