"""Per child: why this placement, why not the better-looking ones, and for unplaced children what
would have to change.

Alternatives are the placements with a lower pair cost (weekly fee, need uplifts, distance, out of
area, and the move penalty unless it is the child's stay) than the child's outcome, cheapest
first, then closer ones. Each carries its reasons:

- static: the eligibility tests it fails (``matcher.eligibility.pair_tests``);
- dynamic: what the plan would break if this one child went there and everyone else stayed as
  planned, as the independent checker (``matcher.verify``) reports it: a full placement naming
  who holds its beds, a rule or conflict naming the occupant, the sibling group, the move limit,
  the budget;
- the cost of forcing it: a re-solve with the child fixed there (``matcher.explain.whatif``).

For an unplaced child, a correction set is the list of changes that would let it take one
placement with the rest of the plan unchanged (static tests relaxed, and each dynamic blocker
lifted); the smallest sets are reported.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from matcher.cpsat.objective import placement_costs
from matcher.domain import Child
from matcher.eligibility import (
    TESTS,
    Candidates,
    Option,
    PairTable,
    PairTests,
    distance_cap,
    pair_tests,
)
from matcher.explain.whatif import Resolver
from matcher.instance import Instance
from matcher.plans import HOME, Plan
from matcher.stopping import stop_requested
from matcher.units import to_pounds
from matcher.verify import PlanChecker

CORRECTION_SETS = 3
"""Correction sets reported per unplaced child, smallest first."""

CORRECTION_CANDIDATES = 40
"""Placements tried per unplaced child when looking for correction sets: those failing the fewest
static tests, cheapest first (each try is a full check of the changed plan, ~20 ms on county)."""


@dataclass(frozen=True)
class Reason:
    """Why an alternative was not taken: the constraint family and the reason in plain words."""

    family: str
    text: str


@dataclass(frozen=True)
class Alternative:
    """A placement that looks better than the child's outcome, and why the plan does not use it."""

    placement: str
    pair_cost: float
    km: float
    reasons: list[Reason]
    forced_change: float | None = None
    """Objective change (pounds) if the child were put here; None when not computed."""
    forced_method: str | None = None


@dataclass(frozen=True)
class ChildExplanation:
    """One child's outcome explained."""

    child: str
    outcome: str
    action: str
    pair_cost: float | None
    summary: str
    alternatives: list[Alternative]
    funnel: dict[str, int] | None = None
    corrections: list[list[Reason]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "child": self.child,
            "outcome": self.outcome,
            "action": self.action,
            "pair_cost": self.pair_cost,
            "summary": self.summary,
            "alternatives": [
                {
                    "placement": a.placement,
                    "pair_cost": a.pair_cost,
                    "distance_km": a.km,
                    "reasons": [{"family": r.family, "text": r.text} for r in a.reasons],
                    "forced_change": a.forced_change,
                    "forced_method": a.forced_method,
                }
                for a in self.alternatives
            ],
        }
        if self.funnel is not None:
            document["funnel"] = self.funnel
            document["corrections"] = [
                [{"family": r.family, "text": r.text} for r in corrections]
                for corrections in self.corrections
            ]
        return document


class ChildExplainer:
    """Explains children's outcomes in one plan: ``alternatives`` per child, then (``with_forced``)
    forced re-solves for the eligible ones, one at a time. Work stops at ``deadline``
    (``time.perf_counter()``); children after it get a one-line summary only."""

    def __init__(
        self,
        instance: Instance,
        cands: Candidates,
        plan: Plan,
        resolver: Resolver | None,
        alternatives: int,
        deadline: float,
    ) -> None:
        self.instance, self.cands, self.plan = instance, cands, plan
        self.resolver, self.alternatives, self.deadline = resolver, alternatives, deadline
        self.table = PairTable(instance)
        self.rows = [
            {"child": a.child, "placement": a.placement, "outreach": a.outreach}
            for a in plan.assignments
        ]
        self.row_of = {row["child"]: k for k, row in enumerate(self.rows)}
        self.assignment = {a.child: a for a in plan.assignments}
        self.occupancy = Counter(
            a.placement for a in plan.assignments if a.placement not in (None, HOME)
        )
        self.team_load = Counter(a.outreach for a in plan.assignments if a.outreach)

    def time_left(self) -> bool:
        return time.perf_counter() < self.deadline and not stop_requested()

    def explain(self, child_id: str) -> ChildExplanation:
        """The child's outcome, alternatives and reasons (``with_forced`` adds forced costs)."""
        row = self.assignment[child_id]
        if not self.time_left():
            outcome = row.placement or "unplaced"
            summary = f"{row.action} ({outcome}); not explained further within the time given"
            return ChildExplanation(child_id, outcome, row.action, None, summary, [])
        tests = pair_tests(self.instance, child_id, self.table)
        costs = self._pair_costs(child_id, tests)
        outcome = row.placement or "unplaced"
        mine = costs.get(row.placement) if row.placement not in (None, HOME) else None
        alternatives = [
            self._alternative(child_id, test, costs[test.placement])
            for test in self._better_looking(row.placement, tests, costs, mine)
        ]
        summary = self._summary(child_id, row.action, outcome, mine, alternatives)
        if row.placement is not None:
            return ChildExplanation(child_id, outcome, row.action, mine, summary, alternatives)
        return ChildExplanation(
            child_id,
            outcome,
            row.action,
            None,
            summary,
            alternatives,
            funnel=self._funnel(child_id, tests),
            corrections=self._corrections(child_id, tests, costs),
        )

    def with_forced(self, explanation: ChildExplanation) -> ChildExplanation:
        """``explanation`` with a forced re-solve for its first eligible alternative that has
        none yet (an ineligible one already says why in ``forced_method``), if time allows."""
        alternatives = list(explanation.alternatives)
        for k, alternative in enumerate(alternatives):
            if alternative.forced_change is None and alternative.forced_method is None:
                change, method = self._forced(explanation.child, alternative.placement)
                alternatives[k] = replace(alternative, forced_change=change, forced_method=method)
                break
        return replace(explanation, alternatives=alternatives)

    # -- alternatives --------------------------------------------------------------------------

    def _pair_costs(self, child_id: str, tests: list[PairTests]) -> dict[str, float]:
        """Every placement's pair cost for the child (pounds), eligible or not."""
        stay = next((k for k, t in enumerate(tests) if t.stay), None)
        child = self.instance.child_by_id[child_id]
        pence = placement_costs(self.instance, child, [t.km for t in tests], stay)
        return {t.placement: to_pounds(cost) for t, cost in zip(tests, pence, strict=True)}

    def _better_looking(
        self,
        placement: str | None,
        tests: list[PairTests],
        costs: dict[str, float],
        mine: float | None,
    ) -> list[PairTests]:
        """Cheaper placements first, then closer ones, up to ``alternatives``."""
        others = [t for t in tests if t.placement != placement]
        cheaper = sorted(
            (t for t in others if mine is None or costs[t.placement] < mine),
            key=lambda t: (costs[t.placement], t.placement),
        )
        chosen = cheaper[: self.alternatives]
        if len(chosen) < self.alternatives and placement not in (None, HOME):
            here = next(t.km for t in tests if t.placement == placement)
            taken = {t.placement for t in chosen}
            closer = sorted(
                (t for t in others if t.km < here and t.placement not in taken),
                key=lambda t: (t.km, t.placement),
            )
            chosen += closer[: self.alternatives - len(chosen)]
        return chosen

    def _alternative(self, child_id: str, test: PairTests, cost: float) -> Alternative:
        option = next(
            (o for o in self.cands.options[child_id] if o.placement == test.placement), None
        )
        reasons = [
            Reason("eligibility", f"{name}: {text}")
            for name, text in test.failed.items()
            if option is None  # an option failing a test is one an outreach uplift allows
        ]
        if not reasons and option is None:
            reasons.append(
                Reason(
                    "outreach_required",
                    "needs an outreach slot there, and no team's uplift and radius cover it",
                )
            )
        forced: tuple[float | None, str | None] = (None, None)
        if option is not None:
            if self.time_left():
                reasons += self._blockers(child_id, option)
                if not reasons:
                    reasons.append(
                        Reason("cost", "possible, but the plan is cheaper as a whole without it")
                    )
            else:
                reasons.append(Reason("unexplained", "not checked within the time given"))
        else:
            forced = (None, "not possible: not eligible")
        return Alternative(
            test.placement, round(cost, 2), round(test.km, 2), reasons, forced[0], forced[1]
        )

    def _blockers(self, child_id: str, option: Option) -> list[Reason]:
        """What the plan would break with this child at ``option`` and everyone else as planned."""
        team = None
        if option.teams:
            team = min(option.teams, key=lambda t: (self.team_load[t] >= self._capacity(t), t))
        rows = list(self.rows)
        rows[self.row_of[child_id]] = {
            "child": child_id,
            "placement": option.placement,
            "outreach": team,
        }
        checker = PlanChecker(self.instance, {"assignments": rows})
        checker.check_constraints(focus={child_id})
        return [
            Reason(v.rule, f"{v.record}: {v.message}")
            for v in checker.violations
            if v.rule != "eligibility"
        ]

    def _capacity(self, team: str) -> int:
        return self.instance.team_by_id[team].capacity

    def _forced(self, child_id: str, placement: str) -> tuple[float | None, str | None]:
        if self.resolver is None or not self.time_left():
            return None, None
        resolved = self.resolver.force(child_id, placement)
        if resolved is None:
            return None, "not possible: not in the model"
        if resolved.objective is None:
            if resolved.proven:
                return None, "not possible: no valid plan puts the child there"
            if resolved.local:
                return None, "no plan found nearby: children further away would have to change"
            return None, "no plan found within the time given"
        change = round(resolved.objective - self.plan.objective, 2)
        if resolved.local:
            return change, "re-solve nearby (at most)"
        exact = resolved.proven and self.resolver.base_proven
        return change, "re-solve (exact)" if exact else "re-solve (best found)"

    # -- unplaced children ----------------------------------------------------------------------

    def _funnel(self, child_id: str, tests: list[PairTests]) -> dict[str, int]:
        """How many placements pass each static test in turn, then outreach, then a free bed."""
        funnel: dict[str, int] = {"placements": len(tests)}
        passing = tests
        for name in TESTS:
            passing = [t for t in passing if name not in t.failed]
            funnel[name] = len(passing)
        options = self.cands.options[child_id]
        funnel["outreach"] = len(options)
        funnel["free_bed"] = sum(
            self.occupancy[o.placement] + len(self.instance.placement_by_id[o.placement].residents)
            < self.instance.placement_by_id[o.placement].capacity
            for o in options
        )
        return funnel

    def _corrections(
        self, child_id: str, tests: list[PairTests], costs: dict[str, float]
    ) -> list[list[Reason]]:
        """The smallest sets of changes that would let the child take some placement."""
        child = self.instance.child_by_id[child_id]
        options = {o.placement: o for o in self.cands.options[child_id]}
        ranked = sorted(tests, key=lambda t: (len(t.failed), costs[t.placement], t.placement))
        found: list[tuple[int, float, list[Reason]]] = []
        for test in ranked[:CORRECTION_CANDIDATES]:
            worst = found[CORRECTION_SETS - 1][0] if len(found) >= CORRECTION_SETS else math.inf
            if len(test.failed) >= worst or not self.time_left():
                break  # sorted by static failures: no later set can be smaller
            changes = [
                Reason("eligibility", self._relaxation(child, test, name)) for name in test.failed
            ]
            option = options.get(test.placement) or Option(
                child_id, test.placement, test.km, test.stay, None
            )
            changes += [self._lift(reason) for reason in self._blockers(child_id, option)]
            if not changes:
                continue
            found.append((len(changes), costs[test.placement], changes))
            found.sort(key=lambda item: (item[0], item[1]))
        return [changes for _, _, changes in found[:CORRECTION_SETS]]

    def _relaxation(self, child: Child, test: PairTests, name: str) -> str:
        placement = self.instance.placement_by_id[test.placement]
        if name == "distance":
            cap = distance_cap(self.instance, child)
            return (
                f"a distance limit of {math.ceil(test.km)} km instead of {cap:g} km "
                f"to reach {placement.id}"
            )
        if name == "needs":
            return f"{placement.id} able to meet: {test.failed[name]}"
        if name == "type":
            return f"{placement.type} ({placement.id}) allowed by the care plan"
        if name == "age":
            return f"{placement.id} taking a child of {child.age}"
        if name == "ruled_out":
            return f"the team reconsidering {placement.id}, which it ruled out"
        return f"{placement.id} taking the child ({test.failed[name]})"

    @staticmethod
    def _lift(reason: Reason) -> Reason:
        if reason.family == "capacity":
            record = reason.text.split(":", 1)[0].removeprefix("placement ")
            return Reason("capacity", f"one more bed at {record}")
        if reason.family == "outreach_capacity":
            record = reason.text.split(":", 1)[0].removeprefix("team ")
            return Reason("outreach_capacity", f"one more slot in outreach team {record}")
        if reason.family == "max_moves":
            return Reason("max_moves", "one more move allowed tonight")
        if reason.family == "weekly_budget":
            return Reason("weekly_budget", f"a larger weekly budget ({reason.text})")
        return Reason(reason.family, f"an exception to {reason.family} ({reason.text})")

    # -- the summary line --------------------------------------------------------------------------

    def _summary(
        self,
        child_id: str,
        action: str,
        outcome: str,
        mine: float | None,
        alternatives: list[Alternative],
    ) -> str:
        child = self.instance.child_by_id[child_id]
        cheaper = [a for a in alternatives if mine is None or a.pair_cost < mine]
        if action == "stay":
            head = f"stays at {outcome} ({child.status})"
        elif action == "unplaced":
            head = "no placement tonight"
        elif action == "return_home":
            head = "returns home with outreach support"
        else:
            head = f"{action} to {outcome}"
        if mine is not None:
            head += f", pair cost £{mine:,.2f} a week"
        if not cheaper:
            return head + "; no cheaper placement exists for this child"
        blocked = Counter(r.family for a in cheaper for r in a.reasons[:1])
        why = ", ".join(f"{family} ({count})" for family, count in sorted(blocked.items()))
        return head + f"; the {len(cheaper)} cheaper placement(s) shown are ruled out by: {why}"
