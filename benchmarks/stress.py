"""Issue 6 targets: 100 scenarios x 13 block sizes on a ~300-child instance within 10 minutes on
2 cores, and the speed-up from 1 to 2 Dask workers.

    .venv/bin/python benchmarks/stress.py --part local
    .venv/bin/python benchmarks/stress.py --part dask --scenarios 30

``local`` times ``run_stress`` on the local process pool (2 processes), as `stress block` runs it.
``dask`` runs the same job on a ``distributed.LocalCluster`` with 1 worker, then 2 workers (one
thread each, separate processes), reports each wall time and the ratio, and checks the numbers
equal the local pool's.
"""

from __future__ import annotations

import argparse
import json
import time

from distributed import LocalCluster

from matcher.io import read_instance
from matcher.stress.demand import DemandModel
from matcher.stress.options import BlockContract
from matcher.stress.runner import StressJob, run_stress
from matcher.stress.summary import block_advice, option_summary

INSTANCE = "instances/county-300.json"
PROVIDER = "Care group 2"
BLOCK_PRICE = 5025
"""About £210 below the provider's mean spot price (£5,235), as in the Northamptonshire paper."""


def job(sizes: range) -> StressJob:
    demand = DemandModel.from_instance(read_instance(INSTANCE), seed=0)
    return StressJob(demand, tuple(BlockContract(PROVIDER, s, BLOCK_PRICE) for s in sizes))


def on_dask(stress_job: StressJob, scenarios: int, workers: int) -> tuple[float, object]:
    with LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        started = time.perf_counter()
        rows = run_stress(stress_job, scenarios, dask_address=cluster.scheduler_address)
        return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=["local", "dask"], required=True)
    parser.add_argument("--scenarios", type=int, default=100)
    args = parser.parse_args()
    stress_job = job(range(13))
    figures: dict[str, object] = {"instance": INSTANCE, "scenarios": args.scenarios, "sizes": 13}
    started = time.perf_counter()
    local = run_stress(stress_job, args.scenarios, processes=2)
    figures["local_2_processes_s"] = round(time.perf_counter() - started, 1)
    figures["solves"] = len(local)
    figures["not_optimal"] = int((local["status"] != "OPTIMAL").sum())
    if args.part == "local":
        summary = option_summary(local)
        figures["advice"] = block_advice(summary, None)
        figures["mean_weekly_cost_by_size"] = summary["weekly_cost_mean"].tolist()
        figures["occupancy_by_size"] = summary["occupancy_mean"].tolist()
    else:
        one_s, one = on_dask(stress_job, args.scenarios, 1)
        two_s, two = on_dask(stress_job, args.scenarios, 2)
        figures.update(
            {
                "dask_1_worker_s": round(one_s, 1),
                "dask_2_workers_s": round(two_s, 1),
                "speed_up": round(one_s / two_s, 2),
                "same_numbers_as_local": bool(local.equals(one) and local.equals(two)),
            }
        )
    print(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
