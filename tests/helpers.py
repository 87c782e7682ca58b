"""Small builders for hand-made test instances: only the fields a test cares about."""

from __future__ import annotations

from typing import Any

from ortools.sat.python import cp_model

from matcher.bench.gap import GapProblem, gap_instance
from matcher.cpsat import FAMILY_NAMES, PlacementModel, build_model
from matcher.instance import Instance
from matcher.plans import Outcome, Plan, make_plan
from matcher.search import read_outcomes

HERE = {"lat": 52.6, "lon": -1.2}


def child(cid: str, age: int = 12, status: str = "new", **fields: Any) -> dict[str, Any]:
    return {"id": cid, "age": age, "sex": "F", "location": HERE, "status": status, **fields}


def place(pid: str, capacity: int = 1, cost: int = 500, **fields: Any) -> dict[str, Any]:
    record = {
        "id": pid,
        "provider": "test",
        "type": "foster",
        "sector": "in_house",
        "location": HERE,
        "in_area": True,
        "capacity": capacity,
        "weekly_cost": cost,
    }
    record.update(fields)
    return record


def team(tid: str, capacity: int = 5, **fields: Any) -> dict[str, Any]:
    record = {
        "id": tid,
        "location": HERE,
        "radius_km": 10,
        "capacity": capacity,
        "weekly_cost": 660,
    }
    record.update(fields)
    return record


def instance(
    children: list[dict[str, Any]], placements: list[dict[str, Any]], **sections: Any
) -> Instance:
    document = {
        "meta": {"name": "test", "as_of": "2026-11-26"},
        "children": children,
        "placements": placements,
        **sections,
    }
    return Instance.model_validate(document)


def staffed(costs: list[list[int]], units: list[list[int]], staff: list[int]) -> Instance:
    """A GAP-like instance: agents A0.. (placements limited by staff), jobs J0.. (children)."""
    return gap_instance(GapProblem("staffed", costs, units, staff, maximise=False))


def _optimum(
    data: Instance, families: tuple[str, ...], workers: int, seconds: float
) -> tuple[PlacementModel, dict[str, Outcome] | None]:
    """The whole model with ``families`` and its proven optimum's outcomes (None if not
    proven within ``seconds``)."""
    pm = build_model(data, families=families)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    solver.parameters.max_time_in_seconds = seconds
    if solver.solve(pm.model) != cp_model.OPTIMAL:
        return pm, None
    return pm, read_outcomes(pm, list(solver.response_proto.solution))


def best_plan(data: Instance, families: tuple[str, ...] = FAMILY_NAMES) -> Plan | None:
    """The optimal plan of a tiny instance with the given constraint families (one worker)."""
    pm, outcomes = _optimum(data, families, workers=1, seconds=20)
    return None if outcomes is None else make_plan(data, pm.candidates, outcomes, rank=1)


def best_outcomes(data: Instance, seconds: float = 60) -> dict[str, Outcome]:
    """The outcomes of a proven optimum of ``data`` (whole model, two workers)."""
    _, outcomes = _optimum(data, FAMILY_NAMES, workers=2, seconds=seconds)
    assert outcomes is not None
    return outcomes
