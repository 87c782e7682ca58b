"""Solving every (option, scenario) pair: on a local process pool, or on a Dask cluster.

Each pair is one task: draw the scenario, apply the option, solve it to optimality (or the
per-solve limit) on one CP-SAT worker in reproducible mode, and return one row of figures. The
tasks are independent and deterministic, so the local pool and a Dask cluster give the same
numbers, in any order of completion.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import pandas as pd

from matcher.exceptions import MatcherError
from matcher.solve import SolveSettings, solve
from matcher.stress.demand import DemandModel
from matcher.stress.options import BlockContract, Option

ROW_COLUMNS = [
    "option",
    "size",
    "scenario",
    "referrals",
    "status",
    "weekly_cost",
    "block_fixed",
    "objective",
    "placed",
    "unplaced",
    "out_of_area",
    "block_beds",
    "block_used",
]


@dataclass(frozen=True)
class StressJob:
    """Everything a task needs: the demand model, the options, and how to solve."""

    demand: DemandModel
    options: tuple[Option, ...]
    time_limit: float = 10.0
    """Seconds per solve (deterministic time: reproducible on any machine)."""

    def settings(self) -> SolveSettings:
        return SolveSettings(time_limit=self.time_limit, workers=1, plans=1, reproducible=True)


def run_task(job: StressJob, option: int, scenario: int) -> dict[str, Any]:
    """Solve scenario ``scenario`` under option ``option``; one row of ``ROW_COLUMNS``."""
    chosen = job.options[option]
    instance = chosen.apply(job.demand.scenario(scenario))
    result = solve(instance, job.settings())
    referrals = sum(c.status == "new" for c in instance.children)
    blocked = {
        p.id: p.block_beds
        for p in instance.placements
        if not isinstance(chosen, BlockContract) or p.provider == chosen.provider
    }
    row: dict[str, Any] = {
        "option": chosen.label,
        "size": chosen.size if isinstance(chosen, BlockContract) else None,
        "scenario": scenario,
        "referrals": referrals,
        "status": result.solver.status,
        "block_fixed": instance.block_fixed_cost,
        "block_beds": sum(blocked.values()),
    }
    if not result.plans:
        return {**row, "weekly_cost": None, "objective": None, "placed": None}
    plan = result.plans[0]
    places = instance.placement_by_id
    at: dict[str, int] = {}
    for a in plan.assignments:
        if a.placement in places:
            at[a.placement] = at.get(a.placement, 0) + 1
    return {
        **row,
        "weekly_cost": plan.weekly_cost,
        "objective": plan.objective,
        "placed": sum(at.values()),
        "unplaced": sum(a.action == "unplaced" for a in plan.assignments),
        "out_of_area": sum(n for pid, n in at.items() if not places[pid].in_area),
        "block_used": sum(min(n, blocked.get(pid, 0)) for pid, n in at.items()),
    }


_process_job: StressJob | None = None
"""The job a pool process was started with (sent once, not with every task)."""


def _start_process(job: StressJob) -> None:
    global _process_job
    _process_job = job


def _process_task(option: int, scenario: int) -> dict[str, Any]:
    assert _process_job is not None
    return run_task(_process_job, option, scenario)


def _local(job: StressJob, tasks: list[tuple[int, int]], processes: int) -> Iterator[dict]:
    if processes == 1:
        for option, scenario in tasks:
            yield run_task(job, option, scenario)
        return
    with ProcessPoolExecutor(processes, initializer=_start_process, initargs=(job,)) as pool:
        futures = [pool.submit(_process_task, o, s) for o, s in tasks]
        for future in as_completed(futures):
            yield future.result()


def _dask(job: StressJob, tasks: list[tuple[int, int]], address: str) -> Iterator[dict]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:  # pragma: no cover - distributed is a core dependency
        raise MatcherError("--dask needs the 'distributed' package") from None
    try:
        client = Client(address, timeout=30)
    except OSError as error:
        raise MatcherError(f"--dask {address}: cannot reach the scheduler ({error})") from None
    with client:
        shared = client.scatter(job, broadcast=True)
        futures = client.map(
            run_task,
            [shared] * len(tasks),
            [o for o, _ in tasks],
            [s for _, s in tasks],
            pure=False,
        )
        for future in dask_completed(futures):
            yield future.result()


def run_stress(
    job: StressJob,
    scenarios: int,
    *,
    processes: int | None = None,
    dask_address: str | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Every option on scenarios 0..``scenarios``-1; one row per pair, sorted by option and
    scenario. ``on_done(done, total)`` after each task (a progress bar)."""
    tasks = [(o, s) for o in range(len(job.options)) for s in range(scenarios)]
    if dask_address is not None:
        rows = _dask(job, tasks, dask_address)
    else:
        rows = _local(job, tasks, processes or os.cpu_count() or 1)
    collected = []
    for row in rows:
        collected.append(row)
        if on_done is not None:
            on_done(len(collected), len(tasks))
    order = {option.label: k for k, option in enumerate(job.options)}
    frame = pd.DataFrame(collected, columns=ROW_COLUMNS)
    frame["_order"] = frame["option"].map(order)
    frame = frame.sort_values(["_order", "scenario"]).drop(columns="_order")
    return frame.reset_index(drop=True)
