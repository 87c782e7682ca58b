"""From per-scenario rows to what a commissioner reads: bands, the best size, avoided cost.

Cost is money: the plan's weekly cost (placement fees net of block beds, uplifts, outreach fees)
plus the block beds' fixed cost, never the penalty weights. Annual = weekly x 52. P10/P50/P90
are pandas' linear-interpolation quantiles over scenarios. Scenarios with no plan are counted in
``no_plan`` and left out of the bands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from matcher.drawing import new_figure, save_figure

WEEKS_PER_YEAR = 52


def _bands(values: pd.Series, prefix: str) -> dict[str, float]:
    return {
        f"{prefix}_mean": round(float(values.mean()), 2),
        f"{prefix}_p10": round(float(values.quantile(0.1)), 2),
        f"{prefix}_p50": round(float(values.quantile(0.5)), 2),
        f"{prefix}_p90": round(float(values.quantile(0.9)), 2),
    }


def option_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per option: cost bands (weekly and annual), occupancy, voids, unplaced, out of
    area, in the options' order."""
    summaries = []
    for option, group in rows.groupby("option", sort=False):
        solved = group[group["weekly_cost"].notna()]
        cost = solved["weekly_cost"].astype(float)
        beds = solved["block_beds"]
        entry: dict[str, Any] = {
            "option": option,
            "size": group["size"].iloc[0],
            "scenarios": len(group),
            "no_plan": int(group["weekly_cost"].isna().sum()),
            **_bands(cost, "weekly_cost"),
            "annual_cost_mean": round(float(cost.mean()) * WEEKS_PER_YEAR, 2),
            "annual_cost_p90": round(float(cost.quantile(0.9)) * WEEKS_PER_YEAR, 2),
            "block_fixed": float(group["block_fixed"].iloc[0]),
            "occupancy_mean": round(float((solved["block_used"] / beds).mean()), 3)
            if (beds > 0).all() and len(solved)
            else None,
            "voids_mean": round(float((beds - solved["block_used"]).mean()), 2),
            "unplaced_mean": round(float(solved["unplaced"].mean()), 2),
            "out_of_area_mean": round(float(solved["out_of_area"].mean()), 2),
        }
        summaries.append(entry)
    return pd.DataFrame(summaries)


def block_advice(summary: pd.DataFrame, p90_limit: float | None) -> dict[str, Any]:
    """The size with the lowest mean weekly cost, and the smallest size whose P90 weekly cost
    stays at or under ``p90_limit`` (None if no size does, or no limit was given)."""
    best = summary.loc[summary["weekly_cost_mean"].idxmin()]
    advice: dict[str, Any] = {
        "best_size_by_mean": int(best["size"]),
        "best_mean_weekly_cost": float(best["weekly_cost_mean"]),
        "p90_limit": p90_limit,
        "smallest_size_within_p90_limit": None,
    }
    if p90_limit is not None:
        within = summary[summary["weekly_cost_p90"] <= p90_limit]
        if len(within):
            advice["smallest_size_within_p90_limit"] = int(within["size"].min())
    return advice


def provision_effect(rows: pd.DataFrame) -> dict[str, Any]:
    """Avoided cost of new provision: baseline minus with-provision, scenario by scenario (the
    same scenarios), with its bands; and the change in out-of-area and unplaced children."""
    base = rows[rows["option"] == "baseline"].set_index("scenario")
    new = rows[rows["option"] != "baseline"].set_index("scenario")
    both = base["weekly_cost"].notna() & new["weekly_cost"].notna()
    avoided = (base["weekly_cost"] - new["weekly_cost"])[both].astype(float)
    return {
        "scenarios": int(both.sum()),
        **_bands(avoided, "avoided_weekly_cost"),
        "avoided_annual_cost_mean": round(float(avoided.mean()) * WEEKS_PER_YEAR, 2),
        "out_of_area_change_mean": round(
            float((new["out_of_area"] - base["out_of_area"])[both].mean()), 2
        ),
        "unplaced_change_mean": round(float((new["unplaced"] - base["unplaced"])[both].mean()), 2),
    }


def block_plot(summary: pd.DataFrame, path: Path, title: str) -> None:
    """Weekly cost against block size (mean, P10-P90 band), with occupancy on a second axis."""
    figure = new_figure(7, 4)
    cost_axis = figure.subplots()
    sizes = summary["size"].astype(int)
    cost_axis.fill_between(
        sizes,
        summary["weekly_cost_p10"],
        summary["weekly_cost_p90"],
        alpha=0.25,
        label="P10-P90",
    )
    cost_axis.plot(sizes, summary["weekly_cost_mean"], marker="o", label="mean")
    cost_axis.plot(sizes, summary["weekly_cost_p50"], linestyle="--", label="P50")
    cost_axis.set_xlabel("block beds")
    cost_axis.set_ylabel("weekly cost (£)")
    cost_axis.set_title(title)
    occupancy_axis = cost_axis.twinx()
    occupancy = summary["occupancy_mean"].astype(float)
    occupancy_axis.plot(sizes, occupancy, color="tab:red", marker=".", label="occupancy")
    occupancy_axis.set_ylabel("block occupancy (used / block beds)")
    occupancy_axis.set_ylim(0, 1.05)
    lines = cost_axis.get_legend_handles_labels()
    more = occupancy_axis.get_legend_handles_labels()
    cost_axis.legend(lines[0] + more[0], lines[1] + more[1], loc="best", fontsize="small")
    save_figure(figure, path)


def provision_plot(rows: pd.DataFrame, path: Path) -> None:
    """How the weekly cost avoided by new provision spreads over the scenarios."""
    base = rows[rows["option"] == "baseline"].set_index("scenario")["weekly_cost"]
    new = rows[rows["option"] != "baseline"].set_index("scenario")["weekly_cost"]
    avoided = (base - new).dropna().astype(float)
    figure = new_figure(6, 3.5)
    axes = figure.subplots()
    axes.hist(avoided, bins=min(30, max(len(avoided) // 3, 5)))
    axes.axvline(float(avoided.mean()), color="crimson", label=f"mean £{avoided.mean():,.0f}")
    axes.set_xlabel("weekly cost avoided (£)")
    axes.set_ylabel("scenarios")
    axes.set_title("Cost avoided by the new provision")
    axes.legend()
    save_figure(figure, path)
