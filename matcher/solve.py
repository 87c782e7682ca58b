"""The solver wrapper: one ``solve()`` entry point that returns ranked plans and a report.

Plan 1 is the optimum (or the best found in time). Plan k > 1 is the best plan the search finds
that differs from every earlier plan in at least ``min_difference`` children's outcomes.

Two search modes, and ``auto`` (the default) to pick one by model size:

- ``reproducible``: CP-SAT's interleaved search with a deterministic time limit, so
  the same instance, seed and worker count give the same plans, whatever else the machine is doing.
  The wall-clock limit is still set as a safety net; if it, rather than the deterministic limit,
  stops a search, the report's ``mode`` says ``reproducible (wall-clock limit hit)``.
- ``fast``: CP-SAT's parallel portfolio under a wall-clock limit (on one or two workers with
  ``FAST_FULL_SUBSOLVERS``); usually faster to prove optimality, but two runs that time out may
  return different plans.
- ``auto``: reproducible up to ``LARGE_MODEL_PAIRS`` eligible pairs, fast above (on the
  1,200-child county instance the wall-clock limit, not the deterministic one, always stopped
  interleaved search, so the run would not repeat; see the README).

Large models (above ``LARGE_MODEL_PAIRS`` pairs) are searched on a shortlist: each child's
``SHORTLIST_SIZE`` cheapest options, a model small enough for presolve and a fast search. Plan 1
then gets a bound on the whole model: the Lagrangian capacity bound (``matcher.bounds``), and, when
time allows, a search of the whole model from the shortlist's plan.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ortools.sat.python import cp_model

from matcher.bounds import capacity_bound
from matcher.cpsat import PlacementModel, build_model
from matcher.cpsat.objective import fees_on_count, option_costs
from matcher.eligibility import Candidates, candidates
from matcher.greedy import greedy_plan
from matcher.instance import Instance
from matcher.plans import HOME, Outcome, Plan, Result, SolverReport, changes_between, make_plan
from matcher.resources import check_memory, fits_in_memory
from matcher.stopping import run_solver, stop_requested
from matcher.units import to_pence, to_pounds
from matcher.verify import check_plan

ProgressCallback = Callable[[dict[str, Any]], None]


LARGE_MODEL_PAIRS = 50_000
"""Above this many eligible child-placement pairs a model is large: the search runs on
shortlists, and the whole model is searched (without presolve) only for plan 1's bound. Measured
on the 1,200-child county instance (287k pairs, 2 workers): with presolve, no plan within 60 s
(presolve alone took 55 s); without, 60 s of search barely improved the greedy plan
(£1.9005M -> £1.8979M). See benchmarks/README.md."""

SHORTLIST_SIZE = 10
"""Options per child on a large model's shortlist: its 10 cheapest by objective coefficient, plus
its stay, the starting plan's choice and the earlier plans' choices. On the county instance the
shortlist has 13k of 287k pairs, and CP-SAT proved its optimum (£1.8594M) in 27 s."""

PLAN_ONE_SHARE = 0.6
"""Share of the search time plan 1 gets when more plans are asked for; the others split the rest.
Plan 1 is the one a team acts on."""

SHORTLIST_SHARE = 0.6
"""Share of plan 1's time on a large model given to the shortlist; a whole-model search for the
bound gets the rest if it is at least ``WHOLE_MODEL_MIN_S``."""

WHOLE_MODEL_MIN_S = 20.0
"""Least time worth a whole-model search: on the county instance building the model and
completing the hint take ~10 s before the search starts."""

HINT_SHARE = 0.2
"""Most of the time limit spent completing the starting plan into a full hint (~3 s on county)."""
LARGE_SEARCH_MIN_S = 1.5
"""Seconds that must be left, once the starting plan is made, to build and search a large
model's shortlist (~1 s to build on the county instance); with less, the starting plan is the
answer, so a short ``time_limit`` is kept."""
BOUND_MIN_S = 3.0
"""Seconds that must be left before the capacity bound (~1 s on the county instance) is worth
computing for a large model; with less, plan 1 comes without a whole-model bound."""


INTERLEAVED_SKIP = ("core", "no_lp", "quick_restart_no_lp")
"""Full-problem workers left out of interleaved search. Each runs a fixed slice of deterministic
time that a batch must wait for; without them the four 24-60-child instances (small, tight-small
and both shared examples) went from 8.0 s to 2.1 s in all, every one still proven optimal."""


FAST_FULL_SUBSOLVERS = ("max_lp", "default_lp")
"""Full-problem workers of ``fast`` mode on one or two workers. CP-SAT's own choice there is
``default_lp`` alone, whose light LP left a 300-child county instance (15k pairs) with a negative
bound after 30 s; with ``max_lp`` (the full linear relaxation) first, it was proven optimal in
7 s."""


@dataclass(frozen=True)
class SolveSettings:
    """Search settings; ``time_limit`` is in seconds for the whole call, all plans included."""

    time_limit: float = 60.0
    workers: int = 2
    seed: int = 0
    plans: int = 3
    min_difference: int = 1
    reproducible: bool | None = None
    """True: interleaved deterministic search; False: the parallel portfolio; None (auto):
    reproducible for models up to ``LARGE_MODEL_PAIRS`` eligible pairs, else fast."""
    greedy_start: bool | None = None
    """Start the search from the greedy plan (a CP-SAT hint). None (auto): yes, unless every
    placement is limited by staff (``staff_capacity``), where the greedy, built around beds,
    anchors the search badly: on ten GAP instances of types B-E (10 s, 2 workers) it left jobs
    unplaced on seven, and without it every job was placed and the gap to best known fell on
    all ten (e.g. d20400 16.7% -> 0.8%)."""

    def starts_from_greedy(self, instance: Instance) -> bool:
        if self.greedy_start is not None:
            return self.greedy_start
        return not all(p.staff_capacity is not None for p in instance.placements)

    def resolved(self, pairs: int) -> SolveSettings:
        """These settings with ``reproducible`` decided for a model of ``pairs`` eligible pairs."""
        if self.reproducible is not None:
            return self
        return replace(self, reproducible=pairs <= LARGE_MODEL_PAIRS)

    def __post_init__(self) -> None:
        if self.time_limit <= 0:
            raise ValueError("time_limit must be above 0")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.plans < 1:
            raise ValueError("plans must be at least 1")
        if self.min_difference < 1:
            raise ValueError("min_difference must be at least 1")


class _Progress(cp_model.CpSolverSolutionCallback):
    """Reports each improving solution to ``callback`` and remembers when the first came."""

    def __init__(self, rank: int, callback: ProgressCallback | None, offset: float) -> None:
        super().__init__()
        self.rank, self.callback, self.offset = rank, callback, offset
        self.first_solution_s: float | None = None
        self.best_solution_s: float | None = None

    def on_solution_callback(self) -> None:
        if self.first_solution_s is None:
            self.first_solution_s = self.offset + self.wall_time
        self.best_solution_s = self.offset + self.wall_time
        if self.callback is not None:
            self.callback(
                {
                    "plan": self.rank,
                    "objective": to_pounds(self.objective_value),
                    "bound": to_pounds(self.best_objective_bound),
                    "wall_time_s": round(self.offset + self.wall_time, 3),
                }
            )


@dataclass(frozen=True)
class Search:
    """What a search found, in model units (pence). ``bound`` is a bound on the whole model,
    never on a shortlist."""

    status: int
    outcomes: dict[str, Outcome] | None
    objective: float | None
    bound: float | None
    first_solution_s: float | None
    best_solution_s: float | None
    """When the returned solution was found (seconds into the ``solve`` call)."""
    deterministic_time: float
    wall_time: float
    wall_limit_hit: bool
    shortlist_optimal: bool = False

    @property
    def status_name(self) -> str:
        return cp_model.CpSolverStatus(self.status).name


NO_SEARCH = Search(cp_model.UNKNOWN, None, None, None, None, None, 0.0, 0.0, True)
"""What a search that was never run found."""


def _parameters(
    settings: SolveSettings, wall: float, deterministic: float, presolve: bool
) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = settings.workers
    params.random_seed = settings.seed
    params.max_time_in_seconds = max(wall, 0.01)
    params.cp_model_presolve = presolve
    if settings.reproducible:
        params.max_deterministic_time = max(deterministic, 0.01)
    if settings.reproducible and settings.workers > 1:
        params.interleave_search = True
        params.ignore_subsolvers.extend(INTERLEAVED_SKIP)
    elif settings.workers <= len(FAST_FULL_SUBSOLVERS):
        # One worker is deterministic without interleaving, which made stress-test scenarios
        # 4.5x slower (2.9 s against 0.65 s a solve on a 300-child instance).
        params.subsolvers.extend(FAST_FULL_SUBSOLVERS)
    return solver


def search_model(
    pm: PlacementModel,
    settings: SolveSettings,
    wall_limit: float,
    deterministic_limit: float | None = None,
    *,
    rank: int = 1,
    on_progress: ProgressCallback | None = None,
    offset: float = 0.0,
    fix_hinted: bool = False,
) -> Search:
    """One CP-SAT search of a built model from its hint (presolve only on models that are not
    large, or with ``fix_hinted``, which fixes every hinted variable to its hint). ``offset`` is
    added to the reported times."""
    deterministic = wall_limit if deterministic_limit is None else deterministic_limit
    presolve = fix_hinted or len(pm.variables.assign) <= LARGE_MODEL_PAIRS
    solver = _parameters(settings, wall_limit, deterministic, presolve)
    solver.parameters.fix_variables_to_their_hinted_value = fix_hinted
    progress = _Progress(rank, on_progress, offset)
    status = run_solver(solver, pm.model, progress)
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    stopped = status not in (cp_model.OPTIMAL, cp_model.INFEASIBLE, cp_model.MODEL_INVALID)
    return Search(
        status=status,
        outcomes=read_outcomes(pm, list(solver.response_proto.solution)) if found else None,
        objective=solver.objective_value if found else None,
        bound=solver.best_objective_bound if found else None,
        first_solution_s=progress.first_solution_s,
        best_solution_s=progress.best_solution_s,
        deterministic_time=solver.deterministic_time,
        wall_time=solver.wall_time,
        wall_limit_hit=stopped and solver.wall_time >= wall_limit * 0.99,
    )


def shortlist(
    instance: Instance, cands: Candidates, keep: Sequence[dict[str, Outcome]]
) -> Candidates:
    """Each child's ``SHORTLIST_SIZE`` cheapest options, its stay, and its placement in each of
    the plans in ``keep`` (the starting plan, earlier ranked plans)."""
    costs = option_costs(instance, cands, fees_on_count(instance))
    options = {}
    for child, child_options in cands.options.items():
        wanted = {plan[child].placement for plan in keep if child in plan}
        ranked = sorted(zip(costs[child], range(len(child_options)), strict=True))
        chosen = {k for _, k in ranked[:SHORTLIST_SIZE]}
        chosen |= {
            k for k, option in enumerate(child_options) if option.stay or option.placement in wanted
        }
        options[child] = [child_options[k] for k in sorted(chosen)]
    return Candidates(options, cands.home_teams)


def complete_hint(pm: PlacementModel, time_limit: float) -> bool:
    """Turn the hinted plan into a full hint: CP-SAT fixes every hinted variable and fills in the
    rest (block-bed counts, split flags, presence literals), so the search starts from a complete
    solution. Returns False, leaving the partial hint, if the hint is infeasible or time runs
    out."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_deterministic_time = max(time_limit, 0.01)
    solver.parameters.max_time_in_seconds = max(time_limit, 0.01)
    solver.parameters.fix_variables_to_their_hinted_value = True
    if run_solver(solver, pm.model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return False
    values = list(solver.response_proto.solution)
    set_hint(pm, list(range(len(values))), values)
    return True


def set_hint(pm: PlacementModel, variables: list[int], values: list[int]) -> None:
    """Replace the model's hint with ``values`` for ``variables`` (indices), in bulk."""
    pm.model.clear_hints()
    hint = pm.model.proto.solution_hint
    hint.vars.extend(variables)
    hint.values.extend(values)


def read_outcomes(pm: PlacementModel, values: Sequence[int]) -> dict[str, Outcome]:
    """Each child's outcome and outreach team in a solution (one value per model variable)."""
    v = pm.variables
    result = {}
    for child in pm.instance.children:
        placement: str | None = None
        for option, var in v.options[child.id]:
            if values[var.index]:
                placement = option.placement
        if child.id in v.home and values[v.home[child.id].index]:
            placement = HOME
        team = next((t for t, var in v.slots_of_child[child.id].items() if values[var.index]), None)
        result[child.id] = Outcome(placement, team if placement is not None else None)
    return result


def hint_plan(pm: PlacementModel, outcomes: dict[str, Outcome]) -> None:
    """Start the search from a plan: the greedy one for plan 1, the previous plan for later plans
    (infeasible for them, but close). Written to the proto in bulk: 300k ``add_hint`` calls on the
    county instance took ~3 s."""
    pm.model.clear_hints()
    v = pm.variables
    indices: list[int] = []
    values: list[int] = []
    for child, outcome in outcomes.items():
        for option, var in v.options[child]:
            indices.append(var.index)
            values.append(int(option.placement == outcome.placement))
        if child in v.home:
            indices.append(v.home[child].index)
            values.append(int(outcome.placement == HOME))
        for team, var in v.slots_of_child[child].items():
            indices.append(var.index)
            values.append(int(team == outcome.team))
    hint = pm.model.proto.solution_hint
    hint.vars.extend(indices)
    hint.values.extend(values)


def usable_outcomes(cands: Candidates, plan: dict[str, Outcome]) -> dict[str, Outcome]:
    """The placements of ``plan`` that are still options tonight: the child is here, the
    placement is among its options (or home with a team that can serve it), and the team may
    serve it. Unplaced children are left out: the greedy plan may place them tonight (a warm
    start that kept them unplaced cost the accepted-plan benchmark 2.7 s)."""
    usable = {}
    for child, outcome in plan.items():
        if child not in cands.options or outcome.placement is None:
            continue
        if outcome.placement == HOME:
            teams: tuple[str, ...] | None = cands.home_teams.get(child, ())
        else:
            option = next(
                (o for o in cands.options[child] if o.placement == outcome.placement), None
            )
            if option is None:
                continue
            teams = option.teams
        if teams is None or outcome.team in teams:
            usable[child] = outcome
    return usable


def _exclude(pm: PlacementModel, outcomes: dict[str, Outcome], min_difference: int) -> None:
    """Later plans differ from this one in at least ``min_difference`` children's outcomes."""
    same = [pm.variables.outcome(child, o.placement) for child, o in outcomes.items()]
    pm.model.add(cp_model.LinearExpr.sum(same) <= len(same) - min_difference)


@dataclass
class _Run:
    """One ``solve`` call: the instance, its candidates, the clock, and the plans so far."""

    instance: Instance
    cands: Candidates
    settings: SolveSettings
    started: float
    on_progress: ProgressCallback | None
    found: list[dict[str, Outcome]]
    pairs: int
    deterministic_used: float = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def wall_left(self) -> float:
        return self.settings.time_limit - self.elapsed()

    def deterministic_left(self) -> float:
        return self.settings.time_limit - self.deterministic_used

    def share(self, rank: int) -> float:
        """The share of the time left that plan ``rank`` gets."""
        plans = self.settings.plans
        if plans == 1:
            return 1.0
        if rank == 1:
            return PLAN_ONE_SHARE
        return 1 / (plans - rank + 1)

    def search(self, pm: PlacementModel, rank: int, share: float) -> Search:
        """Search ``pm`` for plan ``rank`` with ``share`` of the time left."""
        result = search_model(
            pm,
            self.settings,
            self.wall_left() * share,
            self.deterministic_left() * share,
            rank=rank,
            on_progress=self.on_progress,
            offset=self.elapsed(),
        )
        self.deterministic_used += result.deterministic_time
        return result

    def starting_model(self, cands: Candidates, start: dict[str, Outcome]) -> PlacementModel:
        """The model on ``cands`` without the earlier plans, hinted with ``start``."""
        pm = build_model(self.instance, cands=cands)
        for plan in self.found:
            _exclude(pm, plan, self.settings.min_difference)
        hint_plan(pm, start)
        if start and not self.found:
            complete_hint(pm, min(self.settings.time_limit * HINT_SHARE, max(self.wall_left(), 0)))
        return pm


def solve(
    instance: Instance,
    settings: SolveSettings | None = None,
    *,
    instance_sha256: str = "",
    on_progress: ProgressCallback | None = None,
    warm_start: dict[str, Outcome] | None = None,
) -> Result:
    """Build the model for ``instance`` and return up to ``settings.plans`` ranked plans.

    ``warm_start`` (e.g. last night's plan) is where the search starts, for the children whose
    outcome there is still an option; the greedy plan fills in the rest. After a stop request
    (``matcher.stopping``) no further plan is searched and the report says ``interrupted``.
    """
    started = time.perf_counter()
    cands = candidates(instance)
    pairs = sum(len(options) for options in cands.options.values())
    settings = (settings or SolveSettings()).resolved(pairs)
    large = pairs > LARGE_MODEL_PAIRS
    check_memory(instance.meta.name, len(instance.children), pairs, whole_model=not large)
    run = _Run(instance, cands, settings, started, on_progress, found=[], pairs=pairs)
    start = greedy_plan(instance, cands) if settings.starts_from_greedy(instance) else {}
    warm = usable_outcomes(cands, warm_start or {})
    start.update(warm)
    start_is_valid = functools.cache(lambda: _valid_start(instance, cands, start))
    pm = None if large else run.starting_model(cands, start)
    build_time = run.elapsed()
    plans: list[Plan] = []
    report: SolverReport | None = None
    wall_limit_hit = False
    for rank in range(1, settings.plans + 1):
        if rank > 1 and (run.wall_left() <= 0.05 or stop_requested()):
            break
        hint = start if rank == 1 else run.found[-1]
        if rank == 1 and large and run.wall_left() < LARGE_SEARCH_MIN_S and start_is_valid():
            search = _start_as_plan(run, start, NO_SEARCH)
        elif large:
            search = _search_large(run, rank, hint)
        else:
            assert pm is not None
            if rank > 1:
                hint_plan(pm, hint)
            search = run.search(pm, rank, run.share(rank))
        wall_limit_hit |= bool(settings.reproducible) and search.wall_limit_hit
        if rank == 1 and search.outcomes is None and start_is_valid():
            search = _start_as_plan(run, start, search)
        if rank == 1:
            report = _report(search, settings, build_time, pairs, started)
        if search.outcomes is None:
            break
        plan = make_plan(instance, cands, search.outcomes, rank)
        if plans:
            plan = replace(plan, changes_from_best=changes_between(plans[0], plan))
        plans.append(plan)
        if pm is not None:
            _exclude(pm, search.outcomes, settings.min_difference)
        run.found.append(search.outcomes)
    assert report is not None  # the loop always runs rank 1
    mode = report.mode + (" (wall-clock limit hit)" if wall_limit_hit else "")
    report = replace(
        report,
        mode=mode,
        wall_time_s=round(time.perf_counter() - started, 3),
        warm_start=bool(warm),
        interrupted=stop_requested(),
    )
    plans, report = _ranked(plans, report)
    return Result(instance.meta.name, instance_sha256, report, plans)


def _ranked(plans: list[Plan], report: SolverReport) -> tuple[list[Plan], SolverReport]:
    """Plans best first. A later search that timed out may beat an earlier one; the plans
    still differ pairwise, and the bound (on the whole model) holds for every plan."""
    order = sorted(plans, key=lambda plan: plan.objective)
    if [plan.rank for plan in order] == [plan.rank for plan in plans]:
        return plans, report
    best = replace(order[0], rank=1, changes_from_best=[])
    ranked = [best] + [
        replace(plan, rank=k, changes_from_best=changes_between(best, plan))
        for k, plan in enumerate(order[1:], start=2)
    ]
    bound = report.best_bound
    optimal = bound is not None and bound >= best.objective
    report = replace(
        report,
        objective=best.objective,
        gap=_gap(best.objective, bound),
        status="OPTIMAL" if optimal else report.status,
    )
    return ranked, report


def _search_large(run: _Run, rank: int, hint: dict[str, Outcome]) -> Search:
    """Plan ``rank`` of a large model: a search on the shortlist; for plan 1 also the capacity
    bound on the whole model and, in fast mode when time allows, a whole-model search from the
    shortlist's plan (skipped in reproducible mode: whether it runs depends on the clock)."""
    short_pm = run.starting_model(shortlist(run.instance, run.cands, [hint, *run.found]), hint)
    if rank > 1:
        return replace(run.search(short_pm, rank, run.share(rank)), bound=None)
    budget = run.wall_left() * run.share(1)
    deadline = run.elapsed() + budget
    whole_search = (
        not run.settings.reproducible
        and budget * (1 - SHORTLIST_SHARE) >= WHOLE_MODEL_MIN_S
        and fits_in_memory(len(run.instance.children), run.pairs, whole_model=True)
    )
    short_share = run.share(1) * (SHORTLIST_SHARE if whole_search else 1.0)
    short = run.search(short_pm, rank, short_share)
    if run.wall_left() < BOUND_MIN_S:
        return replace(short, bound=None, shortlist_optimal=short.status == cp_model.OPTIMAL)
    floor = capacity_bound(run.instance, run.cands, short.objective).bound
    whole = None
    if whole_search and short.outcomes is not None and not stop_requested():
        pm = build_model(run.instance, cands=run.cands)
        hint_plan(pm, short.outcomes)
        complete_hint(pm, run.settings.time_limit * HINT_SHARE)
        whole = run.search(pm, rank, max(deadline - run.elapsed(), 0.0) / run.wall_left())
    return _best_of(short, whole, floor)


def _valid_start(instance: Instance, cands: Candidates, start: dict[str, Outcome]) -> bool:
    """Whether the starting plan covers every child and passes the independent checker, so it
    can stand as plan 1 when time runs out before the search finds anything (~0.05 s on the
    county instance)."""
    if len(start) != len(instance.children):
        return False
    return not check_plan(instance, make_plan(instance, cands, start, rank=1).to_dict())


def _start_as_plan(run: _Run, start: dict[str, Outcome], search: Search) -> Search:
    """The (valid) starting plan as plan 1, found when it was made; no bound."""
    objective = to_pence(make_plan(run.instance, run.cands, start, rank=1).objective)
    found_at = search.first_solution_s if search.first_solution_s is not None else run.elapsed()
    return replace(
        search,
        status=cp_model.FEASIBLE,
        outcomes=start,
        objective=objective,
        bound=None,
        first_solution_s=found_at,
        best_solution_s=found_at,
    )


def _best_of(short: Search, whole: Search | None, floor: float) -> Search:
    """The shortlist's plan unless the whole-model search beat it, with the best bound on the
    whole model: the capacity bound ``floor`` or the whole-model search's, if higher."""
    best = short
    if whole is not None and whole.objective is not None:
        if short.objective is None or whole.objective < short.objective:
            best = whole
    if best.objective is None:
        return replace(best, bound=None)
    bound = floor
    if whole is not None and whole.bound is not None:
        bound = max(bound, whole.bound)
    runs = [short] if whole is None else [short, whole]
    return replace(
        best,
        status=cp_model.OPTIMAL if bound >= best.objective else cp_model.FEASIBLE,
        bound=bound,
        first_solution_s=short.first_solution_s,
        best_solution_s=best.best_solution_s,
        deterministic_time=sum(r.deterministic_time for r in runs),
        wall_time=sum(r.wall_time for r in runs),
        wall_limit_hit=any(r.wall_limit_hit for r in runs),
        shortlist_optimal=short.status == cp_model.OPTIMAL,
    )


def _report(
    search: Search, settings: SolveSettings, build_time: float, pairs: int, started: float
) -> SolverReport:
    objective = None if search.objective is None else to_pounds(search.objective)
    bound = None if search.bound is None else to_pounds(search.bound)
    first, best = search.first_solution_s, search.best_solution_s
    return SolverReport(
        status=search.status_name,
        objective=objective,
        best_bound=bound,
        gap=_gap(objective, bound),
        wall_time_s=round(time.perf_counter() - started, 3),
        seed=settings.seed,
        workers=settings.workers,
        mode="reproducible" if settings.reproducible else "fast",
        time_limit_s=settings.time_limit,
        build_time_s=round(build_time, 3),
        first_solution_s=None if first is None else round(first, 3),
        best_solution_s=None if best is None else round(best, 3),
        assignment_variables=pairs,
        shortlist_optimal=search.shortlist_optimal,
    )


def _gap(objective: float | None, bound: float | None) -> float | None:
    """Relative gap between a plan's objective and the bound, as the contract reports it."""
    if objective is None or bound is None:
        return None
    return round(max(objective - bound, 0.0) / max(abs(objective), 1e-9), 6)
