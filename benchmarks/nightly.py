"""Issue 5 targets: county import into SQLite, the nightly run end to end, and warm vs cold.

    .venv/bin/python benchmarks/nightly.py instances/county.json --time-limit 40 --explain-time 30

1. Import the instance into a fresh SQLite file (timed).
2. Night 1: the nightly run end to end (load, solve, explain, report; timed), cold.
3. Night 2, twice: with the team's decisions still pending (the state unchanged), then after it
   accepted plan 1. Each time the database is copied and night 2 runs on each copy, once
   warm-started from night 1's plan and once cold, same settings, no explanations. For each, the
   time at which the search first held a plan at least as good as the cold run's final objective
   (from the progress trace). The ratio cold / warm is the speed-up.
Prints the figures recorded in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from matcher.io import read_instance
from matcher.nightly import NightlySettings, nightly
from matcher.solve import SolveSettings
from matcher.store import decide, import_instance, open_database


def traced_night(db: str, settings: NightlySettings) -> tuple[Any, list[tuple[float, float]]]:
    """A nightly run and its (seconds, objective) trace of improving plans (plan 1 only)."""
    trace: list[tuple[float, float]] = []

    def record(event: dict[str, Any]) -> None:
        if event["plan"] == 1:
            trace.append((event["wall_time_s"], event["objective"]))

    return nightly(db, settings, on_progress=record), trace


def time_to_reach(trace: list[tuple[float, float]], target: float) -> float | None:
    """When the trace first held an objective within a pound of ``target`` or better."""
    return next((t for t, objective in trace if objective <= target + 1.0), None)


def warm_against_cold(db: str, work: Path, solve: SolveSettings) -> dict[str, Any]:
    """Night 2 on two copies of ``db``: warm-started and cold, no explanations."""
    work.mkdir()
    warm_db, cold_db = str(work / "warm.db"), str(work / "cold.db")
    shutil.copy(db, warm_db)
    shutil.copy(db, cold_db)
    cold, cold_trace = traced_night(cold_db, NightlySettings(solve, 0, warm_start=False))
    warm, warm_trace = traced_night(warm_db, NightlySettings(solve, 0))
    target = cold.result.solver.objective
    cold_s, warm_s = time_to_reach(cold_trace, target), time_to_reach(warm_trace, target)
    return {
        "cold_objective": target,
        "warm_objective": warm.result.solver.objective,
        "cold_reaches_s": cold_s,
        "warm_reaches_s": warm_s,
        "cold_over_warm": None if not (cold_s and warm_s) else round(cold_s / warm_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("instance")
    parser.add_argument("--time-limit", type=float, default=40.0)
    parser.add_argument("--explain-time", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nightly-bench-"))
    db = str(work / "state.db")
    figures: dict[str, Any] = {"instance": args.instance, "workers": args.workers}

    started = time.perf_counter()
    instance = read_instance(args.instance)
    engine = open_database(db)
    import_instance(engine, instance)
    figures["import_s"] = round(time.perf_counter() - started, 2)

    solve = SolveSettings(time_limit=args.time_limit, workers=args.workers, plans=1)
    started = time.perf_counter()
    first = nightly(db, NightlySettings(solve, args.explain_time, work / "reports"))
    figures["night1_end_to_end_s"] = round(time.perf_counter() - started, 2)
    figures["night1_objective"] = first.result.solver.objective
    figures["night1_gap"] = first.result.solver.gap
    figures["pending"] = warm_against_cold(db, work / "pending", solve)
    accepted = decide(engine, first.run_id, 1, None, "accepted")
    engine.dispose()
    figures["accepted"] = warm_against_cold(db, work / "accepted", solve)
    figures["accepted"]["proposals_accepted"] = len(accepted)
    print(json.dumps(figures, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
