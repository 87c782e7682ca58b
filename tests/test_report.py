"""The morning report: known figures on a hand-made instance, and the page Chromium renders."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import required_service
from helpers import child, instance, place

from matcher.explain import ExplainSettings, explain
from matcher.io import read_instance
from matcher.report import write_report
from matcher.report.figures import comparison, equity
from matcher.solve import SolveSettings, solve

ROOT = Path(__file__).resolve().parents[1]
FAR = {"lat": 52.6 + 30 / 111.2, "lon": -1.2}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def settled_and_new():
    """S is settled at Q (£800); N is new and goes to P (£500, out of area, 30 km away)."""
    return instance(
        [child("S", status="settled", current_placement="Q"), child("N", age=14)],
        [place("Q", cost=800), place("P", cost=500, in_area=False, location=FAR)],
    )


def test_summary_compares_plan_one_with_today() -> None:
    data = settled_and_new()
    plan = solve(data, SolveSettings(time_limit=5, plans=1)).plans[0]
    figures = comparison(data, plan).set_index("figure")
    assert figures.loc["weekly_cost"].tolist() == [800, 1300, 500]
    assert figures.loc["unplaced"].tolist() == [1, 0, -1]
    assert figures.loc["new_placements", "plan"] == 1
    assert figures.loc["out_of_area"].tolist() == [0, 1, 1]
    assert figures.loc["worst_km", "plan"] == pytest.approx(30.0, abs=0.1)
    groups = equity(data, plan).set_index(["dimension", "group"])
    assert groups.loc[("age band", "10-15"), "children"] == 2
    assert groups.loc[("age band", "10-15"), "out_of_area_rate"] == 0.5


class _Cells(HTMLParser):
    """Text of every element with an id, and the rows of the actions table."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.open: list[str] = []
        self.action_rows = 0
        self.images: list[str] = []
        self.table = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self.table = attributes.get("id") or ""
        if tag == "tr" and self.table == "actions":
            self.action_rows += 1
        if tag == "img":
            self.images.append(attributes["src"] or "")
        if attributes.get("id"):
            self.open.append(attributes["id"] or "")
            self.text[self.open[-1]] = ""

    def handle_data(self, data: str) -> None:
        if self.open:
            self.text[self.open[-1]] += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "p") and self.open:
            self.open.pop()


def test_the_report_renders_the_plan_figures_in_chromium(tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        required_service("chromium", "Chromium")
    data = read_instance(ROOT / "instances/small.json")
    settings = SolveSettings(time_limit=10, plans=1)
    result = explain(data, solve(data, settings), settings, ExplainSettings(time_limit=5))
    folder = write_report(tmp_path, "run-1", data, result, "test report")
    rendered = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom"]
        + [(folder / "index.html").as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    page = _Cells()
    page.feed(rendered)
    plan = result.plans[0]
    assert page.text["plan-weekly_cost"] == f"{plan.weekly_cost:,}"
    moves = sum(a.action == "move" for a in plan.assignments)
    assert page.text["plan-moves"] == str(moves)
    changing = sum(a.action != "stay" for a in plan.assignments)
    assert page.action_rows == changing + 1  # the header row
    assert "OPTIMAL" in page.text["status"]
    assert page.images and all((folder / src).stat().st_size > 1000 for src in page.images)
    for table in ("summary", "actions", "binding", "equity", "cost_by_type"):
        assert (folder / f"{table}.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run-1")], "no temp folder"
