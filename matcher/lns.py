"""Large neighbourhood search: improve a plan by re-solving one neighbourhood of it at a time.

A neighbourhood is ``NEIGHBOURHOOD_CHILDREN`` children around a random child: those at its
cheapest placements and its own, then those who could use those placements, cheapest first, and
the children living where each of them lives (so a chain of moves can open a bed). It is solved
as an instance of its own (``matcher.neighbourhood``: everyone else held as residents), exactly,
in a fraction of a second, and kept when it lowers the objective. CP-SAT's own neighbourhoods work
on the whole model, where each step loads ~300k variables: on the county instance (1,200
children, 287k pairs) 60 s of whole-model search improved the greedy plan by 0.1%; 30 s of these
neighbourhoods by 7.9% (benchmarks/README.md).

Runs repeat: the neighbourhoods come from ``random.Random(seed)`` and, in reproducible mode, each
sub-solve stops on a deterministic limit and the search on a deterministic budget.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace

from ortools.sat.python import cp_model

from matcher.cpsat import build_model
from matcher.cpsat.objective import fees_on_count, option_costs
from matcher.eligibility import Candidates
from matcher.instance import Instance
from matcher.neighbourhood import neighbourhood
from matcher.plans import HOME, Outcome, make_plan
from matcher.search import SolveSettings, complete_hint, hint_plan, search_model
from matcher.stopping import stop_requested

NEIGHBOURHOOD_CHILDREN = 200
"""Children free to change in one step. Plan 1 of the county instance in 60 s (51 s of these
steps): 100 children with 0.3 s sub-solves £1.743M, 150 with 0.5 s £1.735M, 200 with 1 s
£1.731M; 300 with 1 s found no improvement within its sub-solves."""

SUB_SOLVE_S = 1.0
"""Seconds (deterministic, in reproducible mode) for one neighbourhood's sub-solve."""

SEED_PLACEMENTS = 5
"""A neighbourhood starts from its seed child's cheapest placements and its own."""

STEP_OVERHEAD = 0.1
"""Deterministic time charged for building each step's model (Python work CP-SAT does not
count), so a reproducible budget tracks the wall clock."""


@dataclass(frozen=True)
class Improved:
    """The best plan found, its objective (pounds), and what the search did."""

    outcomes: dict[str, Outcome]
    objective: float
    steps: int
    improvements: int
    deterministic_time: float
    wall_limit_hit: bool
    best_solution_s: float | None
    """Seconds from ``started_s`` to the last improvement; None without one."""
    started_s: float = 0.0
    """When the search began (the caller's clock): the start plan is a plan from then."""


@dataclass
class _Budget:
    """When to stop: a wall-clock limit, and in reproducible mode a deterministic budget."""

    started: float
    wall_limit: float
    deterministic_limit: float | None
    deterministic_used: float = 0.0

    def spent(self) -> bool:
        if stop_requested():
            return True
        if time.perf_counter() - self.started >= self.wall_limit:
            return True
        return (
            self.deterministic_limit is not None
            and self.deterministic_used >= self.deterministic_limit
        )


def improve(
    instance: Instance,
    cands: Candidates,
    start: dict[str, Outcome],
    settings: SolveSettings,
    wall_limit: float,
    deterministic_limit: float | None = None,
    on_improvement: Callable[[float], None] | None = None,
) -> Improved:
    """The best plan reached from ``start`` (a valid plan on ``cands``) by neighbourhood steps
    within ``wall_limit`` seconds (and ``deterministic_limit`` when given). ``settings`` is the
    run's ``SolveSettings``: its seed picks the neighbourhoods; sub-solves use one worker.
    ``on_improvement`` hears each better objective (pounds)."""
    budget = _Budget(time.perf_counter(), wall_limit, deterministic_limit)
    sub_settings = replace(settings, workers=1, plans=1)
    rng = random.Random(settings.seed)
    finder = _Neighbours(instance, cands, start)
    base = make_plan(instance, cands, start, rank=1)
    objective, money = base.objective, base.marginal_weekly_cost
    children = [c.id for c in instance.children]
    steps = improvements = 0
    best_at: float | None = None
    while children and not budget.spent():
        steps += 1
        hood = neighbourhood(
            instance, cands, finder.plan, finder.around(rng.choice(children)), money
        )
        pm = build_model(hood.instance, cands=hood.candidates)
        hint_plan(pm, hood.outcomes)
        complete_hint(pm, SUB_SOLVE_S)
        search = search_model(pm, sub_settings, SUB_SOLVE_S, SUB_SOLVE_S)
        budget.deterministic_used += search.deterministic_time + STEP_OVERHEAD
        if search.outcomes is None or search.status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            continue
        found = make_plan(hood.instance, hood.candidates, search.outcomes, rank=1)
        if found.objective < hood.objective - 0.005:
            objective += found.objective - hood.objective
            money += found.marginal_weekly_cost - hood.marginal_weekly_cost
            finder.move(search.outcomes)
            improvements += 1
            best_at = time.perf_counter() - budget.started
            if on_improvement is not None:
                on_improvement(objective)
    wall_hit = time.perf_counter() - budget.started >= wall_limit
    return Improved(
        finder.plan,
        round(objective, 2),
        steps,
        improvements,
        budget.deterministic_used,
        wall_hit,
        best_at,
    )


class _Neighbours:
    """The current plan with who lives where, and each placement's possible children by cost."""

    def __init__(self, instance: Instance, cands: Candidates, plan: dict[str, Outcome]) -> None:
        self.plan = dict(plan)
        self.at: dict[str | None, set[str]] = defaultdict(set)
        for child, outcome in plan.items():
            self.at[outcome.placement].add(child)
        costs = option_costs(instance, cands, fees_on_count(instance))
        self.able: dict[str, list[tuple[int, str]]] = defaultdict(list)
        self.cheapest: dict[str, list[str]] = {}
        for child, options in cands.options.items():
            ranked = sorted(zip(costs[child], (o.placement for o in options), strict=True))
            self.cheapest[child] = [p for _, p in ranked[:SEED_PLACEMENTS]]
            for cost, placement in ranked:
                self.able[placement].append((cost, child))

    def around(self, seed: str) -> set[str]:
        """Up to ``NEIGHBOURHOOD_CHILDREN`` children around ``seed`` (see the module docstring)."""
        places = set(self.cheapest[seed])
        here = self.plan[seed].placement
        if here is not None:
            places.add(here)
        free = {seed}
        for place in sorted(places, key=str):
            free |= self.at.get(place, set())
        pool = sorted(pair for place in places if place is not None for pair in self.able[place])
        for _, child in pool:
            if len(free) >= NEIGHBOURHOOD_CHILDREN:
                break
            if child in free:
                continue
            free.add(child)
            where = self.plan[child].placement
            for other in sorted(self.at.get(where, set()) if where not in (None, HOME) else ()):
                if len(free) >= NEIGHBOURHOOD_CHILDREN:
                    break
                free.add(other)
        return free

    def move(self, outcomes: dict[str, Outcome]) -> None:
        """Take ``outcomes`` into the plan."""
        for child, outcome in outcomes.items():
            self.at[self.plan[child].placement].discard(child)
            self.at[outcome.placement].add(child)
            self.plan[child] = outcome
