"""What-if re-solves: the plan's model with one limit relaxed or one assignment forced.

Each re-solve starts from the plan itself (a complete hint), so it is at least as good as the plan
when a limit is relaxed. Its value is exact when both the plan and the re-solve are proven
optimal on the same model; otherwise it is the best found in the time given, and says so.

On large instances (``local``) a re-solve of the whole model takes seconds and rarely finishes,
so bed, slot and forced re-solves free only the children nearby (``LOCAL_CHILDREN``: those at or
able to use the placements concerned) and solve their neighbourhood as an instance of its own
(``matcher.explain.neighbourhood``), everyone else held where the plan puts them. That is exact
for the neighbourhood and a bound for the plan: a saving is at least, a forced cost at most, what
is reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from ortools.sat.python import cp_model
from ortools.util.python.sorted_interval_list import Domain

from matcher.costs import fees_on_count
from matcher.cpsat import PlacementModel, build_model
from matcher.cpsat.constraints import Key
from matcher.cpsat.objective import option_costs
from matcher.domain import Placement
from matcher.eligibility import Candidates, Option
from matcher.instance import Instance
from matcher.neighbourhood import neighbourhood, raised
from matcher.plans import HOME, Outcome, make_plan
from matcher.search import SolveSettings, complete_hint, hint_plan, search_model


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


MOVERS_BACK = 5
"""Children whose move a forced move at the move limit may undo: the plan's five least valuable
moves. With all 52 on county a forced re-solve took ~0.3 s instead of ~30 ms."""

MOVABLE = ("settled", "at_risk")
"""Statuses whose moves count against the move limit (contract 4.1)."""

LOCAL_FAMILIES = ("capacity", "staff_capacity", "outreach_capacity")
"""Limits a local resolver raises in a neighbourhood; the others (moves, budget) are re-solved
on the whole model."""


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
        eligible: Candidates | None = None,
    ) -> None:
        self.instance, self.cands, self.plan = instance, cands, plan
        self.base_proven, self.local = base_proven, local
        self.eligible = cands if eligible is None else eligible
        """Every eligible option (``cands`` may be a shortlist): a local re-solve can force a
        child onto one that is not on the shortlist."""
        self.settings, self.per_solve = settings, per_solve
        self.base = make_plan(instance, cands, plan, rank=1)
        self.moves = sum(
            c.status in MOVABLE and plan[c.id].placement != c.current_placement
            for c in instance.children
        )
        self.movers_back = _movers_back(instance, cands, plan)
        """Children the plan moves, each able only to stay or go where the plan puts it: a
        forced move at the move limit may undo one of theirs."""
        self._pm: PlacementModel | None = None
        self.solves = 0
        self._made: dict[tuple[str, tuple[str, ...]], Placement] = {}
        """Placements rebuilt with their held children, shared by every local re-solve."""
        self._placed_at: dict[str | None, list[str]] = defaultdict(list)
        for child, outcome in plan.items():
            self._placed_at[outcome.placement].append(child)
        self._able_at: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for child, options in cands.options.items():
            for option in options:
                self._able_at[option.placement].append((option.km, child))

    @property
    def pm(self) -> PlacementModel:
        """The whole model, started from the plan (built on first use: a local resolver may never
        need it)."""
        if self._pm is None:
            self._pm = build_model(self.instance, cands=self.cands)
            hint_plan(self._pm, self.plan)
            complete_hint(self._pm, self.per_solve)
        return self._pm

    def relax(self, key: Key, step: int) -> Resolved | None:
        """The best plan with limit ``key`` raised by ``step``; None if that limit is not in the
        model (it never binds)."""
        if self.local and key[0] in LOCAL_FAMILIES:
            if key[0] == "outreach_capacity":
                free = {
                    c
                    for c, options in self.cands.options.items()
                    if _served(options, key[1]) or key[1] in self.cands.home_teams.get(c, ())
                }
            else:
                free = self._nearby({key[1]})
            return self._local(free, raise_limit=(key, step))
        index = self.pm.limits.get(key)
        if index is None:
            return None
        domain = self.pm.model.proto.constraints[index].linear.domain
        bounds = list(domain)
        with _domain(domain, [*bounds[:-1], bounds[-1] + step]):
            return self.resolve()

    def force(self, child: str, placement: str) -> Resolved | None:
        """The best plan with ``child`` at ``placement``; None if that pair is not eligible."""
        if self.local:
            option = next(
                (o for o in self.eligible.options[child] if o.placement == placement), None
            )
            if option is None:
                return None
            here = self.plan[child].placement
            around = {placement} | ({here} if here not in (None, HOME) else set())
            return self._local(self._nearby(around) | {child}, force=option)
        if not any(o.placement == placement for o in self.cands.options[child]):
            return None
        var = self.pm.variables.assign[(child, placement)]
        with _domain(self.pm.model.proto.variables[var.index].domain, [1, 1]):
            return self.resolve()

    def widen(self, gained: dict[str, list[Option]]) -> Resolved:
        """The best plan, only children nearby free to change, if the children in ``gained``
        could also take those options (a longer distance limit allows them): the half of
        ``LOCAL_CHILDREN`` whose cheapest new option saves most against the plan, and then
        those at or able to use its placement."""
        new_costs = option_costs(self.instance, Candidates(gained, {}), ())
        at = {c: self.plan[c].placement for c in gained}
        planned = {c: [o for o in self.eligible.options[c] if o.placement == at[c]] for c in gained}
        old_costs = option_costs(self.instance, Candidates(planned, {}), ())
        saving = {c: min(old_costs[c], default=float("inf")) - min(new_costs[c]) for c in gained}
        chosen = sorted(gained, key=lambda c: (-saving[c], c))[: LOCAL_CHILDREN // 2]
        cheapest = {c: min(zip(new_costs[c], gained[c], strict=True))[1].placement for c in chosen}
        free = set(chosen) | self._nearby(set(cheapest.values()))
        return self._local(free, extra={c: gained[c] for c in chosen})

    def resolve(self) -> Resolved:
        """The best plan of the whole model as it stands, from the plan."""
        self.solves += 1
        search = search_model(self.pm, self.settings, self.per_solve, self.per_solve)
        if search.outcomes is None:
            return Resolved(None, search.status == cp_model.INFEASIBLE, None)
        plan = make_plan(self.instance, self.cands, search.outcomes, rank=1)
        proven = search.status == cp_model.OPTIMAL
        return Resolved(plan.objective, proven, search.outcomes, plan.marginal_weekly_cost)

    def _local(
        self,
        free: set[str],
        *,
        raise_limit: tuple[Key, int] | None = None,
        force: Option | None = None,
        extra: dict[str, list[Option]] | None = None,
    ) -> Resolved:
        """The best plan in which only ``free`` (and their siblings, and a forced child's conflict
        partners) may change: exact for the neighbourhood, a bound for the plan. A forced option
        joins the child's options if the shortlist left it out; so do ``extra`` options."""
        self.solves += 1
        cands = self.cands
        if extra is not None:
            more = {c: [*cands.options[c], *options] for c, options in extra.items()}
            cands = Candidates(cands.options | more, cands.home_teams)
        if force is not None:
            free |= _partners(self.instance, force.child)
            own = cands.options[force.child]
            options = {force.child: own if force in own else [*own, force]}
            if not force.stay and self._moves_at_limit(force.child):
                # The move limit is reached: let the children who move go back instead.
                options = self.movers_back | options
                free |= set(self.movers_back)
            cands = Candidates(cands.options | options, cands.home_teams)
        money = self.base.marginal_weekly_cost
        hood = neighbourhood(self.instance, cands, self.plan, free, money, self._made)
        part = hood.instance
        if raise_limit is not None:
            (family, record), step = raise_limit
            part = raised(part, family, record, step)
        pm = build_model(part, cands=hood.candidates)
        if force is not None:
            var = pm.variables.assign.get((force.child, force.placement))
            if var is None:
                return Resolved(None, False, None, local=True)
            var.with_domain(Domain(1, 1))
        hint_plan(pm, hood.outcomes)
        # A neighbourhood's model is small: one worker solves it without a second thread's
        # overhead (county, 60 s of explanations: 305 forced costs against 276 with two).
        one_worker = replace(self.settings, workers=1)
        search = search_model(pm, one_worker, self.per_solve, self.per_solve)
        if search.outcomes is None:
            return Resolved(None, False, None, local=True)
        found = make_plan(part, hood.candidates, search.outcomes, rank=1)
        return Resolved(
            round(self.base.objective + found.objective - hood.objective, 2),
            False,
            self.plan | search.outcomes,
            self.base.marginal_weekly_cost + found.marginal_weekly_cost - hood.marginal_weekly_cost,
            local=True,
        )

    def _moves_at_limit(self, child: str) -> bool:
        """Whether ``child`` is settled or at risk and the plan already moves as many such
        children as the move limit allows."""
        limit = self.instance.policy.max_moves
        status = self.instance.child_by_id[child].status
        return limit is not None and status in MOVABLE and self.moves >= limit

    def _nearby(self, placements: set[str]) -> set[str]:
        """Up to ``LOCAL_CHILDREN`` children: those the plan puts at ``placements``, then those
        with an option there, nearest first."""
        placed = sorted(c for p in placements for c in self._placed_at.get(p, []))
        able = sorted(pair for p in placements for pair in self._able_at.get(p, []))
        chosen = placed + [child for _, child in able]
        return set(list(dict.fromkeys(chosen))[:LOCAL_CHILDREN])


def _movers_back(
    instance: Instance, cands: Candidates, plan: dict[str, Outcome]
) -> dict[str, list[Option]]:
    """The ``MOVERS_BACK`` settled or at-risk children whose move in the plan saves least (by
    pair cost), with two options each: their stay and where the plan puts them (none for home or
    unplaced, which stay available)."""
    movers = {}
    for child in instance.children:
        options = cands.options[child.id]
        stay = [o for o in options if o.stay]
        if child.status in MOVABLE and stay and plan[child.id].placement != stay[0].placement:
            planned = [o for o in options if o.placement == plan[child.id].placement]
            movers[child.id] = stay + planned
    costs = option_costs(instance, Candidates(movers, {}), fees_on_count(instance))
    # The stay costs costs[c][0]; the move (or, for home and unplaced, at least the penalty) less.
    saving = {c: costs[c][0] - min(costs[c][1:], default=0) for c in movers}
    least = sorted(movers, key=lambda c: (saving[c], c))[:MOVERS_BACK]
    return {c: movers[c] for c in least}


def _served(options: list[Option], team: str) -> bool:
    """Whether any of a child's options may use ``team``'s slot."""
    return any(o.teams is not None and team in o.teams for o in options)


def _partners(instance: Instance, child: str) -> set[str]:
    """The children ``child`` is in a conflict pair with."""
    return {c.b if c.a == child else c.a for c in instance.conflicts if child in (c.a, c.b)}


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
