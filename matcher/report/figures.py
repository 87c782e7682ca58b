"""The report's figures: plan 1 against today, the actions, and the equity view.

"Today" is where children are now: settled, at-risk and ending children in their current
placement, new children without one. Its weekly cost is placement fees (net of block beds) plus
uplifts plus the block beds' fixed cost; the state does not record who has an outreach slot today,
so outreach is not in today's cost. A plan's figures come from its assignment rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from matcher.eligibility import HOME, haversine_km
from matcher.instance import Instance
from matcher.plans import Plan

AGE_BANDS = ((0, 4, "0-4"), (5, 9, "5-9"), (10, 15, "10-15"), (16, 17, "16-17"), (18, 25, "18+"))
NEED_GROUPS = {0: "no assessed needs", 1: "low (highest level 1)", 2: "medium (2)", 3: "high (3)"}
"""Need group: the child's highest need level, whatever the need."""

CHILD_COLUMNS = ["child", "placement", "type", "action", "weekly_cost", "distance_km", "in_area"]


def _distance(
    instance: Instance, overrides: dict[tuple[str, str], float], child_id: str, placement_id: str
) -> float:
    """Great-circle km, or the instance's distance table where it lists the pair."""
    if (child_id, placement_id) in overrides:
        return overrides[(child_id, placement_id)]
    child = instance.child_by_id[child_id]
    place = instance.placement_by_id[placement_id].location
    km = haversine_km(
        np.float64(child.location.lat), np.float64(child.location.lon), place.lat, place.lon
    )
    return float(km)


def today_frame(instance: Instance) -> pd.DataFrame:
    """One row per child as things stand today (``action`` is ``current`` or ``unplaced``)."""
    block_left = {p.id: p.block_beds for p in instance.placements}
    overrides = {(row.child, row.placement): row.km for row in instance.distances}
    rows = []
    for child in instance.children:
        where = child.current_placement if child.status != "new" else None
        if where is None:
            rows.append([child.id, None, None, "unplaced", 0, np.nan, None])
            continue
        placement = instance.placement_by_id[where]
        fee = placement.weekly_cost
        if block_left[where] > 0:
            block_left[where] -= 1
            fee = 0
        money = fee + placement.uplift_cost(child.needs)
        km = _distance(instance, overrides, child.id, where)
        rows.append([child.id, where, placement.type, "current", money, km, placement.in_area])
    return pd.DataFrame(rows, columns=CHILD_COLUMNS)


def plan_frame(instance: Instance, plan: Plan) -> pd.DataFrame:
    """One row per child in ``plan`` (returning home has no type and 0 km)."""
    rows = []
    for a in plan.assignments:
        placement = instance.placement_by_id.get(a.placement or "")
        kind = placement.type if placement else ("home" if a.placement == HOME else None)
        in_area = placement.in_area if placement else None
        km = a.distance_km if a.placement is not None else np.nan
        rows.append([a.child, a.placement, kind, a.action, a.weekly_cost, km, in_area])
    return pd.DataFrame(rows, columns=CHILD_COLUMNS)


def summary(frame: pd.DataFrame, block_fixed: int) -> dict[str, float | int]:
    """Weekly cost, moves, unplaced, out of area, mean and worst distance of a child frame."""
    placed = frame[frame["type"].notna() & (frame["type"] != "home")]
    km = placed["distance_km"]
    return {
        "weekly_cost": int(frame["weekly_cost"].sum()) + block_fixed,
        "moves": int((frame["action"] == "move").sum()),
        "new_placements": int((frame["action"] == "new").sum()),
        "returned_home": int((frame["action"] == "return_home").sum()),
        "unplaced": int((frame["action"] == "unplaced").sum()),
        "out_of_area": int((placed["in_area"] == False).sum()),  # noqa: E712 - pandas mask
        "mean_km": round(float(km.mean()), 1) if len(km) else 0.0,
        "worst_km": round(float(km.max()), 1) if len(km) else 0.0,
    }


def comparison(instance: Instance, plan: Plan) -> pd.DataFrame:
    """Today, plan 1 and the change, one row per figure."""
    block = instance.block_fixed_cost
    today = summary(today_frame(instance), block)
    planned = summary(plan_frame(instance, plan), block)
    planned["weekly_cost"] = plan.weekly_cost  # outreach fees included
    frame = pd.DataFrame({"today": today, "plan": planned})
    frame["change"] = frame["plan"] - frame["today"]
    frame.index.name = "figure"
    return frame.reset_index()


def actions(instance: Instance, plan: Plan) -> pd.DataFrame:
    """Every child whose situation changes in ``plan``, with the explanation's summary."""
    explained = {
        c["child"]: c for c in (plan.explanations or {}).get("children", []) if "child" in c
    }
    rows = []
    for a in plan.assignments:
        if a.action == "stay":
            continue
        child = instance.child_by_id[a.child]
        now = child.current_placement if child.status != "new" else None
        entry = explained.get(a.child, {})
        alternatives = "; ".join(
            f"{alt['placement']}: " + ", ".join(r["text"] for r in alt["reasons"])
            for alt in entry.get("alternatives", [])
        )
        rows.append(
            {
                "child": a.child,
                "action": a.action,
                "from": now or "",
                "to": a.placement or "",
                "outreach": a.outreach or "",
                "weekly_cost": a.weekly_cost,
                "distance_km": a.distance_km,
                "why": entry.get("summary", ""),
                "not_elsewhere": alternatives,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "child",
            "action",
            "from",
            "to",
            "outreach",
            "weekly_cost",
            "distance_km",
            "why",
            "not_elsewhere",
        ],
    )


def binding(plan: Plan) -> pd.DataFrame:
    """The binding limits and what lifting each would save a week."""
    rows = [
        {"constraint": b["family"], "record": b["record"], "what": b["text"], "saving": b["saving"]}
        for b in (plan.explanations or {}).get("binding", [])
    ]
    return pd.DataFrame(rows, columns=["constraint", "record", "what", "saving"])


def _age_band(age: int) -> str:
    return next(label for low, high, label in AGE_BANDS if low <= age <= high)


def equity(instance: Instance, plan: Plan) -> pd.DataFrame:
    """Out-of-area rate, mean distance and sibling separation in plan 1, by age band, sex and
    need group. Rates are over placed children (separation: over children with siblings)."""
    frame = plan_frame(instance, plan).set_index("child")
    outcome = {a.child: a.placement for a in plan.assignments}
    members = instance.sibling_members
    separated = {}
    for child in instance.children:
        group = members.get(child.sibling_group or "", [])
        if len(group) > 1:
            separated[child.id] = len({outcome[m] for m in group}) > 1
    people = pd.DataFrame(
        {
            "age band": [_age_band(c.age) for c in instance.children],
            "sex": [c.sex for c in instance.children],
            "need group": [
                NEED_GROUPS[max(c.needs.values(), default=0)] for c in instance.children
            ],
        },
        index=[c.id for c in instance.children],
    )
    people["placed"] = frame["type"].notna() & (frame["type"] != "home")
    people["out_of_area"] = people["placed"] & (frame["in_area"] == False)  # noqa: E712
    people["km"] = frame["distance_km"].where(people["placed"])
    people["separated"] = pd.Series(separated, dtype="boolean")
    rows = []
    for dimension in ("age band", "sex", "need group"):
        for value, group in people.groupby(dimension, sort=True):
            placed = int(group["placed"].sum())
            siblings = group["separated"].dropna()
            rows.append(
                {
                    "dimension": dimension,
                    "group": value,
                    "children": len(group),
                    "placed": placed,
                    "out_of_area_rate": round(group["out_of_area"].sum() / placed, 3)
                    if placed
                    else None,
                    "mean_km": round(float(group["km"].mean()), 1) if placed else None,
                    "with_siblings": len(siblings),
                    "separated_rate": round(float(siblings.mean()), 3) if len(siblings) else None,
                }
            )
    return pd.DataFrame(rows)


def cost_by_type(instance: Instance, plan: Plan) -> pd.DataFrame:
    """Weekly placement cost by placement type, today and in plan 1 (outreach apart)."""
    today = today_frame(instance).groupby("type")["weekly_cost"].sum()
    planned = plan_frame(instance, plan).groupby("type")["weekly_cost"].sum()
    frame = pd.DataFrame({"today": today, "plan": planned}).fillna(0).astype(int)
    frame.index.name = "type"
    return frame.reset_index()
