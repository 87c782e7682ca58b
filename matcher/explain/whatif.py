"""What-if re-solves: the plan's model with one limit relaxed or one assignment forced.

Each re-solve starts from the plan itself (a complete hint), so it is at least as good as the plan
when a limit is relaxed. Its value is exact when both the plan and the re-solve are proven
optimal on the same model; otherwise it is the best found in the time given, and says so.

On large instances (``local``) a re-solve of the whole model takes seconds and rarely finishes,
so bed, slot and forced re-solves free only the children nearby (``LOCAL_CHILDREN``: those at or
able to use the placements concerned) and keep everyone else where the plan puts them. That is
exact for the neighbourhood and a bound for the plan: a saving is at least, a forced cost at most,
what is reported.
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
from matcher.solve import SolveSettings, complete_hint, hint_plan, search_model, set_hint


@dataclass(frozen=True)
class Resolved:
    """A re-solve's best plan objective (pounds, exact terms) and whether it was proven."""

    objective: float | None
    proven: bool
    outcomes: dict[str, Outcome] | None
    marginal_weekly_cost: int | None = None
    local: bool = False
    """Only children nearby could change: a bound on the plan's value, not the value."""


LOCAL_CHILDREN = 40
"""Children free to change in a local re-solve: those placed at the placements concerned first,
then those who could go there, cheapest option first."""


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
        local: bool = False,
    ) -> None:
        self.instance, self.cands, self.plan = instance, cands, plan
        self.base_proven, self.local = base_proven, local
        self.settings, self.per_solve = settings, per_solve
        self.pm: PlacementModel = build_model(instance, cands=cands)
        hint_plan(self.pm, plan)
        complete_hint(self.pm, per_solve)
        hint = self.pm.model.proto.solution_hint
        self._hint = (list(hint.vars), list(hint.values))
        self.solves = 0

    def relax(self, key: Key, step: int) -> Resolved | None:
        """The best plan with limit ``key`` raised by ``step``; None if that limit is not in the
        model (it never binds)."""
        index = self.pm.limits.get(key)
        if index is None:
            return None
        domain = self.pm.model.proto.constraints[index].linear.domain
        bounds = list(domain)
        free = None
        if key[0] in ("capacity", "staff_capacity"):
            free = self._nearby({key[1]})
        elif key[0] == "outreach_capacity":
            free = {c for c, slots in self.pm.variables.slots_of_child.items() if key[1] in slots}
        with _domain(domain, [*bounds[:-1], bounds[-1] + step]):
            return self.resolve(free)

    def force(self, child: str, placement: str) -> Resolved | None:
        """The best plan with ``child`` at ``placement``; None if that pair is not eligible."""
        var = self.pm.variables.assign.get((child, placement))
        if var is None:
            return None
        here = self.plan[child].placement
        around = {placement} | ({here} if here not in (None, "home") else set())
        with _domain(self.pm.model.proto.variables[var.index].domain, [1, 1]):
            return self.resolve(self._nearby(around) | {child})

    def resolve(self, free: set[str] | None = None) -> Resolved:
        """The best plan as the model stands; in a local resolver with ``free`` given, only
        those children may change."""
        self.solves += 1
        local = self.local and free is not None
        if local:
            assert free is not None
            hint_plan(self.pm, {c: o for c, o in self.plan.items() if c not in free})
        try:
            search = search_model(
                self.pm, self.settings, self.per_solve, self.per_solve, fix_hinted=local
            )
        finally:
            if local:
                self._restore_hint()
        if search.outcomes is None:
            infeasible = search.status == cp_model.INFEASIBLE and not local
            return Resolved(None, infeasible, None, local=local)
        plan = make_plan(self.instance, self.cands, search.outcomes, rank=1)
        proven = search.status == cp_model.OPTIMAL and not local
        return Resolved(
            plan.objective, proven, search.outcomes, plan.marginal_weekly_cost, local=local
        )

    def _nearby(self, placements: set[str]) -> set[str]:
        """Up to ``LOCAL_CHILDREN`` children: those the plan puts at ``placements``, then those
        with an option there, nearest first."""
        placed = sorted(c for c, o in self.plan.items() if o.placement in placements)
        able = sorted(
            (option.km, child)
            for child, options in self.cands.options.items()
            for option in options
            if option.placement in placements and child not in placed
        )
        chosen = placed + [child for _, child in able]
        return set(list(dict.fromkeys(chosen))[:LOCAL_CHILDREN])

    def _restore_hint(self) -> None:
        set_hint(self.pm, *self._hint)


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
