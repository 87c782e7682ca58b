"""What-if re-solves: the plan's model with one limit relaxed or one assignment forced.

Each re-solve starts from the plan itself (a complete hint), so it is at least as good as the plan
when a limit is relaxed. Its value is exact when both the plan and the re-solve are proven
optimal on the same model; otherwise it is the best found in the time given, and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ortools.sat.python import cp_model

from matcher.cpsat import PlacementModel, build_model
from matcher.cpsat.constraints import Key
from matcher.eligibility import Candidates
from matcher.instance import Instance
from matcher.plans import Outcome, make_plan
from matcher.solve import SolveSettings, complete_hint, hint_plan, search_model


@dataclass(frozen=True)
class Resolved:
    """A re-solve's best plan objective (pounds, exact terms) and whether it was proven."""

    objective: float | None
    proven: bool
    outcomes: dict[str, Outcome] | None
    marginal_weekly_cost: int | None = None


class Resolver:
    """Re-solves of one plan's model. ``per_solve`` seconds each, same seed and workers;
    ``base_proven`` says whether the plan itself is proven optimal on this model."""

    def __init__(
        self,
        instance: Instance,
        cands: Candidates,
        plan: dict[str, Outcome],
        settings: SolveSettings,
        per_solve: float,
        base_proven: bool,
    ) -> None:
        self.instance, self.cands, self.plan = instance, cands, plan
        self.base_proven = base_proven
        self.settings, self.per_solve = settings, per_solve
        self.pm: PlacementModel = build_model(instance, cands=cands)
        hint_plan(self.pm, plan)
        self.hint_complete = complete_hint(self.pm, per_solve)
        self.solves = 0

    def relax(self, key: Key, step: int) -> Resolved | None:
        """The best plan with limit ``key`` raised by ``step``; None if that limit is not in the
        model (it never binds)."""
        index = self.pm.limits.get(key)
        if index is None:
            return None
        domain = self.pm.model.proto.constraints[index].linear.domain
        bounds = list(domain)
        with _domain(domain, [*bounds[:-1], bounds[-1] + step]):
            return self.resolve()

    def force(self, child: str, placement: str) -> Resolved | None:
        """The best plan with ``child`` at ``placement``; None if that pair is not eligible."""
        var = self.pm.variables.assign.get((child, placement))
        if var is None:
            return None
        with _domain(self.pm.model.proto.variables[var.index].domain, [1, 1]):
            return self.resolve()

    def resolve(self) -> Resolved:
        self.solves += 1
        search = search_model(self.pm, self.settings, self.per_solve, self.per_solve)
        if search.outcomes is None:
            return Resolved(None, search.status == cp_model.INFEASIBLE, None)
        plan = make_plan(self.instance, self.cands, search.outcomes, rank=1)
        proven = search.status == cp_model.OPTIMAL
        return Resolved(plan.objective, proven, search.outcomes, plan.marginal_weekly_cost)


@contextmanager
def _domain(field: object, values: list[int]) -> Iterator[None]:
    """Set a proto domain (a repeated integer field) within the block, then put it back."""
    saved = list(field)  # type: ignore[call-overload]
    field.clear()  # type: ignore[attr-defined]
    field.extend(values)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        field.clear()  # type: ignore[attr-defined]
        field.extend(saved)  # type: ignore[attr-defined]
