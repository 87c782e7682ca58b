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
- ``auto``: reproducible up to ``PRESOLVE_MAX_VARIABLES`` assignment variables, fast above (on the
  1,200-child county instance the wall-clock limit, not the deterministic one, always stopped
  interleaved search, so the run would not repeat; see the README).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ortools.sat.python import cp_model

from matcher.cpsat import PlacementModel, build_model
from matcher.greedy import greedy_plan
from matcher.instance import Instance
from matcher.plans import HOME, Outcome, Plan, Result, SolverReport, changes_between, make_plan
from matcher.units import to_pounds

ProgressCallback = Callable[[dict[str, Any]], None]


PRESOLVE_MAX_VARIABLES = 50_000
"""Above this many assignment variables CP-SAT's presolve is skipped. Measured on the 1,200-child
county instance (287k variables, 2 workers): with presolve, no plan within 60 s (presolve alone
took 55 s); without, the search starts at once. See benchmarks/README.md."""


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
    reproducible for models up to ``PRESOLVE_MAX_VARIABLES`` assignment variables, else fast."""

    def resolved(self, variables: int) -> SolveSettings:
        """These settings with ``reproducible`` decided for a model of ``variables`` pairs."""
        if self.reproducible is not None:
            return self
        return replace(self, reproducible=variables <= PRESOLVE_MAX_VARIABLES)

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

    def __init__(self, rank: int, callback: ProgressCallback | None) -> None:
        super().__init__()
        self.rank, self.callback = rank, callback
        self.first_solution_s: float | None = None

    def on_solution_callback(self) -> None:
        if self.first_solution_s is None:
            self.first_solution_s = self.wall_time
        if self.callback is not None:
            self.callback(
                {
                    "plan": self.rank,
                    "objective": to_pounds(self.objective_value),
                    "bound": to_pounds(self.best_objective_bound),
                    "wall_time_s": round(self.wall_time, 3),
                }
            )


def _parameters(
    settings: SolveSettings, wall: float, deterministic: float, variables: int
) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = settings.workers
    params.random_seed = settings.seed
    params.max_time_in_seconds = max(wall, 0.01)
    params.cp_model_presolve = variables <= PRESOLVE_MAX_VARIABLES
    if settings.reproducible:
        params.interleave_search = True
        params.max_deterministic_time = max(deterministic, 0.01)
        params.ignore_subsolvers.extend(INTERLEAVED_SKIP)
    elif settings.workers <= len(FAST_FULL_SUBSOLVERS):
        params.subsolvers.extend(FAST_FULL_SUBSOLVERS)
    return solver


def solve_model(
    pm: PlacementModel,
    settings: SolveSettings,
    wall_limit: float,
    deterministic_limit: float | None = None,
    *,
    rank: int = 1,
    on_progress: ProgressCallback | None = None,
) -> tuple[cp_model.CpSolver, int, float | None]:
    """One CP-SAT search on a built model: the solver, its status, and when the first plan came."""
    deterministic = wall_limit if deterministic_limit is None else deterministic_limit
    solver = _parameters(settings, wall_limit, deterministic, len(pm.variables.assign))
    progress = _Progress(rank, on_progress)
    status = solver.solve(pm.model, progress)
    return solver, status, progress.first_solution_s


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
    if solver.solve(pm.model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return False
    values = list(solver.response_proto.solution)
    pm.model.clear_hints()
    hint = pm.model.proto.solution_hint
    hint.vars.extend(range(len(values)))
    hint.values.extend(values)
    return True


def read_outcomes(pm: PlacementModel, solver: cp_model.CpSolver) -> dict[str, Outcome]:
    """Each child's outcome and outreach team in the solver's current solution."""
    v = pm.variables
    result = {}
    for child in pm.instance.children:
        placement: str | None = None
        for option, var in v.options[child.id]:
            if solver.boolean_value(var):
                placement = option.placement
        if child.id in v.home and solver.boolean_value(v.home[child.id]):
            placement = HOME
        team = next(
            (t for t, var in v.slots_of_child[child.id].items() if solver.boolean_value(var)), None
        )
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


def _exclude(pm: PlacementModel, outcomes: dict[str, Outcome], min_difference: int) -> None:
    """Later plans differ from this one in at least ``min_difference`` children's outcomes."""
    same = [pm.variables.outcome(child, o.placement) for child, o in outcomes.items()]
    pm.model.add(cp_model.LinearExpr.sum(same) <= len(same) - min_difference)


def solve(
    instance: Instance,
    settings: SolveSettings | None = None,
    *,
    instance_sha256: str = "",
    on_progress: ProgressCallback | None = None,
) -> Result:
    """Build the model for ``instance`` and return up to ``settings.plans`` ranked plans."""
    started = time.perf_counter()
    pm = build_model(instance)
    build_time = time.perf_counter() - started
    settings = (settings or SolveSettings()).resolved(len(pm.variables.assign))
    hint_plan(pm, greedy_plan(instance, pm.candidates))
    complete_hint(pm, settings.time_limit / 10)
    plans: list[Plan] = []
    report: SolverReport | None = None
    deterministic_used = 0.0
    wall_limit_hit = False
    for rank in range(1, settings.plans + 1):
        share = 1 / (settings.plans - rank + 1)
        wall_left = settings.time_limit - (time.perf_counter() - started)
        if rank > 1 and wall_left <= 0.05:
            break
        solver, status, first_solution_s = solve_model(
            pm,
            settings,
            wall_left * share,
            (settings.time_limit - deterministic_used) * share,
            rank=rank,
            on_progress=on_progress,
        )
        deterministic_used += solver.deterministic_time
        if settings.reproducible and status not in (cp_model.OPTIMAL, cp_model.INFEASIBLE):
            wall_limit_hit |= solver.wall_time >= solver.parameters.max_time_in_seconds * 0.99
        if rank == 1:
            report = _report(pm, solver, status, settings, build_time, first_solution_s, started)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            break
        outcomes = read_outcomes(pm, solver)
        plan = make_plan(instance, pm.candidates, outcomes, rank)
        if plans:
            plan = replace(plan, changes_from_best=changes_between(plans[0], plan))
        plans.append(plan)
        _exclude(pm, outcomes, settings.min_difference)
        hint_plan(pm, outcomes)
    assert report is not None  # the loop always runs rank 1
    mode = report.mode + (" (wall-clock limit hit)" if wall_limit_hit else "")
    report = replace(report, mode=mode, wall_time_s=round(time.perf_counter() - started, 3))
    return Result(instance.meta.name, instance_sha256, report, plans)


def _report(
    pm: PlacementModel,
    solver: cp_model.CpSolver,
    status: int,
    settings: SolveSettings,
    build_time: float,
    first_solution_s: float | None,
    started: float,
) -> SolverReport:
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    objective = to_pounds(solver.objective_value) if found else None
    bound = to_pounds(solver.best_objective_bound) if found else None
    gap = None
    if objective is not None and bound is not None:
        gap = round(max(objective - bound, 0.0) / max(abs(objective), 1e-9), 6)
    return SolverReport(
        status=solver.status_name(status),
        objective=objective,
        best_bound=bound,
        gap=gap,
        wall_time_s=round(time.perf_counter() - started, 3),
        seed=settings.seed,
        workers=settings.workers,
        mode="reproducible" if settings.reproducible else "fast",
        time_limit_s=settings.time_limit,
        build_time_s=round(build_time, 3),
        first_solution_s=None if first_solution_s is None else round(first_solution_s, 3),
        assignment_variables=len(pm.variables.assign),
    )
