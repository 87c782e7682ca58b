"""Plans: each child's outcome, the exact objective terms, and the contract's plan JSON (section 3).

The terms here are recomputed exactly (floats, not the model's pence) from the outcomes, so a plan's
``objective`` is the contract's objective of that plan. ``matcher.verify`` checks it independently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from matcher.cpsat.objective import TERM_NAMES
from matcher.eligibility import HOME, Candidates
from matcher.instance import Instance


@dataclass(frozen=True)
class Outcome:
    """Where one child goes: a placement id, ``home``, or None (unplaced), and the outreach team."""

    placement: str | None
    team: str | None = None


@dataclass(frozen=True)
class Assignment:
    """One row of a plan (contract 3)."""

    child: str
    placement: str | None
    outreach: str | None
    action: str
    weekly_cost: int
    distance_km: float


@dataclass(frozen=True)
class Plan:
    """A ranked plan with its exact objective, terms and weekly money."""

    rank: int
    objective: float
    terms: dict[str, float]
    marginal_weekly_cost: int
    weekly_cost: int
    assignments: list[Assignment]
    changes_from_best: list[dict[str, Any]] = field(default_factory=list)
    explanations: dict[str, Any] | None = None
    """Filled in by ``matcher.explain``: why the plan is what it is."""

    def outcomes(self) -> dict[str, Outcome]:
        return {a.child: Outcome(a.placement, a.outreach) for a in self.assignments}

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        if self.rank == 1:
            del document["changes_from_best"]
        if self.explanations is None:
            del document["explanations"]
        return document


@dataclass(frozen=True)
class SolverReport:
    """How the search went (contract 3 ``solver``, plus build and timing figures)."""

    status: str
    objective: float | None
    best_bound: float | None
    gap: float | None
    wall_time_s: float
    seed: int
    workers: int
    mode: str
    time_limit_s: float
    build_time_s: float
    first_solution_s: float | None
    assignment_variables: int
    shortlist_optimal: bool = False
    """True when the plan was proven optimal with each child limited to its shortlist (see
    ``matcher.solve.SHORTLIST_SIZE``); the whole model's bound is ``best_bound``."""
    best_solution_s: float | None = None
    """When plan 1 was found, in seconds from the start (what a warm start shortens)."""
    warm_start: bool = False
    """Whether the search started from an earlier plan (``solve(warm_start=...)``)."""
    interrupted: bool = False
    """True when a stop signal cut the search short: the plans are the best found so far."""


UNKNOWN_REPORT: dict[str, Any] = {
    "status": "UNKNOWN",
    "objective": None,
    "best_bound": None,
    "gap": None,
    "wall_time_s": 0.0,
    "seed": 0,
    "workers": 1,
    "mode": "unknown",
    "time_limit_s": 0.0,
    "build_time_s": 0.0,
    "first_solution_s": None,
    "assignment_variables": 0,
}
"""Solver report fields a plan file written elsewhere may lack."""


@dataclass(frozen=True)
class Result:
    """What ``solve`` returns: the solver's report and the ranked plans, best first."""

    instance: str
    instance_sha256: str
    solver: SolverReport
    plans: list[Plan]
    infeasibility: dict[str, Any] | None = None
    """For an infeasible instance explained by ``matcher.explain``: the conflicting constraints."""
    candidates: Candidates | None = field(default=None, repr=False, compare=False)
    """The options the plans were made from, kept for explanations (not written): rebuilding
    them took 60 s of the explanations' time on 20,000 children."""

    def to_dict(self) -> dict[str, Any]:
        document = {
            "instance": self.instance,
            "instance_sha256": self.instance_sha256,
            "solver": asdict(self.solver),
            "plans": [plan.to_dict() for plan in self.plans],
        }
        if self.infeasibility is not None:
            document["infeasibility"] = self.infeasibility
        return document


def _action(instance: Instance, child_id: str, placement: str | None) -> str:
    child = instance.child_by_id[child_id]
    if placement is None:
        return "unplaced"
    if placement == HOME:
        return "return_home"
    if child.status in ("settled", "at_risk") and placement == child.current_placement:
        return "stay"
    return "new" if child.status == "new" else "move"


def make_plan(
    instance: Instance, cands: Candidates, outcomes: dict[str, Outcome], rank: int
) -> Plan:
    """Evaluate ``outcomes`` exactly into a Plan.

    Block beds go to staying children first, then in input order."""
    weights = instance.policy.weights
    placements, teams = instance.placement_by_id, instance.team_by_id
    terms = dict.fromkeys(TERM_NAMES, 0.0)
    block_left = {p.id: p.block_beds for p in instance.placements}
    order = sorted(
        instance.children, key=lambda c: _action(instance, c.id, outcomes[c.id].placement) != "stay"
    )
    rows: dict[str, Assignment] = {}
    for child in order:
        outcome = outcomes[child.id]
        action = _action(instance, child.id, outcome.placement)
        money, km = 0, 0.0
        if outcome.team is not None:
            money += teams[outcome.team].weekly_cost
            terms["outreach"] += teams[outcome.team].weekly_cost
        if outcome.placement not in (None, HOME):
            placement = placements[outcome.placement]
            km = next(o.km for o in cands.options[child.id] if o.placement == placement.id)
            fee = placement.weekly_cost
            if block_left[placement.id] > 0:
                block_left[placement.id] -= 1
                fee = 0
            uplift = placement.uplift_cost(child.needs)
            money += fee + uplift
            terms["placement_cost"] += fee
            terms["cost_uplift"] += uplift
            terms["distance"] += weights.distance_per_km * km
            terms["out_of_area"] += 0 if placement.in_area else weights.out_of_area
        if outcome.placement is None:
            terms["unplaced"] += weights.unplaced * child.priority
        if child.status in ("settled", "at_risk") and action != "stay":
            terms[f"move_{child.status}"] += getattr(weights, f"move_{child.status}")
        rows[child.id] = Assignment(
            child.id, outcome.placement, outcome.team, action, money, round(km, 3)
        )
    for group in instance.sibling_groups:
        members = instance.sibling_members.get(group.id, [])
        if group.together == "preferred" and len({outcomes[m].placement for m in members}) > 1:
            terms["sibling_split"] += weights.sibling_split
    terms["block_fixed"] = float(instance.block_fixed_cost)
    marginal = sum(row.weekly_cost for row in rows.values())
    terms = {name: round(value, 2) for name, value in terms.items()}
    return Plan(
        rank=rank,
        objective=round(sum(terms.values()), 2),
        terms=terms,
        marginal_weekly_cost=marginal,
        weekly_cost=marginal + instance.block_fixed_cost,
        assignments=[rows[c.id] for c in instance.children],
    )


def changes_between(best: Plan, other: Plan) -> list[dict[str, Any]]:
    """Children whose outcome differs from the best plan's, with both outcomes."""
    best_rows = {a.child: a for a in best.assignments}
    return [
        {
            "child": row.child,
            "best": {
                "placement": best_rows[row.child].placement,
                "action": best_rows[row.child].action,
            },
            "this": {"placement": row.placement, "action": row.action},
        }
        for row in other.assignments
        if (row.placement, row.outreach)
        != (best_rows[row.child].placement, best_rows[row.child].outreach)
    ]


def result_from_dict(instance: Instance, cands: Candidates, document: dict[str, Any]) -> Result:
    """A plan file read back (contract 3): the solver report as written, each plan re-evaluated
    exactly from its assignment rows. The caller checks the rows first (``matcher.verify``)."""
    known = {f.name for f in fields(SolverReport)}
    written = {name: value for name, value in document["solver"].items() if name in known}
    solver = SolverReport(**{**UNKNOWN_REPORT, **written})
    plans = []
    for k, plan in enumerate(document["plans"], start=1):
        outcomes = {
            row["child"]: Outcome(row["placement"], row.get("outreach"))
            for row in plan["assignments"]
        }
        plans.append(make_plan(instance, cands, outcomes, rank=k))
    if plans:
        plans = [plans[0]] + [
            replace(plan, changes_from_best=changes_between(plans[0], plan)) for plan in plans[1:]
        ]
    return Result(
        str(document.get("instance", instance.meta.name)),
        str(document.get("instance_sha256", "")),
        solver,
        plans,
    )
