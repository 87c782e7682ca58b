"""One CP-SAT search of a built placement model: settings, parameters, hints, and reading
the solution back. ``matcher.solve`` (ranked plans) and ``matcher.lns`` (neighbourhoods) both
search through here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ortools.sat.python import cp_model

from matcher.cpsat import PlacementModel
from matcher.instance import Instance
from matcher.plans import HOME, Outcome
from matcher.stopping import run_solver
from matcher.units import to_pounds

ProgressCallback = Callable[[dict[str, Any]], None]


LARGE_MODEL_PAIRS = 50_000
"""Above this many eligible child-placement pairs a model is large: the search runs on
shortlists, and the whole model is searched (without presolve) only for plan 1's bound. Measured
on the 1,200-child county instance (287k pairs, 2 workers): with presolve, no plan within 60 s
(presolve alone took 55 s); without, 60 s of search barely improved the greedy plan
(£1.9005M -> £1.8979M). See benchmarks/README.md."""


INTERLEAVED_SKIP = ("core", "no_lp", "quick_restart_no_lp")
"""Full-problem workers left out of interleaved search. Each runs a fixed slice of deterministic
time that a batch must wait for; without them the four 24-60-child instances (small, tight-small
and both shared examples) went from 8.0 s to 2.1 s in all, every one still proven optimal."""


LARGE_INTERLEAVED_SKIP = (
    "max_lp",
    "max_lp_sym",
    "pseudo_costs",
    "reduced_costs",
    "quick_restart",
    "ls",
)
"""Workers also left out of interleaved search on a large instance's models (``large``),
leaving ``default_lp`` beside the neighbourhood workers. Each full-problem worker's first task
(loading the model, its first LP) runs whole before the deterministic limit is looked at:
county-2000's shortlist (44k pairs) limited to 5 deterministic seconds ran 14 s with all six,
each loading it once, and no neighbourhood worker ever ran (£3,033,978, the hint's
£3,034,421); with ``default_lp`` alone it stopped at 5.0 (8.9 s, £3,025,043), and at a limit
of 10, 24.6 (£3,033,978) against 10.0 (17.4 s, £3,018,263); county's at 5: 7.6 (£1,894,980)
against 5.2 (£1,883,511). The violation local search (``ls``) made runs differ: the same
later-plan search of a 3-plan run on 2,000 children, same model and limits, gave three
different plans in about 20 runs; without it, the same plan in 8. Used for later plans'
shortlists: plan 1's shortlist search (where staff-limited models have no neighbourhood
search) keeps every worker, which GAP c801600 needs (9.2% above best known; 45.8% with
``default_lp`` alone) (benchmarks/README.md)."""


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
    reproducible: bool = True
    """True: interleaved deterministic search (and, on large models, neighbourhood search in a
    fixed number of steps); False: the parallel portfolio under the wall clock."""
    greedy_start: bool | None = None
    """Start the search from the greedy plan (a CP-SAT hint). None (auto): yes, unless every
    placement is limited by staff (``staff_capacity``), where the greedy, built around beds,
    anchors the search badly: on ten GAP instances of types B-E (10 s, 2 workers) it left jobs
    unplaced on seven, and without it every job was placed and the gap to best known fell on
    all ten (e.g. d20400 16.7% -> 0.8%)."""

    def starts_from_greedy(self, instance: Instance) -> bool:
        if self.greedy_start is not None:
            return self.greedy_start
        return not instance.staff_limited

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
    settings: SolveSettings,
    wall: float,
    deterministic: float,
    presolve: bool,
    subsolvers: tuple[str, ...] | None = None,
    large: bool = False,
) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = settings.workers
    params.random_seed = settings.seed
    params.max_time_in_seconds = max(wall, 0.01)
    params.cp_model_presolve = presolve
    if large:  # one light presolve pass (``search_model``)
        params.max_presolve_iterations = 1
        params.cp_model_probing_level = 0
        params.symmetry_level = 0
    if settings.reproducible:
        params.max_deterministic_time = max(deterministic, 0.01)
    if subsolvers is not None:
        params.subsolvers.extend(subsolvers)
    elif settings.reproducible and settings.workers > 1:
        params.interleave_search = True
        params.ignore_subsolvers.extend(INTERLEAVED_SKIP)
        if large:
            params.ignore_subsolvers.extend(LARGE_INTERLEAVED_SKIP)
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
    presolve: bool | None = None,
    subsolvers: tuple[str, ...] | None = None,
    large: bool = False,
) -> Search:
    """One CP-SAT search of a built model from its hint (presolve only on models that are not
    large, or with ``fix_hinted``, which fixes every hinted variable to its hint, unless
    ``presolve`` says otherwise). ``offset`` is added to the reported times. ``subsolvers``
    replaces the project's choice of CP-SAT workers (empty: CP-SAT's own); ``large`` marks a
    large instance's model, given fewer full-problem workers (``LARGE_INTERLEAVED_SKIP``) and
    one presolve pass without probing or symmetry: on a 1,200-child tight instance (3 plans,
    60 s) full presolve took the whole of each later plan's 3.9 deterministic seconds, even from
    a valid full hint, and plans 2 and 3 were plans passed on the way, 13% above plan 1; with
    one pass, 0.27% above. County, county-1000 and county-2000 gave the same plans. (No
    presolve at all made CP-SAT 9.15 abort on a random small instance.)"""
    deterministic = wall_limit if deterministic_limit is None else deterministic_limit
    if presolve is None:
        presolve = fix_hinted or len(pm.variables.assign) <= LARGE_MODEL_PAIRS
    solver = _parameters(settings, wall_limit, deterministic, presolve, subsolvers, large)
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
