"""The public generalized assignment (GAP) instances as placement instances.

Mapping (the README of ``../shared/benchmarks/gap`` describes the files):

- agent i -> placement ``A{i}``: beds for every job (``min(n, 1000)``), no fee, and
  ``staff_capacity = b[i]``;
- job j -> child ``J{j}``, new, eligible everywhere, using ``a[i][j]`` staff units at ``A{i}``
  (``staffing_at``);
- the cost of job j at agent i is the child's distance to the placement (``distances`` overrides,
  ``distance_per_km = 1``): c[i][j] for minimisation, ``max(c) - c[i][j]`` for the maximisation
  problems gap1-gap12, so that minimising the plan's total maximises the profit;
- every job must be assigned: the unplaced penalty exceeds any complete assignment's cost.

``gap_value`` turns a plan's objective back into the GAP objective.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from matcher.exceptions import InvalidInstanceError, Problem
from matcher.instance import Instance
from matcher.io import instance_from_dict

MAX_BEDS = 1000
"""The contract's largest capacity; no GAP agent takes this many jobs."""


@dataclass(frozen=True)
class GapProblem:
    """One GAP instance as read: costs and resource use per agent and job, capacities."""

    name: str
    costs: list[list[int]]
    resources: list[list[int]]
    capacities: list[int]
    maximise: bool

    @property
    def agents(self) -> int:
        return len(self.capacities)

    @property
    def jobs(self) -> int:
        return len(self.costs[0])

    @property
    def top(self) -> int:
        """The largest cost: profits become costs ``top - c`` when maximising."""
        return max(max(row) for row in self.costs)


def read_gap(path: Path, maximise: bool) -> GapProblem:
    """One OR-Library GAP problem (a file holding one, or the first of several)."""
    try:
        numbers = [int(token) for token in path.read_text().split()]
    except (OSError, ValueError) as error:
        raise InvalidInstanceError(
            [Problem(str(path), "", "", f"not a GAP file: {error}")]
        ) from None
    m, n = numbers[0], numbers[1]
    if len(numbers) != 2 + 2 * m * n + m:
        numbers = numbers[1:]  # an OR-Library file with several problems: take the first
        m, n = numbers[0], numbers[1]
    if len(numbers) < 2 + 2 * m * n + m:
        raise InvalidInstanceError([Problem(str(path), "", "", "truncated GAP file")])
    body = numbers[2:]
    costs = [body[i * n : (i + 1) * n] for i in range(m)]
    resources = [body[m * n + i * n : m * n + (i + 1) * n] for i in range(m)]
    capacities = body[2 * m * n : 2 * m * n + m]
    return GapProblem(path.name, costs, resources, capacities, maximise)


def gap_instance(problem: GapProblem) -> Instance:
    """The placement instance of a GAP problem (see the module docstring)."""
    here = {"lat": 52.0, "lon": -1.0}
    placements = [
        {
            "id": f"A{i}",
            "provider": "gap",
            "type": "foster",
            "sector": "in_house",
            "location": here,
            "in_area": True,
            "capacity": min(problem.jobs, MAX_BEDS),
            "weekly_cost": 0,
            "staff_capacity": problem.capacities[i],
        }
        for i in range(problem.agents)
    ]
    children = [
        {
            "id": f"J{j}",
            "age": 10,
            "sex": "F",
            "location": here,
            "status": "new",
            "staffing_at": {f"A{i}": problem.resources[i][j] for i in range(problem.agents)},
        }
        for j in range(problem.jobs)
    ]
    distances = [
        {"child": f"J{j}", "placement": f"A{i}", "km": _cost(problem, i, j)}
        for i in range(problem.agents)
        for j in range(problem.jobs)
    ]
    worst = sum(
        max(_cost(problem, i, j) for i in range(problem.agents)) for j in range(problem.jobs)
    )
    document = {
        "meta": {"name": f"gap-{problem.name}", "as_of": "2026-01-01"},
        "policy": {
            "weights": {"distance_per_km": 1, "out_of_area": 0, "unplaced": worst + 1},
        },
        "children": children,
        "placements": placements,
        "distances": distances,
    }
    return instance_from_dict(document, problem.name)


def _cost(problem: GapProblem, agent: int, job: int) -> int:
    cost = problem.costs[agent][job]
    return problem.top - cost if problem.maximise else cost


def gap_value(problem: GapProblem, plan_objective: float) -> float:
    """The GAP objective of a plan whose every job is placed."""
    if problem.maximise:
        return problem.jobs * problem.top - plan_objective
    return plan_objective


@dataclass(frozen=True)
class BestKnown:
    """A published value (``best_known.csv``) and whether it is a proven optimum."""

    value: int
    proven: bool
    maximise: bool


def best_known(folder: Path) -> dict[str, BestKnown]:
    """Best-known values by instance name: the published maximisation optima for gap1-gap12,
    minimisation for types A-E (as the folder's README explains)."""
    table: dict[str, BestKnown] = {}
    with (folder / "best_known.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            maximise = row["objective_sense"] == "max"
            if row["instance"].startswith("gap") != maximise:
                continue
            table[row["instance"]] = BestKnown(
                int(row["best_known"]), row["proven_optimal"] == "true", maximise
            )
    return table


def gap_files(folder: Path) -> dict[str, Path]:
    """Every GAP instance file under ``folder`` by name."""
    return {
        path.name: path
        for sub in ("cattrysse1994", "chu1997", "yagiura2004")
        for path in sorted((folder / sub).glob("*"))
        if path.is_file()
    }
