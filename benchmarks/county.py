"""Issue 2 targets on one instance: build time, first feasible, time to proof, peak memory.

    .venv/bin/python benchmarks/county.py instances/county.json --time-limit 60 --workers 2

Each mode runs in its own process so peak memory (ru_maxrss) belongs to that run alone. Prints one
CSV row per mode: the figures recorded in benchmarks/README.md come from this script.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import resource
import sys
import time
from typing import Any

from ortools.sat.python import cp_model

from matcher.cpsat import build_model
from matcher.greedy import greedy_plan
from matcher.io import read_instance
from matcher.plans import make_plan
from matcher.solve import SolveSettings, complete_hint, hint_plan, solve_model
from matcher.units import to_pounds


def measure(path: str, time_limit: float, workers: int, reproducible: bool, queue: Any) -> None:
    started = time.perf_counter()
    instance = read_instance(path)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    pm = build_model(instance)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    greedy = greedy_plan(instance, pm.candidates)
    greedy_objective = make_plan(instance, pm.candidates, greedy, rank=1).objective
    hint_plan(pm, greedy)
    complete_hint(pm, time_limit / 10)
    greedy_s = time.perf_counter() - started
    settings = SolveSettings(time_limit=time_limit, workers=workers, reproducible=reproducible)
    solver, status, first_s = solve_model(pm, settings, time_limit)
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    objective = to_pounds(solver.objective_value) if found else None
    bound = to_pounds(solver.best_objective_bound) if found else None
    gap = None if objective is None else (objective - bound) / max(abs(objective), 1e-9)
    queue.put(
        {
            "instance": path,
            "mode": "reproducible" if reproducible else "fast",
            "workers": workers,
            "children": len(instance.children),
            "placements": len(instance.placements),
            "variables": len(pm.variables.assign),
            "read_s": round(read_s, 2),
            "build_s": round(build_s, 2),
            "greedy_and_hint_s": round(greedy_s, 2),
            "greedy_objective": greedy_objective,
            "first_solution_s": None if first_s is None else round(first_s, 2),
            "solve_s": round(solver.wall_time, 2),
            "status": solver.status_name(status),
            "objective": objective,
            "bound": bound,
            "gap": None if gap is None else round(gap, 6),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("instance")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", default="fast,reproducible")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    writer = None
    for mode in args.modes.split(","):
        queue = context.Queue()
        process = context.Process(
            target=measure,
            args=(args.instance, args.time_limit, args.workers, mode == "reproducible", queue),
        )
        process.start()
        row = queue.get()
        process.join()
        if writer is None:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(row))
            writer.writeheader()
        writer.writerow(row)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
