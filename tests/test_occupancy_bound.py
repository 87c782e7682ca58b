"""The occupancy bound: each placement may take only children who could live there together.

Known answers where the bed relaxation is loose because of a household rule, and a bound that
never exceeds the shipped instances' proven optima (the property tests check random ones).
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
from helpers import best_plan, child, instance, place

from matcher import occupancy_bound as occupancy_module
from matcher.bounds import capacity_bound
from matcher.eligibility import Candidates, candidates
from matcher.greedy import greedy_plan
from matcher.instance import Instance
from matcher.io import read_instance
from matcher.master_plan import master_plan
from matcher.occupancy_bound import (
    BoundBeside,
    Heard,
    Household,
    PlanFromHouseholds,
    beside_possible,
    occupancy_bound,
)
from matcher.plans import HOME, make_plan

ROOT = Path(__file__).resolve().parents[1]
KNOWN_OPTIMA = {"tiny.json": 6700.0, "small.json": 139518.48, "tight-small.json": 772816.72}
HSB = {"harmful_sexual_behaviour": 1}


def _bounds(data: Instance, rounds: int = 50) -> tuple[int, int]:
    """The bed bound and the occupancy bound (pence)."""
    cands = candidates(data)
    beds = capacity_bound(data, cands)
    return beds.bound, occupancy_bound(data, cands, beds, rounds).bound


def _optimum_pence(data: Instance) -> int:
    plan = best_plan(data)
    assert plan is not None
    return round(plan.objective * 100)


@pytest.mark.parametrize(
    ("name", "children", "placements", "sections"),
    [
        (
            "harmful sexual behaviour: the older child may not share the cheap pair of beds",
            [child("A", age=15, needs=HSB), child("B", age=10)],
            [place("CHEAP", capacity=2, cost=100, meets=HSB), place("DEAR", cost=900, meets=HSB)],
            {},
        ),
        (
            "sole occupancy",
            [child("A", requires_sole=True), child("B")],
            [place("CHEAP", capacity=2, cost=100), place("DEAR", cost=900)],
            {},
        ),
        (
            "a conflict pair",
            [child("A"), child("B")],
            [place("CHEAP", capacity=2, cost=100), place("DEAR", cost=900)],
            {"conflicts": [{"a": "A", "b": "B"}]},
        ),
        (
            "a required sibling group split between two homes that could each take it",
            [
                child("A", sibling_group="G"),
                child("B", sibling_group="G"),
                child("X", allowed_types=["foster"]),
            ],
            [
                place("CHEAP", capacity=2, cost=100),
                place("DEAR", capacity=2, cost=900, type="residential"),
            ],
            {"sibling_groups": [{"id": "G", "together": "required"}]},
        ),
        (
            "at most one child with a high need per home",
            [child("A", needs={"aggression": 3}), child("B", needs={"aggression": 3})],
            [
                place("CHEAP", capacity=2, cost=100, meets={"aggression": 3}),
                place("DEAR", cost=900, meets={"aggression": 3}),
            ],
            {
                "policy": {
                    "rules": {
                        "max_per_placement": [{"need": "aggression", "min_level": 3, "max": 1}]
                    }
                }
            },
        ),
    ],
)
def test_the_bound_holds_the_household_rule_the_bed_bound_drops(
    name: str, children: list, placements: list, sections: dict
) -> None:
    data = instance(children, placements, **sections)
    optimum = _optimum_pence(data)
    beds, occupancy = _bounds(data)
    assert beds < optimum, name  # the bed relaxation lets both share the cheap place
    assert occupancy == optimum, name


def test_the_bound_prices_moves_within_max_moves() -> None:
    """Two settled children at £900 homes, two £100 places: one move allowed. Unpriced, the
    relaxation moves both (£800 below the optimum); a price on moves reaches the optimum."""
    settled = {"status": "settled"}
    data = instance(
        [
            child("S1", current_placement="H1", **settled),
            child("S2", current_placement="H2", **settled),
        ],
        [
            place("H1", cost=900),
            place("H2", cost=900),
            place("C1", cost=100),
            place("C2", cost=100),
        ],
        policy={"weights": {"move_settled": 300}, "max_moves": 1},
    )
    optimum = _optimum_pence(data)
    beds, occupancy = _bounds(data)
    assert beds == optimum - 50000
    assert occupancy == optimum


def test_residents_count_for_the_rules() -> None:
    """A resident aged 8 in the cheap home: the child with harmful sexual behaviour may not
    join, so it goes to the dear place; the bed bound sends it to the cheap one."""
    resident = [{"age": 8, "sex": "M", "needs": {}}]
    data = instance(
        [child("A", age=15, needs=HSB)],
        [
            place("CHEAP", capacity=2, cost=100, residents=resident, meets=HSB),
            place("DEAR", cost=900, meets=HSB),
        ],
    )
    beds, occupancy = _bounds(data)
    assert beds < _optimum_pence(data) == occupancy


@pytest.mark.parametrize("name", sorted(KNOWN_OPTIMA))
def test_the_bound_never_exceeds_a_proven_optimum(name: str) -> None:
    data = read_instance(ROOT / "instances" / name)
    cands = candidates(data)
    beds = capacity_bound(data, cands, target=KNOWN_OPTIMA[name] * 100)
    result = occupancy_bound(data, cands, beds, rounds=100, plan=greedy_plan(data, cands))
    assert beds.bound <= result.bound <= KNOWN_OPTIMA[name] * 100


def test_a_stop_request_ends_the_rounds_with_a_valid_bound() -> None:
    data = read_instance(ROOT / "instances" / "small.json")
    cands = candidates(data)
    beds = capacity_bound(data, cands)
    result = occupancy_bound(data, cands, beds, rounds=100, stop=lambda: True)
    assert result.rounds == 0 and not result.converged
    assert beds.bound <= result.bound <= KNOWN_OPTIMA["small.json"] * 100


def test_searches_cut_at_the_node_limit_keep_the_bound_valid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a one-node limit the fractional value stands in for most placements' best set."""
    monkeypatch.setattr(occupancy_module, "NODE_LIMIT", 1)
    data = read_instance(ROOT / "instances" / "tight-small.json")
    cands = candidates(data)
    beds = capacity_bound(data, cands)
    result = occupancy_bound(data, cands, beds, rounds=30, plan=greedy_plan(data, cands))
    assert result.searches_cut > 0
    assert beds.bound <= result.bound <= KNOWN_OPTIMA["tight-small.json"] * 100


def _plan_from(data: Instance, cands: Candidates) -> PlanFromHouseholds:
    """The plan from the households alone, never a proof."""
    return lambda households, converged: master_plan(data, cands, households)


def _hear(heard: list[tuple[Household, ...]]) -> Heard:
    return lambda households, converged: heard.append(households)


def test_the_bound_beside_reaches_what_it_reaches_in_line() -> None:
    """Run in a process of its own, the bound converges to the same value, and is sent back,
    with the same plan from the households after the same number of rounds (5, before
    convergence, or when the rounds end)."""
    data = read_instance(ROOT / "instances" / "tight-small.json")
    cands = candidates(data)
    beds = capacity_bound(data, cands)
    plan = greedy_plan(data, cands)
    plan_from = _plan_from(data, cands)
    for plan_at in (5, None):
        heard: list[tuple[Household, ...]] = []
        in_line = occupancy_bound(
            data, cands, beds, 200, plan, households=_hear(heard), households_at=plan_at
        )
        assert in_line.converged and in_line.bound > beds.bound and len(heard) == 1
        beside = BoundBeside(data, cands, beds, 200, plan, 60, plan_from, plan_at)
        assert beside.plan(seconds=60) == (True, plan_from(heard[0], None))
        assert beside.result(seconds=60) == in_line.bound
    assert in_line.rounds > 5


def test_a_stop_request_ends_the_wait_for_the_plan() -> None:
    """Ctrl-C while neighbourhood search waits for the plan from the households: the wait ends
    at once, without it."""
    data = read_instance(ROOT / "instances" / "tight-small.json")
    cands = candidates(data)
    beds = capacity_bound(data, cands)
    plan_from = _plan_from(data, cands)
    beside = BoundBeside(data, cands, beds, 200, greedy_plan(data, cands), 60, plan_from)
    began = time.monotonic()
    assert beside.plan(60, stop=lambda: True) == (False, None)
    assert time.monotonic() - began < 5
    assert beside.result(seconds=0) >= beds.bound


def test_no_plan_from_households_the_clock_stopped() -> None:
    """Rounds cut short by the process's deadline give the bound so far but no plan."""
    data = read_instance(ROOT / "instances" / "tight-small.json")
    cands = candidates(data)
    beds = capacity_bound(data, cands)
    plan_from = _plan_from(data, cands)
    beside = BoundBeside(data, cands, beds, 200, greedy_plan(data, cands), 0.0, plan_from)
    assert beside.plan(seconds=60) == (False, None)
    assert beside.result(seconds=0) >= beds.bound


@pytest.mark.parametrize("deadline", ["caller", "process"])
def test_the_bound_beside_stops_when_told_with_a_valid_bound(deadline: str) -> None:
    """Stopped at once, by the caller's wait or by its own deadline, it reports at least the bed
    bound and never more than the optimum, and its process is gone."""
    data = read_instance(ROOT / "instances" / "small.json")
    cands = candidates(data)
    beds = capacity_bound(data, cands)
    own, wait = (60.0, 0.0) if deadline == "caller" else (0.0, 60.0)
    beside = BoundBeside(data, cands, beds, 200, greedy_plan(data, cands), seconds=own)
    assert beds.bound <= beside.result(seconds=wait) <= KNOWN_OPTIMA["small.json"] * 100
    assert not beside._process.is_alive()


def _in_a_pool_worker() -> bool:
    return beside_possible()


def test_the_bound_is_not_run_beside_from_a_daemon_process() -> None:
    """A multiprocessing pool's workers (like other daemons) may not start processes: ``solve``
    then makes the bound in line."""
    assert beside_possible()
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_in_a_pool_worker) is False


def test_the_bound_prices_the_weekly_budget() -> None:
    """Two £600 places for two children, a £600 budget: one child must stay unplaced. The bed
    bound places both; a price on weekly money reaches the optimum."""
    data = instance(
        [child("A"), child("B")],
        [place("P1", cost=600), place("P2", cost=600)],
        policy={"weekly_budget": 600},
    )
    optimum = _optimum_pence(data)
    beds, occupancy = _bounds(data)
    assert beds < optimum
    assert occupancy == optimum


@pytest.mark.parametrize("name", ["tight-small.json", "county-300.json"])
def test_a_plans_money_in_the_relaxation_is_its_marginal_weekly_cost(name: str) -> None:
    """The weekly money the relaxation counts for a plan's households and home outcomes (fees,
    fees beyond block beds, uplifts, each outreach fee at the cheapest team that could go) is
    the plan's marginal weekly cost, less what dearer teams add: never more."""
    data = read_instance(ROOT / "instances" / name)
    budget = {"weekly_budget": 10**9}  # the money is counted only under a budget
    data = data.model_copy(update={"policy": data.policy.model_copy(update=budget)})
    cands = candidates(data)
    plan = make_plan(data, cands, greedy_plan(data, cands), rank=1)
    relaxation = occupancy_module.Relaxation(data, cands)
    pricing = occupancy_module._Pricing(data, relaxation)
    outcomes = plan.outcomes()
    sets = occupancy_module._plan_sets(data, relaxation, outcomes)
    spent = sum(pricing.spent(p, chosen) for p, chosen in sets)
    index = {c.id: k for k, c in enumerate(data.children)}
    home = [index[c] for c, o in outcomes.items() if o.placement == HOME]
    spent += float(relaxation.home_fee[home].sum())
    teams = [o.team for o in outcomes.values() if o.team is not None]
    fees = sum(data.team_by_id[t].weekly_cost for t in teams)
    cheapest = len(teams) * min((t.weekly_cost for t in data.outreach_teams), default=0)
    assert spent > 0
    assert (plan.marginal_weekly_cost - fees + cheapest) * 100 <= spent
    assert spent <= plan.marginal_weekly_cost * 100
