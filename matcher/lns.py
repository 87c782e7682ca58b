"""Large neighbourhood search: improve a plan by re-solving one neighbourhood of it at a time.

A neighbourhood is ``NEIGHBOURHOOD_CHILDREN`` children around a seed child (drawn at random,
uniformly or by regret, ``_Neighbours.seed``): those at its own placement and its cheapest (a
placement whose household would take the neighbourhood past its size is skipped: a GAP agent
holds ~80 jobs, and six of them made neighbourhoods of ~480 whose sub-solves hit their wall
cap), then those who could use those placements, cheapest first, and
the children living where each of them lives (so a chain of moves can open a bed). Where the
plan moves settled or at-risk children, a neighbourhood may instead follow those moves
(``_Neighbours._along_moves``): a moved child's old and new placements, the moves joined to
them, then other moved children's, drawn at random. It is solved
as an instance of its own (``matcher.neighbourhood``: everyone else held as residents), exactly,
in a fraction of a second, and kept when it lowers the objective. CP-SAT's own neighbourhoods work
on the whole model, where each step loads ~300k variables: on the county instance (1,200
children, 287k pairs) 60 s of whole-model search improved the greedy plan by 0.1%; 30 s of these
neighbourhoods by 7.9% (benchmarks/README.md).

Runs repeat: the neighbourhoods come from ``random.Random(seed)`` and, in reproducible mode, each
sub-solve stops on a deterministic limit and the search once its steps' charge (a function of
their deterministic time, ``STEP_S``) reaches its seconds.

Given more than one core (``improve``'s ``parallel``: where no bound or core search runs
beside, as on models above a million pairs), neighbourhoods with no child in common are drawn
and solved at once, one per core, each with its share of the room the plan leaves in outreach
slots, moves and money (``matcher.neighbourhood.Room``). They are judged in the order drawn: one
found before an earlier one of its batch changed the plan is kept only if its plan still fits
(a bed it took may have gone, a rule with a new neighbour may break) and passes the independent
checker. County-5000, 30 s charged from the same start: 48-52 steps in batches of two against
32-35 one at a time, £7.459M against £7.473M (mean of three seeds).
"""

from __future__ import annotations

import random
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import NamedTuple

from matcher.compatibility import required_group_hosts
from matcher.costs import fees_on_count
from matcher.cpsat import build_model
from matcher.cpsat.objective import option_costs
from matcher.domain import Placement
from matcher.eligibility import Candidates
from matcher.instance import Instance
from matcher.neighbourhood import Neighbourhood, neighbourhood, room, with_siblings
from matcher.plans import HOME, Outcome, Plan, make_plan
from matcher.search import Search, SolveSettings, complete_hint, hint_plan, search_model
from matcher.stopping import stop_requested
from matcher.units import to_pence
from matcher.verify import check_plan

NEIGHBOURHOOD_CHILDREN = 200
"""Children free to change in one step. Plan 1 of the county instance in 60 s (51 s of these
steps): 100 children with 0.3 s sub-solves £1.743M, 150 with 0.5 s £1.735M, 200 with 1 s
£1.731M; 300 with 1 s found no improvement within its sub-solves."""

SEED_PLACEMENTS = 5
"""A neighbourhood starts from its seed child's cheapest placements and its own."""

SUB_SOLVE_S = 1.0
"""Wall-clock seconds for one neighbourhood's sub-solve in fast mode."""

SUB_PRESOLVE = False
"""Sub-solves skip CP-SAT's presolve: on county neighbourhoods it took half of each sub-solve
(300 children: six solved to optimality in 10.7 s without it, 20.6 s with it), and 50 s of
steps reached £1.7196M without it against £1.7264M with it (benchmarks/README.md)."""

SUB_SOLVE_DETERMINISTIC = 0.5
"""Deterministic limit of one sub-solve in reproducible mode: on county, without presolve, 58 of
60 sub-solves finished (proven) within it, at ~0.5 s each."""

STEP_S = 0.55
STEP_S_PER_DETERMINISTIC = 2.0
"""Reproducible mode charges each step ``STEP_S`` + ``STEP_S_PER_DETERMINISTIC`` x its
sub-solve's deterministic time against its ``seconds``, and steps while any are left: a count
the clock does not touch, so the same seed gives the same plan whatever else the machine is
doing, unless the clock has to stop it at the time limit first (the report then says so).
Measured per step on this machine: county 0.86 s at 0.31 deterministic one hour and 1.10 s at
0.32 two hours later (0.95-1.18 s on other days), 5,000 children 0.32 s at 0.06; the charge is
1.17 s and 0.67 s, so a slow hour still repeats. The flat 1.2 s a step before this charge left
most of a 5,000-child run's time unused; 0.3-0.4 s (the fast hour's fit) let the clock stop
county's steps and cut the occupancy bound after them in the slow hour."""


STEP_S_BESIDE = 0.25
"""Charge for each further neighbourhood of a batch solved at once (``improve``'s
``parallel``), beside the slowest sub-solve's step charge: on 5,000 children a batch of two
took 0.52 s and was charged 1.25 s, a step alone 0.34 s charged 0.86 s (the same ratio)."""

MOVES_MIN = 50
"""Moved children a plan needs for neighbourhoods drawn along its moves (``MOVES``). With
fewer, such a neighbourhood is mostly the pool around its placements, spread over more of
them than one around a seed: county-300 (13 moves allowed) was proven optimal in 16.8-17.0 s
with them against 14.4-14.9 s without, and its two neighbourhoods at once hit their wall cap."""

PASSED_KEPT = 8

WALL_SLACK = 2.0
"""In reproducible mode, unless the caller sets its own hard stop, the wall clock stops the
search only after this many times its seconds (a safety net; the report then says the run may
not repeat)."""


@dataclass(frozen=True)
class Improved:
    """The best plan found, its objective (pounds), and what the search did."""

    outcomes: dict[str, Outcome]
    objective: float
    steps: int
    improvements: int
    wall_limit_hit: bool
    """Reproducible mode only: the wall clock, not the step count, ended the search."""
    best_solution_s: float | None
    """Seconds from ``started_s`` to the last improvement; None without one."""
    cands: Candidates
    """The options the plan is on: the search's own, or a guide's (``Guide``)."""
    started_s: float = 0.0
    """When the search began (the caller's clock): the start plan is a plan from then."""
    passed: tuple[dict[str, Outcome], ...] = ()
    """The last ``PASSED_KEPT`` plans the search moved on from, latest first: valid plans near
    the best, where a search for the next-best plan may start (``matcher.solve``)."""
    charged: float = 0.0
    """Reproducible mode: the seconds charged for the steps (and the guide's re-solve)."""
    proven: bool = False
    """The search stopped on a guide's proven optimum (``_reached``), before its count."""


class Guided(NamedTuple):
    """A plan from outside the search, the options it is on (the search's, widened), and the
    children whose outcomes are worth re-solving first (``matcher.master_plan``'s chosen; none
    for other plans)."""

    outcomes: dict[str, Outcome]
    cands: Candidates
    free: frozenset[str] = frozenset()
    optimal: bool = False
    """Proven optimal (``matcher.master_plan.proven_plan``): the search ends once it has it."""
    dearer: float = 0.0
    """How much dearer than the search's plan (a fraction of its objective) this plan may be and
    still be gone on from; the search's own plan is kept, and returned if nothing cheaper is
    found after."""


@dataclass(frozen=True)
class Guide:
    """A plan that may arrive while the search runs (``matcher.master_plan``'s, made in a
    process beside it, or the core's, searched in a thread beside it), taken when valid and
    cheaper. Reproducible mode asks once, when the steps' charge reaches ``after_s`` (or the
    search's seconds, if sooner), and waits for it as long as the wall clock allows (so the
    step it is taken at does not depend on the clock); fast mode asks at every step from
    ``after_s`` seconds on, without waiting. ``fetch(seconds)`` says whether it came within
    ``seconds`` and gives it (None: there is none)."""

    after_s: float
    fetch: Callable[[float], tuple[bool, Guided | None]]


def improve(
    instance: Instance,
    cands: Candidates,
    start: dict[str, Outcome],
    settings: SolveSettings,
    seconds: float,
    on_improvement: Callable[[float], None] | None = None,
    wall_seconds: float | None = None,
    guide: Guide | None = None,
    parallel: int = 1,
) -> Improved:
    """The best plan reached from ``start`` (a valid plan on ``cands``) by neighbourhood steps in
    about ``seconds``: a wall-clock limit in fast mode, steps charged by their deterministic
    time in reproducible mode (``STEP_S``), where
    the wall clock stops the steps only after ``wall_seconds`` (default ``WALL_SLACK`` x
    ``seconds``). ``settings`` is the run's: its seed picks the neighbourhoods; sub-solves use
    one worker, ``parallel`` neighbourhoods at a time (``_Neighbours.draw``), each on a core of its
    own. ``on_improvement`` hears each better objective (pounds). ``guide`` may bring a better
    plan to go on from."""
    started = time.perf_counter()
    reproducible = settings.reproducible
    charged = 0.0  # reproducible mode: seconds charged for the steps so far
    wall_limit = seconds
    if reproducible:
        wall_limit = seconds * WALL_SLACK if wall_seconds is None else wall_seconds
    sub_settings = replace(settings, workers=1, plans=1)
    sub_wall = SUB_SOLVE_S * WALL_SLACK if reproducible else SUB_SOLVE_S
    rng = random.Random(settings.seed)
    finder = _Neighbours(instance, cands, start)
    base = make_plan(instance, cands, start, rank=1)
    objective, money = base.objective, base.marginal_weekly_cost
    steps = improvements = 0
    best_at: float | None = None
    wall_hit = proven = False
    made: dict[tuple[str, tuple[str, ...]], Placement] = {}
    passed: deque[dict[str, Outcome]] = deque(maxlen=PASSED_KEPT)
    kept: _Kept | None = None  # the search's plan, set aside for a dearer guide's
    with ThreadPoolExecutor(parallel) as pool:  # its threads start only when used
        # a reproducible search with its guide not yet asked asks it before it ends
        while (
            instance.children
            and not stop_requested()
            and (not reproducible or charged < seconds or guide is not None)
        ):
            elapsed = time.perf_counter() - started
            if elapsed >= wall_limit:
                wall_hit = reproducible
                break
            if guide is not None and (
                charged >= min(guide.after_s, seconds) if reproducible else elapsed >= guide.after_s
            ):
                arrived, guided = guide.fetch(wall_limit - elapsed if reproducible else 0.0)
                if arrived or reproducible:
                    wall_hit |= not arrived  # the clock, not the plan, decided what happens next
                    guide = None
                left = wall_limit - (time.perf_counter() - started)
                taken, used = _taken(
                    instance, guided, objective, sub_settings, (sub_wall, left), made
                )
                charged += used
                if taken is not None:
                    guided, better = taken
                    if better.objective >= objective and (
                        kept is None or objective < kept.objective
                    ):
                        kept = _Kept(objective, dict(finder.plan), cands, tuple(passed), best_at)
                    passed.appendleft(dict(finder.plan))
                    objective, money = better.objective, better.marginal_weekly_cost
                    cands, finder = (
                        guided.cands,
                        _Neighbours(instance, guided.cands, guided.outcomes),
                    )
                    improvements += 1
                    if kept is None or objective < kept.objective:
                        best_at = time.perf_counter() - started
                        if on_improvement is not None:
                            on_improvement(objective)
                if _reached(instance, guided, objective):
                    proven = True
                    break
                if guide is None:
                    continue  # asked for the last time; the wait may have used the clock up
            draws = finder.draw(rng, parallel)
            steps += len(draws)
            hoods = _neighbourhoods(instance, cands, finder.plan, draws, money, made)
            left = wall_limit - (time.perf_counter() - started)
            searches = _solve_all(hoods, sub_settings, min(sub_wall, left), pool)
            charged += _charge(searches)
            moved = False
            for draw, hood, search in zip(draws, hoods, searches, strict=True):
                if moved:  # an earlier neighbourhood of the batch changed the plan around this one
                    hood = neighbourhood(instance, cands, finder.plan, draw.free, money, made)
                found = _better(hood, search.outcomes, checked=moved)
                finder.scored(draw.seed, draw.way, found is not None)
                if found is not None and search.outcomes is not None:
                    objective += found.objective - hood.objective
                    money += found.marginal_weekly_cost - hood.marginal_weekly_cost
                    passed.appendleft(dict(finder.plan))
                    finder.move(search.outcomes)
                    moved = True
                    improvements += 1
                    if kept is None or objective < kept.objective:
                        best_at = time.perf_counter() - started
                        if on_improvement is not None:
                            on_improvement(objective)
    # the objective as the plan states it: the steps' differences, summed, may drift by a penny
    objective = make_plan(instance, cands, finder.plan, rank=1).objective
    plan = finder.plan
    if kept is not None and kept.objective < objective:  # the guide's plan led nowhere cheaper
        objective, plan, cands, best_at = kept.objective, kept.plan, kept.cands, kept.best_at
        passed = deque(kept.passed, maxlen=PASSED_KEPT)
    return Improved(
        plan,
        objective,
        steps,
        improvements,
        wall_hit,
        best_at,
        cands=cands,
        passed=tuple(passed),
        charged=charged,
        proven=proven,
    )


def _neighbourhoods(
    instance: Instance,
    cands: Candidates,
    plan: dict[str, Outcome],
    draws: list[_Draw],
    money: int,
    made: dict[tuple[str, tuple[str, ...]], Placement],
) -> list[Neighbourhood]:
    """The drawn neighbourhoods of ``plan``; several solved at once share the room the plan
    leaves in outreach slots, moves and money between them (``matcher.neighbourhood.Room``),
    so that the plans they find fit together: on 5,000 children 13 of 23 plans found beside
    another that improved broke a team's slots once joined to it."""
    if len(draws) == 1:
        return [neighbourhood(instance, cands, plan, draws[0].free, money, made)]
    whole = room(instance, plan, money)
    return [
        neighbourhood(instance, cands, plan, draw.free, money, made, (whole, part))
        for draw, part in zip(draws, whole.shares(len(draws)), strict=True)
    ]


def _solve_all(
    hoods: list[Neighbourhood],
    settings: SolveSettings,
    wall: float,
    pool: ThreadPoolExecutor,
) -> list[Search]:
    """The neighbourhoods solved, each on one worker, at once on ``pool``'s threads (CP-SAT
    holds no lock on Python while it searches) when there are several."""
    if len(hoods) == 1:
        return [_solve(hood, settings, wall) for hood in hoods]
    return list(pool.map(lambda hood: _solve(hood, settings, wall), hoods))


def _charge(searches: list[Search]) -> float:
    """Reproducible mode's charge for a batch of steps solved at once: one step's for the
    slowest sub-solve, and ``STEP_S_BESIDE`` for each other (its neighbourhood and model are
    built, and its plan checked, while no other work waits)."""
    slowest = max(search.deterministic_time for search in searches)
    return STEP_S + STEP_S_PER_DETERMINISTIC * slowest + STEP_S_BESIDE * (len(searches) - 1)


def _better(hood: Neighbourhood, outcomes: dict[str, Outcome] | None, checked: bool) -> Plan | None:
    """The plan of ``hood`` from a sub-solve's ``outcomes`` if it costs less than the plan's own
    there; with ``checked``, only if the independent checker passes it too (the outcomes were
    solved on the neighbourhood before an earlier step of their batch changed the plan)."""
    if outcomes is None:
        return None
    if checked and not all(
        outcome.placement in (None, HOME)
        or any(o.placement == outcome.placement for o in hood.candidates.options[child])
        for child, outcome in outcomes.items()
    ):
        return None  # a placement the earlier step filled
    found = make_plan(hood.instance, hood.candidates, outcomes, rank=1)
    if found.objective >= hood.objective - 0.005:
        return None
    if checked and check_plan(hood.instance, found.to_dict()):
        return None
    return found


def _solve(hood: Neighbourhood, settings: SolveSettings, wall: float) -> Search:
    """One neighbourhood solved exactly (as far as ``SUB_SOLVE_DETERMINISTIC`` allows), from
    its children's outcomes in the plan."""
    pm = build_model(hood.instance, cands=hood.candidates)
    hint_plan(pm, hood.outcomes)
    complete_hint(pm, SUB_SOLVE_DETERMINISTIC)
    return search_model(pm, settings, wall, SUB_SOLVE_DETERMINISTIC, presolve=SUB_PRESOLVE)


def _taken(
    instance: Instance,
    guided: Guided | None,
    objective: float,
    settings: SolveSettings,
    walls: tuple[float, float],
    made: dict[tuple[str, tuple[str, ...]], Placement],
) -> tuple[tuple[Guided, Plan] | None, float]:
    """The guide's plan, with its ``free`` children first re-solved on the whole model (in
    neighbourhoods of at most ``NEIGHBOURHOOD_CHILDREN``, by id, everyone else held), if it then
    passes the independent checker and costs less than ``objective`` (or at most the guide's
    ``dearer`` share more); and the seconds the
    re-solves are charged, as steps. ``walls``: the wall-clock cap of one re-solve, and of
    them all. On county a plan from households made after 41 rounds left
    a third child unplaced (+£47k), which the re-solve places; on 2,000 children one left 252
    children to choose, and re-solving only the first 200 of them left it £1.9M dearer than the
    search's plan."""
    if guided is None:
        return None, 0.0
    charge = 0.0
    started = time.perf_counter()
    free = sorted(guided.free)
    for first in range(0, len(free), NEIGHBOURHOOD_CHILDREN):
        left = walls[1] - (time.perf_counter() - started)
        if left <= 0:
            break
        chunk = set(free[first : first + NEIGHBOURHOOD_CHILDREN])
        money = make_plan(instance, guided.cands, guided.outcomes, rank=1).marginal_weekly_cost
        hood = neighbourhood(instance, guided.cands, guided.outcomes, chunk, money, made)
        search = _solve(hood, settings, min(walls[0], left))
        charge += STEP_S + STEP_S_PER_DETERMINISTIC * search.deterministic_time
        if search.outcomes is not None:
            found = make_plan(hood.instance, hood.candidates, search.outcomes, rank=1)
            if found.objective < hood.objective - 0.005:
                guided = guided._replace(outcomes={**guided.outcomes, **search.outcomes})
    plan = make_plan(instance, guided.cands, guided.outcomes, rank=1)
    limit = objective + abs(objective) * guided.dearer - 0.005
    if plan.objective < limit and not check_plan(instance, plan.to_dict()):
        return (guided, plan), charge
    return None, charge


def _reached(instance: Instance, guided: Guided | None, objective: float) -> bool:
    """Whether the guide's plan is the proven optimum and the search's plan (``objective``, once
    it has taken the guide's or not) costs no more, so no step can improve it."""
    if guided is None or not guided.optimal:
        return False
    return make_plan(instance, guided.cands, guided.outcomes, rank=1).objective >= objective - 0.005


class _Kept(NamedTuple):
    """The search's plan when it went on from a dearer guide's (``Guided.dearer``): returned at
    the end if still the cheapest, with what it was on and had passed."""

    objective: float
    plan: dict[str, Outcome]
    cands: Candidates
    passed: tuple[dict[str, Outcome], ...]
    best_at: float | None


REGRET, UNIFORM, MOVES = "regret", "uniform", "moves"
"""The ways a neighbourhood is drawn (``_Neighbours.seed``): around a seed drawn by regret or
uniformly, or along the plan's moves from a moved child."""


class _Draw(NamedTuple):
    """A neighbourhood to solve: its seed child, the way it was drawn, and its children free to
    change (with their siblings)."""

    seed: str
    way: str
    free: set[str]


class _Neighbours:
    """The current plan with who lives where, each placement's possible children by cost, and
    each child's regret: how far its outcome costs above its cheapest option (pence)."""

    def __init__(self, instance: Instance, cands: Candidates, plan: dict[str, Outcome]) -> None:
        self.instance, self.cands = instance, cands
        self.plan = dict(plan)
        self.at: dict[str | None, set[str]] = defaultdict(set)
        for child, outcome in plan.items():
            self.at[outcome.placement].add(child)
        self.costs = costs = option_costs(instance, cands, fees_on_count(instance))
        self.able: dict[str, list[tuple[int, str]]] = defaultdict(list)
        self.cheapest: dict[str, list[str]] = {}
        self.least: dict[str, int] = {}
        hosts = required_group_hosts(instance, cands)
        for child, options in cands.options.items():
            ranked = sorted(zip(costs[child], (o.placement for o in options), strict=True))
            self.least[child] = ranked[0][0] if ranked else 0
            if hosts.get(child):  # a required group's member: only where all of it could live
                ranked = [(cost, p) for cost, p in ranked if p in hosts[child]]
            self.cheapest[child] = [p for _, p in ranked[:SEED_PLACEMENTS]]
            for cost, placement in ranked:
                self.able[placement].append((cost, child))
        self.children = [c.id for c in instance.children]
        self.homeless = {child for child, places in hosts.items() if not places}
        """Members of required groups that no placement could take whole: never placed."""
        self.groups_of: dict[str, list[list[str]]] = defaultdict(list)
        for group in instance.sibling_groups:
            members = instance.sibling_members.get(group.id, [])
            if group.together != "required" and len(members) > 1:
                for child in members:
                    self.groups_of[child].append(members)
        self.misses: dict[str, int] = defaultdict(int)
        self.record = dict.fromkeys((REGRET, UNIFORM, MOVES), (0, 0))
        """Per way of drawing neighbourhoods: steps that found a better plan, and steps."""
        self.may_move = [c.id for c in instance.children if c.status in ("settled", "at_risk")]
        self.regret = {child: self._regret(child) for child in self.children}

    def _regret(self, child: str) -> int:
        """How far the child's outcome costs above its cheapest option (pence): unplaced at its
        weighted penalty (none for a member of a group no placement could take), home at none;
        plus the split penalty of each preferred sibling group of its that the plan splits."""
        placement = self.plan[child].placement
        weights = self.instance.policy.weights
        if placement is None and child in self.homeless:
            regret = 0
        elif placement is None:
            priority = self.instance.child_by_id[child].priority
            regret = to_pence(weights.unplaced * priority)
        elif placement == HOME:
            regret = 0
        else:
            options = self.cands.options.get(child, [])
            own = (
                c
                for c, o in zip(self.costs[child], options, strict=True)
                if o.placement == placement
            )
            regret = max(next(own, 0) - self.least[child], 0)
        for members in self.groups_of.get(child, ()):
            if len({self.plan[m].placement for m in members}) > 1:
                regret += to_pence(weights.sibling_split)
        return regret

    def seed(self, rng: random.Random) -> tuple[str, str]:
        """The child a step starts from, and the way it was drawn: with weight its regret
        (halved for each step from it that found nothing since its outcome last changed),
        uniformly, or (where the plan moves at least ``MOVES_MIN`` settled or at-risk children)
        uniformly among the moved, for a neighbourhood along the plan's moves (``around``).
        Each way is taken in proportion to its steps' rate of success so far (adaptive, as in
        ALNS): on a 5,000-child authority ~30 steps fit in a minute, and a uniform seed is most
        often a settled child with nothing to gain; on some GAP instances every job's regret is
        noise."""
        weights = [self.regret[c] / (1 << min(self.misses[c], 30)) for c in self.children]
        moved = self.moved()
        ways = [REGRET, UNIFORM, MOVES] if len(moved) >= MOVES_MIN else [REGRET, UNIFORM]
        rates = [(self.record[w][0] + 1) / (self.record[w][1] + 2) for w in ways]
        way = rng.choices(ways, rates)[0]
        if way == MOVES:
            return rng.choice(moved), MOVES
        if way == REGRET and sum(weights) > 0:
            return rng.choices(self.children, weights)[0], REGRET
        return rng.choice(self.children), UNIFORM

    def moved(self) -> list[str]:
        """Settled and at-risk children the plan moves (each counts for ``max_moves``)."""
        current = self.instance.child_by_id
        return [c for c in self.may_move if self.plan[c].placement != current[c].current_placement]

    def draw(self, rng: random.Random, count: int) -> list[_Draw]:
        """Up to ``count`` neighbourhoods with no child in common, to solve at once: a seed
        already in an earlier one's is not drawn again (the batch is smaller)."""
        draws: list[_Draw] = []
        taken: set[str] = set()
        for _ in range(count):
            seed, way = self.seed(rng)
            if seed in taken:
                continue
            free = with_siblings(self.instance, self.around(seed, taken, way, rng))
            draws.append(_Draw(seed, way, free))
            taken |= free
        return draws

    def scored(self, seed: str, way: str, better: bool) -> None:
        """The step from ``seed`` (drawn ``way``) found a better plan or not."""
        found, taken = self.record[way]
        self.record[way] = (found + better, taken + 1)
        if not better:
            self.misses[seed] += 1

    def around(
        self,
        seed: str,
        taken: set[str] | frozenset[str] = frozenset(),
        way: str = REGRET,
        rng: random.Random | None = None,
    ) -> set[str]:
        """Up to ``NEIGHBOURHOOD_CHILDREN`` children around ``seed`` (see the module docstring),
        none of them ``taken`` (a sibling-closed set: held where they are); drawn ``MOVES``,
        along the plan's moves from the seed's (``_along_moves``)."""
        places: set[str] = set()
        free = {seed}
        if way == MOVES:
            rng = rng or random.Random(0)
            starts = [self.instance.child_by_id[seed].current_placement, self.plan[seed].placement]
            self._along_moves(deque(starts), places, free, taken, rng)
        else:
            here = self.plan[seed].placement
            for place in [here, *self.cheapest[seed]]:  # its own first, then cheapest first
                self._take_in(place, places, free, taken)
        pool = sorted(pair for place in places if place is not None for pair in self.able[place])
        for _, child in pool:
            if len(free) >= NEIGHBOURHOOD_CHILDREN:
                break
            if child in free or child in taken:
                continue
            free.add(child)
            where = self.plan[child].placement
            for other in sorted(self.at.get(where, set()) if where not in (None, HOME) else ()):
                if len(free) >= NEIGHBOURHOOD_CHILDREN:
                    break
                if other not in taken:
                    free.add(other)
        return free

    def _take_in(
        self, place: str | None, places: set[str], free: set[str], taken: set[str] | frozenset[str]
    ) -> bool:
        """Add ``place`` and the children living there to the neighbourhood, unless it is no
        placement, already in, or its household would take the neighbourhood past its size (a
        GAP agent's ~80 jobs would crowd out the rest). Returns whether it was added."""
        if place is None or place in places:
            return False
        living = self.at.get(place, set()) - taken
        if places and len(free | living) > NEIGHBOURHOOD_CHILDREN:
            return False
        places.add(place)
        free |= living
        return True

    def _along_moves(
        self,
        queue: deque[str | None],
        places: set[str],
        free: set[str],
        taken: set[str] | frozenset[str],
        rng: random.Random,
    ) -> None:
        """Placements joined to the first in ``queue`` by the plan's moves (a moved child's
        placement and the one it left), breadth first, with the children living there and
        those who left them: the moves ``max_moves`` allows are shared by the whole plan, so
        a child evicted to make room can return only if other moves are given up in exchange.
        Neighbourhood search alone on county-5000 (20 s charged, run seeds 0 and 1) from its
        60 s plan (204 moves of 218 allowed): £7.357M / £7.358M with this way beside the two
        others, against £7.370M / £7.384M without; the moved children taken in regret order
        instead of at random made the same neighbourhoods again and gained less than without
        (benchmarks/README.md)."""
        moved = self.moved()
        current = self.instance.child_by_id
        left: dict[str, list[str]] = defaultdict(list)  # by the placement they left
        for child in moved:
            left[str(current[child].current_placement)].append(child)
        moving = set(moved)
        others = rng.sample(moved, len(moved))
        while len(free) < NEIGHBOURHOOD_CHILDREN and (queue or others):
            if not queue:  # the seed's moves are all in: another moved child's, at random
                child = others.pop()
                if child not in free and child not in taken:
                    queue.extend([current[child].current_placement, self.plan[child].placement])
                continue
            place = queue.popleft()
            if place == HOME or not self._take_in(place, places, free, taken):
                continue
            leavers = [c for c in left.get(str(place), []) if c not in taken]
            if len(free | set(leavers)) > NEIGHBOURHOOD_CHILDREN:
                continue
            free.update(leavers)
            for child in sorted(self.at.get(place, set()) | set(leavers)):
                if child in moving:  # the other end of its move
                    queue.append(self.plan[child].placement)
                    queue.append(current[child].current_placement)

    def move(self, outcomes: dict[str, Outcome]) -> None:
        """Take ``outcomes`` into the plan, and update the regret of the children it changes
        and of their sibling groups."""
        changed = [child for child, outcome in outcomes.items() if self.plan[child] != outcome]
        for child in changed:
            outcome = outcomes[child]
            self.at[self.plan[child].placement].discard(child)
            self.at[outcome.placement].add(child)
            self.plan[child] = outcome
        touched = set(changed)
        touched.update(m for c in changed for members in self.groups_of.get(c, ()) for m in members)
        for child in sorted(touched):
            self.regret[child] = self._regret(child)
            self.misses.pop(child, None)
