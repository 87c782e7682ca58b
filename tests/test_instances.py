"""Known answers: the hand-solved tiny instance and the shared examples an exact solver proved."""

from __future__ import annotations

from pathlib import Path

import pytest

from matcher.io import read_instance
from matcher.solve import SolveSettings, solve
from matcher.verify import check_result

ROOT = Path(__file__).resolve().parents[1]
FAST = SolveSettings(time_limit=30, workers=2, plans=1, reproducible=False)


def test_tiny_reaches_the_hand_worked_optimum() -> None:
    data = read_instance(ROOT / "instances" / "tiny.json")
    result = solve(data, FAST)
    assert result.solver.status == "OPTIMAL"
    plan = result.plans[0]
    assert plan.objective == 6700
    assert {a.child: a.placement for a in plan.assignments} == {
        "A": "FC1",
        "B": "FC2",
        "C": "RH1",
        "D": "FC2",
    }
    assert plan.terms["placement_cost"] == 6000
    assert plan.terms["distance"] == 450
    assert plan.terms["out_of_area"] == 250


@pytest.mark.parametrize(
    ("name", "optimum"),
    [("example-county-24.json", 97688.55), ("example-tight-30.json", 301147.27)],
)
def test_shared_examples_reach_their_proven_optimum(
    shared_examples: Path, name: str, optimum: float
) -> None:
    data = read_instance(shared_examples / name)
    result = solve(data, FAST)
    assert result.solver.status == "OPTIMAL"
    tolerance = len(data.children)
    assert abs(result.plans[0].objective - optimum) <= tolerance
    assert result.plans[0].objective >= optimum - tolerance
    assert check_result(data, result.to_dict()) == []


def test_ranked_plans_differ_and_are_ordered() -> None:
    data = read_instance(ROOT / "instances" / "small.json")
    result = solve(
        data, SolveSettings(time_limit=30, plans=3, min_difference=2, reproducible=False)
    )
    assert len(result.plans) == 3
    objectives = [plan.objective for plan in result.plans]
    assert objectives == sorted(objectives)
    outcomes = [plan.outcomes() for plan in result.plans]
    for later in range(1, 3):
        for earlier in range(later):
            differing = sum(
                outcomes[later][c].placement != outcomes[earlier][c].placement for c in outcomes[0]
            )
            assert differing >= 2
    assert result.plans[1].changes_from_best
    assert check_result(data, result.to_dict()) == []


def test_same_seed_and_workers_give_the_same_plans() -> None:
    data = read_instance(ROOT / "instances" / "small.json")
    settings = SolveSettings(time_limit=20, workers=2, seed=3, plans=2, reproducible=True)
    first, second = solve(data, settings), solve(data, settings)
    assert [p.to_dict() for p in first.plans] == [p.to_dict() for p in second.plans]


def test_auto_mode_is_reproducible() -> None:
    from matcher.console import MODES

    assert SolveSettings().reproducible is True
    assert MODES["auto"] is True
    result = solve(read_instance(ROOT / "instances" / "tiny.json"), SolveSettings(plans=1))
    assert result.solver.mode == "reproducible"


@pytest.mark.parametrize("name", ["small.json", "tight-small.json", "tiny.json"])
def test_greedy_plan_is_valid_and_no_better_than_the_optimum(name: str) -> None:
    from matcher.eligibility import candidates
    from matcher.greedy import greedy_plan
    from matcher.plans import make_plan
    from matcher.verify import check_plan

    data = read_instance(ROOT / "instances" / name)
    cands = candidates(data)
    greedy = make_plan(data, cands, greedy_plan(data, cands), rank=1)
    assert check_plan(data, greedy.to_dict()) == []
    optimum = solve(data, FAST).plans[0]
    assert optimum.objective <= greedy.objective + len(data.children)
