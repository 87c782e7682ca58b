"""A plan from the occupancy relaxation's master LP: its whole households kept, the rest chosen
exactly.

Column generation (``matcher.occupancy_bound``) ends with a master LP over households (sets of
children who may live together at a placement) whose solution is nearly integral: on county,
652 of its columns sit at 1 and 35 are fractional. Keeping the whole ones and choosing among the
columns that fit beside them, with CP-SAT, gives a plan within 0.02% of the LP's bound in a
hundredth of a second, where neighbourhood search from the greedy plan stayed ~1.2% above it
after 300 s (benchmarks/README.md). The relaxation prices each team fee at the cheapest team,
drops team slots, and only prices ``max_moves`` and the budget: all three are constraints here.
If the whole households break one, the choice is made among all the households instead.
The caller checks the plan (``matcher.verify``) and keeps it only if it passes and is cheaper.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from ortools.sat.python import cp_model

from matcher.costs import move_penalty
from matcher.eligibility import Candidates
from matcher.instance import Instance
from matcher.occupancy_bound import Household, OccupancyBound, window_households
from matcher.plans import HOME, Outcome, make_plan
from matcher.units import to_pence

WHOLE = 1 - 1e-6
"""An LP value at least this counts as a whole household, kept as it is."""

WINDOW_FIRST = 1e-5
"""The first window's width, as a share of the bound: county's optimum lies 0.97e-5 above it."""

WINDOW_GROWTH = 2.0

CHOOSE_DETERMINISTIC = 1.0
"""Deterministic limit of the CP-SAT choice among the households left: 0.001 on county's
converged master; after 41 rounds 5.0 took 14 s for a plan with a child too many unplaced,
which the re-solve of the chosen children on the whole model (``matcher.lns``) places anyway."""


PROOF_DETERMINISTIC = 8.0
"""Deterministic limit of the CP-SAT searches over the windows' households (``proven_plan``):
county's proof takes ~0.4; county-1000's, at the prices a 60 s run converges to, 1.6 for a
window with no plan and 3.75 for the next (23k households), past the 4.0 this was (9.5 s wall
in all, listing the windows included)."""


class MasterPlan(NamedTuple):
    """Outcomes for every child, and the children outside the LP's whole households (their
    outcomes chosen among the few households left: a re-solve on the whole model may do
    better, ``matcher.lns``)."""

    outcomes: dict[str, Outcome]
    chosen: frozenset[str]
    cost: int = 0
    """The objective as the master prices it (pence; the terms no household changes left
    out)."""
    bound: int | None = None
    """From ``proven_plan``: a lower bound on every plan's objective (pence); the plan's own
    objective when it is proven optimal."""
    optimal: bool = False
    passed: tuple[dict[str, Outcome], ...] = ()
    """From ``proven_plan``: plans CP-SAT found on its way to this one, cheapest first (valid
    plans near it, where a search for the next-best plan may start)."""


class _Choice(NamedTuple):
    """One way a child of a household may take it: where, which team, and the extra cost
    (pence) over the household's cost (which priced the cheapest team or alternative)."""

    placement: str | None
    team: str | None
    extra: int


def master_plan(
    instance: Instance, cands: Candidates, households: Iterable[Household], seed: int = 0
) -> MasterPlan | None:
    """Outcomes for every child from the master's ``households``: those the LP takes whole,
    and the best choice (CP-SAT, one worker, a deterministic limit) among those disjoint from
    them, with teams within their slots, moves within ``max_moves`` and money within the budget
    (if the whole ones break those, the best choice among all the households); None if no
    choice is found."""
    columns = list(households)
    kept = [h for h in columns if h.value >= WHOLE]
    taken = {k for h in kept for k in h.members}
    full = {h.place for h in kept if h.place is not None}
    open_columns = [
        h
        for h in columns
        if h.value < WHOLE and h.place not in full and taken.isdisjoint(h.members)
    ]
    choose = _Choose(instance, cands, seed)
    outcomes = choose.plan(kept, open_columns)
    if outcomes is None and kept:  # the whole households break a limit that couples them
        choose = _Choose(instance, cands, seed)
        outcomes, taken = choose.plan([], columns, hint=kept), set()
    if outcomes is None:
        return None
    children = instance.children
    chosen = frozenset(c.id for k, c in enumerate(children) if k not in taken)
    return MasterPlan(outcomes, chosen, choose.cost)


def proven_plan(
    instance: Instance, cands: Candidates, made: MasterPlan, bound: OccupancyBound, seed: int = 0
) -> MasterPlan:
    """The optimum, when CP-SAT proves it: the best plan among the households within a window
    above the converged ``bound`` (``occupancy_bound.window_households``), as every plan below
    the window's ceiling holds only those. The window starts ``WINDOW_FIRST`` of the bound wide
    and grows ``WINDOW_GROWTH`` x while CP-SAT proves it holds no plan. Otherwise the best plan
    found in the window, or ``made``, with the bound reached; ``made`` as it is when the first
    window is too wide to list (``WINDOW_LIMIT``) or no search ends within
    ``PROOF_DETERMINISTIC`` seconds.

    Costs are the model's (each pair's cost rounded to pence, ``matcher.units``): proven
    optimal means no plan has a lower model objective, the bound then stated at the plan's
    exact objective, as a whole-model CP-SAT proof is."""
    ours = _households_of(instance, made.outcomes)
    most = made.cost + bound.constant + 1  # made's households all lie below this ceiling
    width, left = abs(bound.value) * WINDOW_FIRST, PROOF_DETERMINISTIC
    lower = None
    while left > 0:
        ceiling = min(bound.value + width, most)
        window = window_households(instance, cands, bound, ceiling)
        if window is None:
            break
        hint = [h for h in window if (h.place, h.members) in ours]
        choose = _Choose(instance, cands, seed, left, proving=True)
        below = math.ceil(ceiling - bound.constant)  # the master's costs are whole pence
        outcomes = choose.plan([], window, hint, made.outcomes, below)
        left -= choose.deterministic_time
        if outcomes is not None and choose.optimal:
            exact = to_pence(make_plan(instance, cands, outcomes, rank=1).objective)
            return MasterPlan(outcomes, frozenset(), choose.cost, exact, True, choose.passed)
        if outcomes is not None:  # no search ended: what lies outside costs the ceiling or more
            least = math.floor(min(ceiling, choose.lower + bound.constant))
            return MasterPlan(outcomes, frozenset(), choose.cost, least, False, choose.passed)
        if not choose.infeasible:
            break
        lower = math.floor(ceiling)  # no plan below the ceiling
        width *= WINDOW_GROWTH
    return made._replace(bound=lower)


def _households_of(
    instance: Instance, outcomes: dict[str, Outcome]
) -> set[tuple[int | None, tuple[int, ...]]]:
    """A plan's households as the master's columns name them: (placement index, children's
    indices), or (None, ...) for each child outside a placement, a required sibling group's
    members together."""
    index = instance.placement_index
    child = {c.id: k for k, c in enumerate(instance.children)}
    together = {
        member: group.id
        for group in instance.sibling_groups
        if group.together == "required"
        for member in instance.sibling_members.get(group.id, [])
    }
    at: dict[int | tuple[str, str], list[int]] = {}
    for child_id, outcome in outcomes.items():
        where: int | tuple[str, str] | None = index.get(outcome.placement or "")
        if where is None:  # alone, or with its required group
            where = ("group", together[child_id]) if child_id in together else ("", child_id)
        at.setdefault(where, []).append(child[child_id])
    return {(p if isinstance(p, int) else None, tuple(sorted(ks))) for p, ks in at.items()}


class _Found(cp_model.CpSolverSolutionCallback):
    """Each choice CP-SAT finds, as outcomes, in the order found (the last is the best)."""

    def __init__(self, instance: Instance, ways: list[tuple[cp_model.IntVar, int, _Choice]]):
        super().__init__()
        self.children, self.ways = instance.children, ways
        self.plans: list[dict[str, Outcome]] = []

    def on_solution_callback(self) -> None:
        self.plans.append(
            {
                self.children[k].id: Outcome(way.placement, way.team)
                for var, k, way in self.ways
                if self.boolean_value(var)
            }
        )


class _Choose:
    """The CP-SAT model choosing households: each child in exactly one, each placement at most
    one, each team within its capacity, moves within ``max_moves``, weekly money within the
    budget. ``proving``: searched with the settings that prove a window's optimum fast."""

    def __init__(
        self,
        instance: Instance,
        cands: Candidates,
        seed: int,
        deterministic: float = CHOOSE_DETERMINISTIC,
        proving: bool = False,
    ) -> None:
        self.instance, self.cands, self.seed = instance, cands, seed
        self.deterministic, self.proving = deterministic, proving
        self.model = cp_model.CpModel()
        self.team_load: dict[str, list[cp_model.IntVar]] = {}
        self.moves: list[cp_model.LinearExprT] = []
        self.extras: list[cp_model.LinearExprT] = []
        self.money: list[cp_model.LinearExprT] = []  # pounds a week, for the budget
        self.ways: list[tuple[cp_model.IntVar, int, _Choice]] = []
        self.fees = {t.id: to_pence(t.weekly_cost) for t in instance.outreach_teams}
        self.cost = 0
        """The objective of the choice made (pence, household costs and extras)."""
        self.lower = 0.0
        """CP-SAT's bound on that objective."""
        self.optimal = False
        self.passed: tuple[dict[str, Outcome], ...] = ()
        """The choices CP-SAT found on its way to the last one, latest (cheapest) first."""
        self.infeasible = False
        """Whether CP-SAT proved there is no choice (below the objective asked for)."""
        self.deterministic_time = 0.0

    def plan(
        self,
        kept: list[Household],
        open_columns: list[Household],
        hint: Sequence[Household] = (),
        outcomes: dict[str, Outcome] | None = None,
        below: int | None = None,
    ) -> dict[str, Outcome] | None:
        """The outcomes of the ``kept`` households and the best choice among ``open_columns``
        with an objective below ``below`` if given (CP-SAT hinted to take those in ``hint``,
        and each child's way of taking them in ``outcomes``, if given)."""
        model = self.model
        chosen = [model.new_constant(1) for _ in kept]
        chosen += [model.new_bool_var("") for _ in open_columns]
        hinted = set(hint)
        for var, column in zip(chosen[len(kept) :], open_columns, strict=True):
            model.add_hint(var, column in hinted)
        columns = kept + open_columns
        covering: dict[int, list[cp_model.IntVar]] = {}
        at_place: dict[int, list[cp_model.IntVar]] = {}
        for var, column in zip(chosen, columns, strict=True):
            if column.place is not None:
                at_place.setdefault(column.place, []).append(var)
                self.money.append(self._money(column) * var)
            home = None  # a sibling group's alternative: all home or all unplaced
            if column.place is None and len(column.members) > 1:
                home = model.new_bool_var("")
                model.add_implication(home, var)
            for k in column.members:
                covering.setdefault(k, []).append(var)
                self._ways(var, k, column.place, home)
        if len(covering) < len(self.instance.children):
            return None  # a child no column covers: the master did not come from this instance
        for vars_ in covering.values():
            model.add_exactly_one(vars_)
        for vars_ in at_place.values():
            model.add_at_most_one(vars_)
        self._limit_teams()
        self._limit_moves()
        self._limit_budget()
        if outcomes is not None:  # the columns' own literals are hinted already
            self._hint_ways(outcomes, {var.index for var in chosen})
        costs = [round(column.cost) for column in columns]
        objective = cp_model.LinearExpr.weighted_sum(chosen, costs) + sum(self.extras)
        if below is not None:
            model.add(objective <= below - 1)
        model.minimize(objective)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = self.seed
        solver.parameters.max_deterministic_time = self.deterministic
        solver.parameters.catch_sigint_signal = False  # as ``matcher.stopping.run_solver``
        if self.proving:  # a proof's window: the LP does the work
            # county's windows: 9 s to optimal as CP-SAT comes, 0.5 deterministic s without
            # presolve (4 s), probing, and with the LP over every constraint
            solver.parameters.cp_model_presolve = False
            solver.parameters.cp_model_probing_level = 0
            solver.parameters.linearization_level = 2
        found = _Found(self.instance, self.ways)
        status = solver.solve(model, found)
        self.deterministic_time = solver.deterministic_time
        self.infeasible = status == cp_model.INFEASIBLE
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        self.cost = round(solver.objective_value)
        self.lower = solver.best_objective_bound
        self.optimal = status == cp_model.OPTIMAL
        self.passed = tuple(reversed(found.plans[:-1]))
        return found.plans[-1]

    def _hint_ways(self, outcomes: dict[str, Outcome], hinted: set[int]) -> None:
        """Each child's way of taking its household hinted as in ``outcomes`` (but the
        literals in ``hinted``)."""
        children = self.instance.children
        for var, k, way in self.ways:
            if var.index in hinted:
                continue
            outcome = outcomes.get(children[k].id)
            taken = outcome is not None and (outcome.placement, outcome.team) == (
                way.placement,
                way.team,
            )
            self.model.add_hint(var, taken)

    def _limit_teams(self) -> None:
        """Each team serves at most its capacity."""
        for team, load in self.team_load.items():
            self.model.add(sum(load) <= self.instance.team_by_id[team].capacity)

    def _limit_moves(self) -> None:
        """At most ``max_moves`` settled or at-risk children leave their placements."""
        max_moves = self.instance.policy.max_moves
        if max_moves is not None:
            self.model.add(sum(self.moves) <= max_moves)

    def _limit_budget(self) -> None:
        """Weekly money (fees beyond block beds, uplifts, outreach) within the budget."""
        budget = self.instance.policy.weekly_budget
        if budget is not None:
            self.model.add(sum(self.money) <= budget)

    def _ways(
        self, chosen: cp_model.IntVar, k: int, place: int | None, home: cp_model.IntVar | None
    ) -> None:
        """Child ``k``'s ways of taking a household (at ``place``, or its alternative outcome)
        that ``chosen`` picks: a literal for each when there are several (teams, home or
        unplaced), adding their team load, extra cost and moves; with ``home``, it goes home
        exactly when ``home`` is true (siblings share their alternative)."""
        child = self.instance.children[k]
        choices = self._choices(k, place)
        if len(choices) == 1:
            literals = [chosen]
        else:
            literals = [self.model.new_bool_var("") for _ in choices]
            self.model.add(sum(literals) == chosen)
        for literal, choice in zip(literals, choices, strict=True):
            self.ways.append((literal, k, choice))
            if choice.team is not None:
                self.team_load.setdefault(choice.team, []).append(literal)
                self.money.append(self.instance.team_by_id[choice.team].weekly_cost * literal)
            if choice.extra:
                self.extras.append(choice.extra * literal)
            stays = choice.placement == child.current_placement
            if child.status in ("settled", "at_risk") and not stays:
                self.moves.append(literal)
        if home is not None:
            at_home = [lit for lit, c in zip(literals, choices, strict=True) if c.placement == HOME]
            self.model.add(sum(at_home) == home)

    def _money(self, column: Household) -> int:
        """A household's weekly money (pounds) but outreach: the fee of each child beyond the
        block beds (``matcher.plans.make_plan``), and the children's cost uplifts."""
        assert column.place is not None
        placement = self.instance.placements[column.place]
        paying = max(len(column.members) - placement.block_beds, 0)
        uplifts = sum(
            placement.uplift_cost(self.instance.children[k].needs) for k in column.members
        )
        return placement.weekly_cost * paying + uplifts

    def _choices(self, k: int, place: int | None) -> list[_Choice]:
        """Where child ``k`` goes in a household at ``place`` (each team its option allows), or
        in its alternative (home with each team that could go, or unplaced): costs as
        ``matcher.bounds.Relaxation`` prices them, the cheapest at no extra."""
        child = self.instance.children[k]
        if place is not None:
            placement = self.instance.placements[place].id
            option = next(o for o in self.cands.options[child.id] if o.placement == placement)
            if option.teams is None:
                return [_Choice(placement, None, 0)]
            priced = [(self.fees[t], placement, t) for t in option.teams]
        else:
            move = move_penalty(self.instance, child)
            unplaced = to_pence(self.instance.policy.weights.unplaced * child.priority) + move
            priced = [(unplaced, None, None)]
            priced += [
                (move + self.fees[t], HOME, t) for t in self.cands.home_teams.get(child.id, ())
            ]
        least = min(cost for cost, _, _ in priced)
        return [_Choice(where, team, cost - least) for cost, where, team in priced]
