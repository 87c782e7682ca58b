"""The morning report: one HTML page, the same figures as CSV, and PNG plots.

``write_report`` builds the whole report in a hidden temporary folder and renames it into place,
so a report folder either exists complete or not at all. Ids and figures only, never names.
"""

from __future__ import annotations

import html
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from matcher.instance import Instance
from matcher.plans import Result
from matcher.report.figures import (
    actions,
    binding,
    comparison,
    cost_by_type,
    equity,
    plan_frame,
    today_frame,
)
from matcher.report.plots import cost_by_type_plot, distance_plot, map_plot

FIGURE_LABELS = {
    "weekly_cost": "Weekly cost (£, block beds included)",
    "moves": "Children moved",
    "new_placements": "New placements",
    "returned_home": "Returned home",
    "unplaced": "Children without a placement",
    "out_of_area": "Children placed out of area",
    "mean_km": "Mean distance (km)",
    "worst_km": "Worst distance (km)",
}
PLOTS = {
    "cost_by_type.png": "Weekly cost by placement type",
    "distance.png": "Distance distribution",
    "map.png": "Places, children and proposed moves",
}
STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.n { text-align: right; }
img { max-width: 48%; margin: 0.5em; border: 1px solid #eee; }
.note { color: #666; font-size: 0.9em; }
"""


def _number(value: object) -> str:
    if isinstance(value, float) and value != value:  # NaN
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return html.escape(str(value))


def _table(frame: pd.DataFrame, table_id: str) -> str:
    """An escaped HTML table; numbers right-aligned and formatted."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cells.append(f'<td class="{"n" if numeric else "t"}">{_number(value)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table id="{table_id}"><tr>{head}</tr>{"".join(body)}</table>'


def _summary_table(frame: pd.DataFrame) -> str:
    """Today against plan 1; each cell has an id (``plan-moves``...) for readers and tests."""
    rows = []
    for row in frame.itertuples(index=False):
        cells = "".join(
            f'<td class="n" id="{column}-{row.figure}">{_number(getattr(row, column))}</td>'
            for column in ("today", "plan", "change")
        )
        rows.append(f"<tr><td>{html.escape(FIGURE_LABELS[row.figure])}</td>{cells}</tr>")
    head = "<tr><th>figure</th><th>today</th><th>plan 1</th><th>change</th></tr>"
    return f'<table id="summary">{head}{"".join(rows)}</table>'


def write_report(folder: Path, name: str, instance: Instance, result: Result, title: str) -> Path:
    """Write the report for ``result`` to ``folder/name`` (HTML, CSV, PNG); returns that path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.exists():
        raise FileExistsError(target)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder))
    try:
        _write(work, instance, result, title)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target


def _write(work: Path, instance: Instance, result: Result, title: str) -> None:
    s = result.solver
    gap = "n/a" if s.gap is None else f"{100 * s.gap:.2f}%"
    status = f"{s.status}, gap {gap}, {s.wall_time_s:.1f} s" + (
        ", stopped early: best plan so far" if s.interrupted else ""
    )
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p id='status'>Search: {html.escape(status)}</p>",
    ]
    if not result.plans:
        parts.append("<p id='no-plan'>No plan tonight: ")
        parts.append(
            "the hard constraints cannot all hold.</p>"
            if s.status == "INFEASIBLE"
            else "none was found in the time given.</p>"
        )
        for member in (result.infeasibility or {}).get("constraints", []):
            parts.append(f"<p>{html.escape(member['text'])} [{html.escape(member['family'])}]</p>")
        (work / "index.html").write_text("".join(parts) + "</body></html>", encoding="utf-8")
        return
    plan = result.plans[0]
    tables = {
        "summary": comparison(instance, plan),
        "actions": actions(instance, plan),
        "binding": binding(plan),
        "equity": equity(instance, plan),
        "cost_by_type": cost_by_type(instance, plan),
    }
    for key, frame in tables.items():
        frame.to_csv(work / f"{key}.csv", index=False)
    cost_by_type_plot(tables["cost_by_type"], work / "cost_by_type.png")
    distance_plot(
        today_frame(instance)["distance_km"],
        plan_frame(instance, plan)["distance_km"],
        work / "distance.png",
    )
    map_plot(instance, plan, work / "map.png")
    parts += [
        "<h2>Plan 1 against today</h2>",
        _summary_table(tables["summary"]),
        "<p class='note'>Today's cost has no outreach fees (the state does not record today's "
        "slots); the plan's includes them.</p>",
        f"<h2>Proposed actions ({len(tables['actions'])} children)</h2>",
        _table(tables["actions"], "actions"),
        "<h2>Binding constraints and what they cost</h2>",
        _table(tables["binding"], "binding")
        if len(tables["binding"])
        else "<p id='binding'>No full place, team, move limit or budget changes the plan.</p>",
        "<h2>Equity</h2>",
        "<p class='note'>Rates over placed children; separation over children with siblings.</p>",
        _table(tables["equity"], "equity"),
        "<h2>Plots</h2>",
        "".join(f"<img src='{file}' alt='{html.escape(alt)}'>" for file, alt in PLOTS.items()),
        "<p class='note'>CSV files beside this page hold the same figures.</p></body></html>",
    ]
    (work / "index.html").write_text("".join(parts), encoding="utf-8")
