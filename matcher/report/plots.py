"""The report's plots (``matcher.drawing`` figures: no screen, no internet)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from matcher.drawing import new_figure, save_figure
from matcher.instance import Instance
from matcher.plans import Plan

TYPE_COLOURS = {
    "foster": "tab:green",
    "residential": "tab:blue",
    "supported": "tab:orange",
    "assessment": "tab:purple",
}


def cost_by_type_plot(costs: pd.DataFrame, path: Path) -> None:
    """Weekly cost by placement type: today against plan 1."""
    figure = new_figure(6, 3.5)
    axes = figure.subplots()
    positions = range(len(costs))
    axes.bar([p - 0.2 for p in positions], costs["today"], width=0.4, label="today")
    axes.bar([p + 0.2 for p in positions], costs["plan"], width=0.4, label="plan 1")
    axes.set_xticks(list(positions), costs["type"])
    axes.set_ylabel("£ per week")
    axes.set_title("Weekly cost by placement type")
    axes.legend()
    save_figure(figure, path)


def distance_plot(today_km: pd.Series, plan_km: pd.Series, path: Path) -> None:
    """Distance from home or school, today against plan 1."""
    figure = new_figure(6, 3.5)
    axes = figure.subplots()
    upper = max(float(today_km.max(skipna=True) or 0), float(plan_km.max(skipna=True) or 0), 1.0)
    bins = [upper * k / 20 for k in range(21)]
    axes.hist(today_km.dropna(), bins=bins, alpha=0.5, label="today")
    axes.hist(plan_km.dropna(), bins=bins, alpha=0.5, label="plan 1")
    axes.set_xlabel("km from home or school")
    axes.set_ylabel("children")
    axes.set_title("Distance distribution")
    axes.legend()
    save_figure(figure, path)


def map_plot(instance: Instance, plan: Plan, path: Path) -> None:
    """Places (squares, by type) and children (dots) by longitude and latitude, with an arrow
    for each proposed move or new placement (from the current placement, or the child's home)."""
    figure = new_figure(7, 6)
    axes = figure.subplots()
    for kind, colour in TYPE_COLOURS.items():
        places = [p for p in instance.placements if p.type == kind]
        if places:
            axes.scatter(
                [p.location.lon for p in places],
                [p.location.lat for p in places],
                marker="s",
                s=14,
                c=colour,
                label=kind,
                alpha=0.7,
            )
    axes.scatter(
        [c.location.lon for c in instance.children],
        [c.location.lat for c in instance.children],
        s=3,
        c="grey",
        label="children's homes",
        alpha=0.4,
    )
    places = instance.placement_by_id
    for a in plan.assignments:
        if a.action not in ("move", "new") or a.placement not in places:
            continue
        child = instance.child_by_id[a.child]
        start = places[child.current_placement].location if a.action == "move" else child.location
        end = places[a.placement].location
        axes.annotate(
            "",
            xy=(end.lon, end.lat),
            xytext=(start.lon, start.lat),
            arrowprops={"arrowstyle": "->", "color": "crimson", "lw": 0.7, "alpha": 0.8},
        )
    axes.set_xlabel("longitude")
    axes.set_ylabel("latitude")
    axes.set_title("Places, children and proposed moves (red)")
    axes.legend(loc="best", fontsize="small")
    save_figure(figure, path)
