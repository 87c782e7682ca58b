"""Issue 2 targets on one instance: build time, first feasible, time to proof, peak memory.

    .venv/bin/python benchmarks/county.py instances/county.json --time-limit 60 --workers 2

Each mode runs in its own process so peak memory (ru_maxrss) belongs to that run alone. Prints one
CSV row per mode: the figures recorded in benchmarks/README.md come from this script.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import sys
import time
from typing import Any

from matcher.cpsat import build_model
from matcher.greedy import greedy_plan
from matcher.io import read_instance
from matcher.plans import make_plan
from matcher.resources import peak_rss_mib
from matcher.solve import SolveSettings, solve


def measure(path: str, time_limit: float, workers: int, reproducible: bool, queue: Any) -> None:
    started = time.perf_counter()
    instance = read_instance(path)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    pm = build_model(instance)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    greedy = greedy_plan(instance, pm.candidates)
    greedy_s = time.perf_counter() - started
    greedy_objective = make_plan(instance, pm.candidates, greedy, rank=1).objective
    del pm
    settings = SolveSettings(
        time_limit=time_limit, workers=workers, plans=1, reproducible=reproducible
    )
    report = solve(instance, settings).solver
    queue.put(
        {
            "instance": path,
            "mode": report.mode,
            "workers": workers,
            "children": len(instance.children),
            "placements": len(instance.placements),
            "pairs": report.assignment_variables,
            "read_s": round(read_s, 2),
            "whole_model_build_s": round(build_s, 2),
            "greedy_s": round(greedy_s, 2),
            "greedy_objective": greedy_objective,
            "prepare_s": round(report.build_time_s, 2),
            "first_solution_s": report.first_solution_s,
            "wall_s": report.wall_time_s,
            "status": report.status,
            "shortlist_optimal": report.shortlist_optimal,
            "objective": report.objective,
            "bound": report.best_bound,
            "gap": report.gap,
            "peak_rss_mib": peak_rss_mib(),
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
