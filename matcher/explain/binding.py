"""Binding constraints: the limits that shape a plan, each with what one more unit is worth.

A limit binds when the plan uses all of it: a full placement, an outreach team at capacity, the
move limit reached, the budget, the distance limit keeping a child from a cheaper place. Its
marginal value is found by a warm-started re-solve with the limit raised by one unit (one bed,
slot or move; ``DISTANCE_STEP_KM`` km), exact when both solves are proven optimal. One more pound
of budget rarely changes a plan, so the budget is lifted instead: the saving is reported with the
extra weekly money the cheaper plan spends. Full placements beyond the time budget get only
their Lagrangian bed price (``matcher.bounds``), labelled as an approximation.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from matcher.bounds import capacity_bound
from matcher.eligibility import Candidates, Option, candidates
from matcher.explain.whatif import Resolved, Resolver
from matcher.instance import Instance
from matcher.plans import HOME, Plan
from matcher.stopping import stop_requested
from matcher.units import to_pounds

BUDGET_LIFT = 10**9
"""Pounds added to the weekly budget to see what the plan would be without it."""

DISTANCE_STEP_KM = 5
"""Kilometres added to the distance limit when testing whether it binds."""


PLAIN = {
    "re-solve (exact)": "exact",
    "re-solve (best found)": "at least this much: the best found in the time given",
    "bed price (approximate)": "an estimate",
    "re-solve nearby (at least)": "at least this much: only children nearby were moved",
    "re-solve nearby (at most)": "at most this much: only children nearby were moved",
}
"""How each method reads in the text form."""


@dataclass(frozen=True)
class Binding:
    """One limit that shapes the plan and what relaxing it by ``step`` would save."""

    family: str
    record: str
    limit: float
    step: float
    unit: str
    saving: float
    method: str
    """``re-solve (exact)``, ``re-solve (best found)`` or ``bed price (approximate)``."""

    def text(self) -> str:
        what = {
            "capacity": f"placement {self.record} is full ({_count(self.limit, 'bed')})",
            "staff_capacity": f"placement {self.record} has all its staff in use "
            f"({_count(self.limit, 'staff unit')})",
            "outreach_capacity": f"outreach team {self.record} is full "
            f"({_count(self.limit, 'slot')})",
            "max_moves": f"the move limit ({self.limit:g}) is reached",
            "weekly_budget": f"the weekly budget (£{self.limit:,.0f}) holds the plan back",
            "max_distance": f"the distance limit ({self.limit:g} km) keeps children from "
            "cheaper places",
        }[self.family]
        per = f"one more {self.unit}" if self.step == 1 else f"{self.step:g} more {self.unit}"
        if self.unit == "pounds":
            per = f"£{self.step:,.0f} more a week"
        return f"{what}: {per} would save £{self.saving:,.2f} a week ({PLAIN[self.method]})"


def _count(number: float, noun: str) -> str:
    return f"{number:g} {noun}" + ("" if number == 1 else "s")


def binding_constraints(
    instance: Instance,
    plan: Plan,
    resolver: Resolver,
    deadline: float,
) -> list[Binding]:
    """Every limit the plan uses up, with its marginal value, most valuable first. Re-solves run
    until ``deadline`` (``time.perf_counter()``), full placements in order of their bed price
    (``matcher.bounds``), so the dearest beds are re-solved first; those left over get their bed
    price."""
    found: list[Binding] = []
    priced_only: list[str] = []
    prices = capacity_bound(instance, resolver.cands, plan.objective * 100).prices
    limits = sorted(
        _candidates(instance, plan, resolver),
        key=lambda c: (c[0] == "capacity", -prices[c[1]] if c[0] == "capacity" else 0.0),
    )
    for family, record, limit, step, unit in limits:
        if time.perf_counter() >= deadline or stop_requested():
            if family == "capacity":
                priced_only.append(record)
            continue
        resolved = resolver.relax((family, record), step)
        if resolved is None:
            continue
        if family == "weekly_budget" and resolved.marginal_weekly_cost is not None:
            step = max(resolved.marginal_weekly_cost - plan.marginal_weekly_cost, 0)
        binding = _binding(family, record, limit, step, unit, plan, resolved, resolver.base_proven)
        if binding is not None:
            found.append(binding)
    if priced_only:
        for record in priced_only:
            if prices[record] > 0:
                beds = instance.placement_by_id[record].capacity
                found.append(
                    Binding(
                        "capacity",
                        record,
                        beds,
                        1,
                        "bed",
                        round(to_pounds(prices[record]), 2),
                        "bed price (approximate)",
                    )
                )
    found.extend(_distance(instance, plan, resolver, deadline))
    return sorted(found, key=lambda b: (-b.saving, b.family, b.record))


def _candidates(
    instance: Instance, plan: Plan, resolver: Resolver
) -> list[tuple[str, str, float, int, str]]:
    """Limits the plan uses up: (family, record, limit, step, unit)."""
    here = Counter(a.placement for a in plan.assignments if a.placement not in (None, HOME))
    slots = Counter(a.outreach for a in plan.assignments if a.outreach)
    result = []
    for placement in instance.placements:
        if (
            here[placement.id]
            and here[placement.id] + len(placement.residents) >= placement.capacity
        ):
            result.append(("capacity", placement.id, placement.capacity, 1, "bed"))
        if placement.staff_capacity is not None and here[placement.id]:
            used = sum(r.staffing for r in placement.residents) + sum(
                instance.child_by_id[a.child].staff_units(placement.id)
                for a in plan.assignments
                if a.placement == placement.id
            )
            if used >= placement.staff_capacity:
                result.append(
                    ("staff_capacity", placement.id, placement.staff_capacity, 1, "staff unit")
                )
    for team in instance.outreach_teams:
        if slots[team.id] >= team.capacity:
            result.append(("outreach_capacity", team.id, team.capacity, 1, "slot"))
    limit = instance.policy.max_moves
    moves = sum(
        a.action in ("move", "return_home", "unplaced")
        for a in plan.assignments
        if instance.child_by_id[a.child].status in ("settled", "at_risk")
    )
    if limit is not None and moves >= limit:
        result.append(("max_moves", "plan", limit, 1, "move"))
    budget = instance.policy.weekly_budget
    if budget is not None:
        result.append(("weekly_budget", "plan", budget, BUDGET_LIFT, "pounds"))
    return result


def _binding(
    family: str,
    record: str,
    limit: float,
    step: int,
    unit: str,
    plan: Plan,
    resolved: Resolved,
    base_proven: bool,
) -> Binding | None:
    if resolved.objective is None:
        return None
    saving = round(plan.objective - resolved.objective, 2)
    if saving <= 0.005:
        return None
    method = "re-solve (exact)" if base_proven and resolved.proven else "re-solve (best found)"
    if resolved.local:
        method = "re-solve nearby (at least)"
    return Binding(family, record, limit, step, unit, saving, method)


def _distance(instance: Instance, plan: Plan, resolver: Resolver, deadline: float) -> list[Binding]:
    """The policy distance limit, by a re-solve with it raised: of the whole model, or, for a
    local resolver, of the children nearby who gain the most from the longer limit."""
    cap = instance.policy.max_distance_km
    if cap is None or time.perf_counter() >= deadline or stop_requested():
        return []
    policy = instance.policy.model_copy(update={"max_distance_km": cap + DISTANCE_STEP_KM})
    wider = instance.model_copy(update={"policy": policy})
    wider_cands = candidates(wider)
    gained = _gained(resolver.eligible, wider_cands)
    if not gained:
        return []
    if resolver.local:
        resolved = resolver.widen(gained)
    else:
        outcomes = {a.child: plan.outcomes()[a.child] for a in plan.assignments}
        other = Resolver(
            wider,
            wider_cands,
            outcomes,
            resolver.settings,
            resolver.per_solve,
            resolver.base_proven,
        )
        resolved = other.resolve()
    binding = _binding(
        "max_distance", "policy", cap, DISTANCE_STEP_KM, "km", plan, resolved, resolver.base_proven
    )
    return [] if binding is None else [binding]


def _gained(eligible: Candidates, wider: Candidates) -> dict[str, list[Option]]:
    """Each child's options under ``wider`` that ``eligible`` does not have."""
    gained = {}
    for child, options in wider.options.items():
        have = {o.placement for o in eligible.options.get(child, [])}
        new = [o for o in options if o.placement not in have]
        if new:
            gained[child] = new
    return gained
