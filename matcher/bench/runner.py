"""Run benchmark cases with each solver, one process per run so peak memory is the run's own.

Solvers, all on the same instance and the project's own model:

- ``greedy``: manual practice (``matcher.greedy``: urgent and constrained children first, each to
  the cheapest place that still fits, then bed-freeing moves);
- ``cpsat-1w``, ``cpsat-2w``: ``solve()`` with one or two workers, as a user runs it (starting
  from the greedy plan unless every placement is staff-limited, see ``SolveSettings``);
- ``cpsat-2w-nohint``: two workers, never starting from the greedy plan;
- ``highs``: the same model as a MIP, solved by HiGHS (``matcher.bench.highs``) on one thread.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from queue import Empty
from typing import Any

import numpy as np

from matcher.bench.gap import gap_value
from matcher.bench.suites import GAP_FOLDER, Case, suite_cases
from matcher.cpsat import build_model
from matcher.eligibility import candidates
from matcher.greedy import greedy_plan
from matcher.plans import Plan, make_plan
from matcher.resources import peak_rss_mib
from matcher.search import read_outcomes
from matcher.solve import SolveSettings, solve
from matcher.units import to_pounds

SOLVERS = ("greedy", "cpsat-1w", "cpsat-2w", "cpsat-2w-nohint", "highs")

COLUMNS = (
    "suite",
    "instance",
    "children",
    "placements",
    "pairs",
    "solver",
    "time_limit_s",
    "status",
    "objective",
    "bound",
    "gap",
    "best_known",
    "gap_to_best_known",
    "unplaced",
    "build_s",
    "first_solution_s",
    "time_to_best_s",
    "wall_s",
    "peak_rss_mib",
    "machine_s",
)


REFERENCE_STEPS = 2_000_000
"""Steps of the fixed workload that times the machine (``reference_seconds``)."""


def reference_seconds() -> float:
    """Seconds this machine takes for a fixed workload (Python steps and a NumPy sort, as the
    project's own work mixes them): a run's wall time divided by this is comparable across
    runs. On one shared machine a Python loop took 1.2-2.8 s from one minute to the next, and
    county's proof 36-51 s within an hour, the same code."""
    started = time.perf_counter()
    total = 0
    for step in range(REFERENCE_STEPS):
        total += step
    numbers = np.random.default_rng(0).random(REFERENCE_STEPS // 4)
    numbers.sort()
    return round(time.perf_counter() - started, 4)


BUILD_TIMEOUT_S = 1800.0
"""Longest a run may take to make its instance before it counts as an error (generating the
20,000-child county instance takes ~4 min); the run's own time-out starts once it is made."""

BUILT = "built"
"""What a run's process says once its instance is made."""


def run_case(
    case: Case, solver: str, time_limit: float, gap_folder: Path = GAP_FOLDER
) -> dict[str, Any]:
    """One run in a fresh process; a crash or time-out becomes a row with status ERROR. The
    instance is made (read, generated) before the run's clock and its time-out start."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    args = (case.suite, case.name, gap_folder, solver, time_limit, queue)
    process = context.Process(target=_measure, args=args)
    process.start()
    row = None
    if _message(queue, process, BUILD_TIMEOUT_S) == BUILT:
        process.join(timeout=time_limit * 3 + 120)
        if not process.is_alive():
            row = _message(queue, process, 1.0)
    if process.is_alive():
        process.kill()
        process.join()
    if not isinstance(row, dict):
        row = {"status": "ERROR", "solver": solver}
    return {"suite": case.suite, "instance": case.name, "time_limit_s": time_limit, **row}


def _message(queue: Any, process: Any, timeout: float) -> Any:
    """The next message from the run's process, or None if it ended or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return queue.get(timeout=min(1.0, timeout))
        except Empty:
            if not process.is_alive() and queue.empty():
                return None
    return None


def _measure(
    suite: str, name: str, gap_folder: Path, solver: str, time_limit: float, queue: Any
) -> None:
    case = next(c for c in suite_cases(suite, gap_folder) if c.name == name)
    instance = case.build()
    queue.put(BUILT)
    before = reference_seconds()
    started = time.perf_counter()
    row: dict[str, Any] = {
        "solver": solver,
        "children": len(instance.children),
        "placements": len(instance.placements),
    }
    plan: Plan | None
    if solver == "greedy":
        cands = candidates(instance)
        build_s = time.perf_counter() - started
        plan = make_plan(instance, cands, greedy_plan(instance, cands), rank=1)
        row |= {"status": "FEASIBLE", "bound": None, "build_s": round(build_s, 3)}
        row["first_solution_s"] = row["time_to_best_s"] = round(time.perf_counter() - started, 3)
    elif solver == "highs":
        from matcher.bench.highs import solve_mip

        pm = build_model(instance)
        build_s = time.perf_counter() - started
        result = solve_mip(pm.model, time_limit - build_s)
        cands = pm.candidates
        plan = None
        if result.values is not None:
            plan = make_plan(instance, cands, read_outcomes(pm, result.values), rank=1)
        row |= {
            "status": result.status,
            "bound": None if result.bound is None else to_pounds(result.bound),
            "build_s": round(build_s + result.build_s, 3),
            "first_solution_s": _after(build_s, result.first_solution_s),
            "time_to_best_s": _after(build_s, result.best_solution_s),
        }
    else:
        workers = 1 if solver == "cpsat-1w" else 2
        settings = SolveSettings(
            time_limit=time_limit,
            workers=workers,
            plans=1,
            greedy_start=False if "nohint" in solver else None,
        )
        events: list[float] = []
        solved = solve(instance, settings, on_progress=lambda e: events.append(e["wall_time_s"]))
        report = solved.solver
        plan = solved.plans[0] if solved.plans else None
        assert solved.candidates is not None  # solve keeps the options it made
        cands = solved.candidates  # making them again took 60 s on 20,000 children
        row |= {
            "status": report.status,
            "bound": report.best_bound,
            "build_s": report.build_time_s,
            "first_solution_s": report.first_solution_s,
            "time_to_best_s": events[-1] if events else None,
        }
    row["pairs"] = sum(len(options) for options in cands.options.values())
    row["wall_s"] = round(time.perf_counter() - started, 3)
    row |= run_quality(case, plan, row.get("bound"))
    row["peak_rss_mib"] = peak_rss_mib()
    row["machine_s"] = round((before + reference_seconds()) / 2, 4)  # its speed around the run
    queue.put(row)


def _after(build_s: float, seconds: float | None) -> float | None:
    """A time HiGHS reported from the start of its translation, counted instead from the
    instance in memory (as every solver's times are): the model's build comes first."""
    return None if seconds is None else round(build_s + seconds, 3)


def run_quality(case: Case, plan: Plan | None, bound: float | None) -> dict[str, Any]:
    """Objective, gap to the bound and to the best-known value, in the instance's own units
    (GAP objective for GAP cases)."""
    best_known = None if case.gap is None else case.best_known  # also for a run with no plan
    if plan is None:
        return {
            "objective": None,
            "gap": None,
            "best_known": best_known,
            "gap_to_best_known": None,
            "unplaced": None,
        }
    unplaced = sum(a.action == "unplaced" for a in plan.assignments)
    objective = plan.objective
    gap = None
    if bound is not None:
        gap = round(max(objective - bound, 0.0) / max(abs(objective), 1e-9), 6)
    row: dict[str, Any] = {"objective": objective, "gap": gap, "unplaced": unplaced}
    if case.gap is not None:
        row["objective"] = gap_value(case.gap, objective) if unplaced == 0 else None
        row["bound"] = None if bound is None else gap_value(case.gap, bound)
        row["best_known"] = best_known
        if row["objective"] is not None and case.best_known:
            sign = -1 if case.gap.maximise else 1
            row["gap_to_best_known"] = (
                round(sign * (row["objective"] - case.best_known) / case.best_known, 6) + 0.0
            )
    return row


def run_suite(
    cases: list[Case],
    solvers: list[str],
    time_limit: float,
    gap_folder: Path = GAP_FOLDER,
    on_row: Any = None,
) -> list[dict[str, Any]]:
    """Every case with every solver, rows in the order run."""
    rows = []
    for case in cases:
        for solver in solvers:
            row = run_case(case, solver, time_limit, gap_folder)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows
