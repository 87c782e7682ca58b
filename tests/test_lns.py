"""Neighbourhood search (``matcher.lns``): every step keeps the plan valid, the objective it
tracks is the plan's own, runs repeat, and a neighbourhood holding everyone reaches the optimum."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from helpers import best_outcomes, child, instance, place, team
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import small_instances

import matcher.lns as lns
from matcher.bench.gap import GapProblem, gap_instance
from matcher.eligibility import candidates
from matcher.greedy import greedy_plan
from matcher.instance import Instance
from matcher.io import read_instance
from matcher.neighbourhood import Room, neighbourhood, room
from matcher.plans import Outcome, make_plan
from matcher.solve import SolveSettings
from matcher.verify import check_plan

ROOT = Path(__file__).resolve().parents[1]


def _run(
    data: Instance, seconds: float = 5.0, parallel: int = 1, **changes: Any
) -> tuple[Any, lns.Improved]:
    cands = candidates(data)
    start = greedy_plan(data, cands)
    run_settings = SolveSettings(time_limit=seconds, workers=1, reproducible=True, **changes)
    return start, lns.improve(data, cands, start, run_settings, seconds, parallel=parallel)


def test_a_neighbourhood_holding_everyone_reaches_the_known_optimum() -> None:
    """small.json has 60 children, fewer than a neighbourhood: one step solves it whole."""
    data = read_instance(ROOT / "instances" / "small.json")
    start, improved = _run(data)
    cands = candidates(data)
    assert make_plan(data, cands, start, rank=1).objective > 139518.48 + 1
    plan = make_plan(data, cands, improved.outcomes, rank=1)
    assert plan.objective == pytest.approx(139518.48, abs=1)
    assert improved.objective == pytest.approx(plan.objective, abs=0.05)
    assert check_plan(data, plan.to_dict()) == []


@pytest.mark.parametrize("parallel", [1, 2])
def test_small_neighbourhoods_improve_step_by_step_and_repeat(
    monkeypatch: pytest.MonkeyPatch, parallel: int
) -> None:
    """One neighbourhood at a time, or two solved at once: the same seed gives the same plan."""
    monkeypatch.setattr(lns, "NEIGHBOURHOOD_CHILDREN", 8)
    monkeypatch.setattr(lns, "SUB_SOLVE_DETERMINISTIC", 0.1)
    data = read_instance(ROOT / "instances" / "tight-small.json")
    start, first = _run(data, seconds=3.0, parallel=parallel)
    _, second = _run(data, seconds=3.0, parallel=parallel)
    assert first.steps > 1 and first.improvements >= 1
    assert first.outcomes == second.outcomes
    cands = candidates(data)
    plan = make_plan(data, cands, first.outcomes, rank=1)
    assert plan.objective < make_plan(data, cands, start, rank=1).objective
    assert first.objective == pytest.approx(plan.objective, abs=0.05)
    assert check_plan(data, plan.to_dict()) == []
    # the plans it moved on from are valid, dearer, latest (cheapest) first
    passed = [make_plan(data, cands, p, rank=1) for p in first.passed]
    assert passed and all(check_plan(data, p.to_dict()) == [] for p in passed)
    assert [p.objective for p in passed] == sorted(p.objective for p in passed)
    assert passed[0].objective > plan.objective


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances(), st.sampled_from([1, 2]))
def test_every_step_keeps_the_plan_valid(data: Instance, parallel: int) -> None:
    """Also with two neighbourhoods solved at once, whose plans must fit together."""
    cands = candidates(data)
    start = greedy_plan(data, cands)
    begun = make_plan(data, cands, start, rank=1)
    if check_plan(data, begun.to_dict()):
        return  # the greedy plan may break the move limit; search starts from valid plans only
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lns, "NEIGHBOURHOOD_CHILDREN", 2)
        patch.setattr(lns, "SUB_SOLVE_S", 0.1)
        patch.setattr(lns, "SUB_SOLVE_DETERMINISTIC", 0.1)
        improved = lns.improve(data, cands, start, SolveSettings(workers=1), 0.5, parallel=parallel)
    plan = make_plan(data, cands, improved.outcomes, rank=1)
    assert check_plan(data, plan.to_dict()) == []
    assert plan.objective <= begun.objective + 0.01
    assert improved.objective == pytest.approx(plan.objective, abs=0.05)


def test_neighbourhoods_solved_at_once_share_the_room_in_shared_limits() -> None:
    """The plan leaves 3 team slots, 3 moves and £5 a week; two neighbourhoods solved at once
    get 2 and 1, 2 and 1, £3 and £2 of them, beside what their own children use now."""
    settled = {"status": "settled"}
    data = instance(
        [child("A", current_placement="P1", **settled), child("B", current_placement="P2")],
        [place("P1", cost=100), place("P2", cost=200), place("P3", cost=50)],
        outreach_teams=[team("T", capacity=3)],
        policy={"max_moves": 3, "weekly_budget": 305},
    )
    cands = candidates(data)
    plan = {"A": Outcome("P1"), "B": Outcome("P2")}
    whole = room(data, plan, 300)
    assert whole == Room({"T": 3}, 3, 5)
    parts = whole.shares(2)
    assert parts == [Room({"T": 2}, 2, 3), Room({"T": 1}, 1, 2)]
    hood = neighbourhood(data, cands, plan, {"A"}, 300, share=(whole, parts[1]))
    assert [t.capacity for t in hood.instance.outreach_teams] == [1]
    assert hood.instance.policy.max_moves == 1
    assert hood.instance.policy.weekly_budget == 100 + 2
    alone = neighbourhood(data, cands, plan, {"A"}, 300)
    assert [t.capacity for t in alone.instance.outreach_teams] == [3]
    assert (alone.instance.policy.max_moves, alone.instance.policy.weekly_budget) == (3, 105)


def test_a_plan_found_beside_another_is_kept_only_if_it_still_fits() -> None:
    """A and B were each solved into the one free cheap bed at once; once A's plan took it, B's
    no longer fits the plan and is not kept."""
    data = instance(
        [child("A", priority=2), child("B")],
        [place("CHEAP", cost=100), place("X", cost=900), place("Y", cost=900)],
    )
    cands = candidates(data)
    plan = {"A": Outcome("X"), "B": Outcome("Y")}
    moved_to = {"B": Outcome("CHEAP")}
    hood = neighbourhood(data, cands, plan, {"B"}, 1800)
    assert lns._better(hood, moved_to, checked=False) is not None
    after = neighbourhood(data, cands, plan | {"A": Outcome("CHEAP")}, {"B"}, 1000)
    assert lns._better(after, moved_to, checked=True) is None


def test_a_plan_found_beside_another_is_kept_only_if_the_household_rules_still_hold() -> None:
    """The two-bed home has room for both, but once A (harmful sexual behaviour) moved in,
    younger B may not join A there: B's plan, found before, is not kept."""
    data = instance(
        [child("A", age=14, needs={"harmful_sexual_behaviour": 1}), child("B", age=10)],
        [place("HOME", capacity=2, cost=100), place("X", cost=900), place("Y", cost=900)],
    )
    cands = candidates(data)
    plan = {"A": Outcome("X"), "B": Outcome("Y")}
    moved_to = {"B": Outcome("HOME")}
    after = neighbourhood(data, cands, plan | {"A": Outcome("HOME")}, {"B"}, 1000)
    assert any(o.placement == "HOME" for o in after.candidates.options["B"])
    assert lns._better(after, moved_to, checked=False) is not None
    assert lns._better(after, moved_to, checked=True) is None


def test_a_big_household_does_not_take_a_neighbourhood_past_its_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two GAP agents of four jobs each and neighbourhoods of five: the seed's agent comes whole,
    the other agent's household would make eight, so only one more job joins."""
    monkeypatch.setattr(lns, "NEIGHBOURHOOD_CHILDREN", 5)
    problem = GapProblem("two-agents", [[1] * 8, [2] * 8], [[1] * 8, [1] * 8], [4, 4], False)
    data = gap_instance(problem)
    cands = candidates(data)
    plan = {f"J{j}": Outcome("A0" if j < 4 else "A1") for j in range(8)}
    free = lns._Neighbours(data, cands, plan).around("J0")
    assert {"J0", "J1", "J2", "J3"} <= free
    assert len(free) == 5


def test_an_unplaced_required_group_s_neighbourhood_holds_where_all_of_it_could_live(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each sibling's cheapest places take one child; only the dear home takes both. A step
    from a sibling frees the children living there (X), not those at the cheap places."""
    monkeypatch.setattr(lns, "NEIGHBOURHOOD_CHILDREN", 3)
    data = instance(
        [
            child("A", sibling_group="G"),
            child("B", sibling_group="G"),
            child("X", ruled_out=["C1", "C2"]),
            child("Y", ruled_out=["PAIR"]),
            child("Z", ruled_out=["PAIR"]),
        ],
        [
            place("C1", cost=100),
            place("C2", cost=100),
            place("PAIR", capacity=2, cost=800),
            place("DEAR", capacity=2, cost=900),
        ],
        sibling_groups=[{"id": "G", "together": "required"}],
    )
    plan = {
        "A": Outcome(None),
        "B": Outcome(None),
        "X": Outcome("PAIR"),
        "Y": Outcome("C1"),
        "Z": Outcome("C2"),
    }
    finder = lns._Neighbours(data, candidates(data), plan)
    assert finder.cheapest["A"] == ["PAIR", "DEAR"]
    assert finder.around("A") == {"A", "B", "X"}


def test_a_required_group_no_placement_could_take_has_no_regret() -> None:
    """Two siblings who must live together and one-bed places only: unplaced in every plan, so
    nothing to gain from them; a step from one still frees the children at its cheapest places."""
    data = instance(
        [child("A", sibling_group="G"), child("B", sibling_group="G"), child("X", priority=2)],
        [place("C1", cost=100), place("C2", cost=200)],
        sibling_groups=[{"id": "G", "together": "required"}],
    )
    plan = {"A": Outcome(None), "B": Outcome(None), "X": Outcome(None)}
    finder = lns._Neighbours(data, candidates(data), plan)
    assert finder.regret == {"A": 0, "B": 0, "X": 50000 * 100 * 2}
    assert finder.cheapest["A"] == ["C1", "C2"]


def test_regret_is_the_cost_above_the_cheapest_option_unplaced_or_split() -> None:
    """A at its dearer home (£700 against £500), B split from its preferred sibling A, C
    unplaced at priority 2, D at its cheapest: regret in pence, updated as outcomes change."""
    data = instance(
        [
            child("A", sibling_group="G"),
            child("B", sibling_group="G"),
            child("C", priority=2),
            child("D"),
        ],
        [place("P1", cost=500), place("P2", cost=700), place("P3", capacity=2, cost=600)],
        sibling_groups=[{"id": "G", "together": "preferred"}],
    )
    cands = candidates(data)
    plan = {"A": Outcome("P2"), "B": Outcome("P3"), "C": Outcome(None), "D": Outcome("P1")}
    finder = lns._Neighbours(data, cands, plan)
    split, unplaced = 5000 * 100, 50000 * 100 * 2
    assert finder.regret == {"A": 20000 + split, "B": 10000 + split, "C": unplaced, "D": 0}
    finder.move({"A": Outcome("P3"), "C": Outcome("P2")})
    assert finder.regret == {"A": 10000, "B": 10000, "C": 20000, "D": 0}


def _chain_of_moves() -> tuple[Instance, dict[str, Outcome]]:
    """S1 left P1 (now N's) for P2, whose S2 left for P3, whose S3 left for P4; X and Y live
    at the cheap P5 and P6, the settled children's cheapest moves."""
    settled = {"status": "settled"}
    data = instance(
        [
            child("S1", current_placement="P1", **settled),
            child("S2", current_placement="P2", **settled),
            child("S3", current_placement="P3", **settled),
            child("N"),
            child("X"),
            child("Y"),
        ],
        [place(f"P{k}", cost=900) for k in range(1, 5)]
        + [place("P5", cost=100), place("P6", cost=100)],
    )
    plan = {
        "S1": Outcome("P2"),
        "S2": Outcome("P3"),
        "S3": Outcome("P4"),
        "N": Outcome("P1"),
        "X": Outcome("P5"),
        "Y": Outcome("P6"),
    }
    return data, plan


def test_a_neighbourhood_along_moves_follows_the_chain_of_evictions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From S1 the neighbourhood drawn along the plan's moves holds the chain (S1's old home's
    N, then S2 who left P2, then S3 who left P3); around S1's cheapest places it holds X and Y
    instead, so no step could give S2's and S3's moves up for S1 to return."""
    monkeypatch.setattr(lns, "NEIGHBOURHOOD_CHILDREN", 4)
    data, plan = _chain_of_moves()
    finder = lns._Neighbours(data, candidates(data), plan)
    assert sorted(finder.moved()) == ["S1", "S2", "S3"]
    assert finder.around("S1", way=lns.MOVES) == {"S1", "N", "S2", "S3"}
    assert finder.around("S1") == {"S1", "N", "X", "Y"}


def test_seeds_along_moves_are_moved_children_and_only_where_the_plan_moves_enough(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, plan = _chain_of_moves()
    finder = lns._Neighbours(data, candidates(data), plan)
    finder.record[lns.REGRET] = finder.record[lns.UNIFORM] = (0, 10**9)  # never helped
    rng = random.Random(0)
    monkeypatch.setattr(lns, "MOVES_MIN", 4)  # three moved children are too few
    assert lns.MOVES not in {finder.seed(rng)[1] for _ in range(50)}
    monkeypatch.setattr(lns, "MOVES_MIN", 3)
    seeds = [finder.seed(rng) for _ in range(50)]
    assert {way for _, way in seeds} == {lns.MOVES}
    assert {seed for seed, _ in seeds} == {"S1", "S2", "S3"}


def test_seeds_are_drawn_by_regret_and_a_fruitless_seed_fades() -> None:
    data = instance(
        [child("A"), child("B"), child("C")],
        [place("P1"), place("P2", cost=900), place("P3", cost=700)],
    )
    plan = {"A": Outcome("P1"), "B": Outcome("P2"), "C": Outcome("P3")}
    finder = lns._Neighbours(data, candidates(data), plan)
    finder.record[lns.UNIFORM] = (0, 10**9)  # uniform seeds never helped
    finder.record[lns.REGRET] = (10**9, 10**9)
    rng = random.Random(0)
    assert {finder.seed(rng)[0] for _ in range(100)} == {"B", "C"}  # A has no regret
    for _ in range(40):
        finder.scored("C", lns.REGRET, better=False)
    assert {finder.seed(rng)[0] for _ in range(100)} == {"B"}
    finder.move({"C": Outcome("P3")})  # no change: still faded
    assert {finder.seed(rng)[0] for _ in range(100)} == {"B"}
    finder.move({"C": Outcome("P2")})
    assert "C" in {finder.seed(rng)[0] for _ in range(100)}


def test_the_way_seeds_are_drawn_follows_its_success() -> None:
    """Steps from seeds drawn by regret that find nothing make uniform seeds the usual way."""
    data = instance([child("A"), child("B")], [place("P1"), place("P2", cost=900)])
    finder = lns._Neighbours(data, candidates(data), {"A": Outcome("P1"), "B": Outcome("P2")})
    rng = random.Random(0)
    ways = []
    for _ in range(200):
        _, way = finder.seed(rng)
        ways.append(way == lns.REGRET)
        finder.scored("B", way, better=way != lns.REGRET)
    assert sum(ways[:20]) >= 3 and sum(ways[-100:]) <= 15  # half of them without it


def _guide(
    plan: dict[str, Outcome] | None,
    cands: Any,
    arrives_at: int = 1,
    after_s: float = 0.0,
    optimal: bool = False,
) -> tuple[lns.Guide, list[float]]:
    """A guide whose plan (proven ``optimal`` or not) arrives at its ``arrives_at``-th asking;
    the waits it was given."""
    waits: list[float] = []

    def fetch(wait: float) -> tuple[bool, lns.Guided | None]:
        waits.append(wait)
        if len(waits) < arrives_at:
            return False, None
        return True, None if plan is None else lns.Guided(plan, cands, optimal=optimal)

    return lns.Guide(after_s, fetch), waits


@pytest.mark.parametrize("reproducible", [True, False])
def test_a_cheaper_valid_plan_from_the_guide_is_where_the_steps_go_on_from(
    monkeypatch: pytest.MonkeyPatch, reproducible: bool
) -> None:
    """Steps too small to improve tight-small's greedy plan: the guide's optimum is taken,
    once it arrives (fast mode asks again at each step), and kept."""
    monkeypatch.setattr(lns, "NEIGHBOURHOOD_CHILDREN", 1)
    data = read_instance(ROOT / "instances" / "tight-small.json")
    cands = candidates(data)
    start = greedy_plan(data, cands)
    optimum = best_outcomes(data)
    guide, waits = _guide(optimum, cands, arrives_at=1 if reproducible else 3)
    run_settings = SolveSettings(workers=1, reproducible=reproducible)
    improved = lns.improve(data, cands, start, run_settings, 3.0, guide=guide)
    assert improved.objective == pytest.approx(772816.72, abs=0.05)
    assert improved.outcomes == optimum and not improved.wall_limit_hit
    assert len(waits) == (1 if reproducible else 3)
    assert (waits[0] > 0) == reproducible  # only reproducible mode waits for it


@pytest.mark.parametrize("reproducible", [True, False])
def test_a_proven_optimum_from_the_guide_ends_the_search(reproducible: bool) -> None:
    """No step can improve a proven optimum: the search stops once it has it, whether it took
    the plan or already had one as cheap; a plan not proven optimal leaves it running."""
    data = read_instance(ROOT / "instances" / "tight-small.json")
    cands = candidates(data)
    optimum = best_outcomes(data)
    run_settings = SolveSettings(workers=1, reproducible=reproducible)
    for start in (greedy_plan(data, cands), optimum):
        guide, _ = _guide(optimum, cands, optimal=True)
        improved = lns.improve(data, cands, start, run_settings, 3.0, guide=guide)
        assert improved.steps == 0 and improved.outcomes == optimum
        assert improved.proven and improved.charged < 3.0  # the caller charges only this
    guide, _ = _guide(optimum, cands)
    unproven = lns.improve(data, cands, optimum, run_settings, 1.0, guide=guide)
    assert unproven.steps > 0 and not unproven.proven


def test_an_invalid_or_dearer_plan_from_the_guide_is_not_taken() -> None:
    data = read_instance(ROOT / "instances" / "tight-small.json")
    cands = candidates(data)
    start = greedy_plan(data, cands)
    unplaced = {child: Outcome(None) for child in start}  # valid but dear
    crowded = dict(best_outcomes(data))
    first, second = list(crowded)[:2]
    crowded[first] = crowded[second]  # cheaper, but one bed too few somewhere
    for plan in (unplaced, crowded):
        guide, _ = _guide(plan, cands)
        improved = lns.improve(data, cands, start, SolveSettings(workers=1), 0.5, guide=guide)
        assert improved.outcomes != plan
        assert check_plan(data, make_plan(data, cands, improved.outcomes, 1).to_dict()) == []


@pytest.mark.parametrize("dearer", [0.0, 1.0])
def test_a_dearer_guide_within_its_margin_is_gone_on_from_but_the_cheaper_plan_returned(
    monkeypatch: pytest.MonkeyPatch, dearer: float
) -> None:
    """From tight-small's optimum, a guide with the greedy plan (dearer): taken only within its
    ``dearer`` margin; the steps from it find nothing cheaper, so the optimum is returned."""
    monkeypatch.setattr(lns, "NEIGHBOURHOOD_CHILDREN", 1)
    data = read_instance(ROOT / "instances" / "tight-small.json")
    cands = candidates(data)
    optimum = best_outcomes(data)
    greedy = greedy_plan(data, cands)
    guide = lns.Guide(0.0, lambda wait: (True, lns.Guided(greedy, cands, dearer=dearer)))
    improved = lns.improve(data, cands, optimum, SolveSettings(workers=1), 1.0, guide=guide)
    assert improved.outcomes == optimum
    assert improved.objective == pytest.approx(772816.72, abs=0.05)
    assert improved.improvements == (1 if dearer else 0)  # going on from the guide's plan
    assert improved.passed == ()  # none passed before the optimum it went back to


def test_a_guide_that_does_not_come_in_time_marks_a_reproducible_run() -> None:
    """The clock decided that the steps went on without it: the run may not repeat."""
    data = read_instance(ROOT / "instances" / "small.json")
    cands = candidates(data)
    guide, waits = _guide(None, cands, arrives_at=2)
    run_settings = SolveSettings(workers=1, reproducible=True)
    improved = lns.improve(data, cands, greedy_plan(data, cands), run_settings, 1.0, guide=guide)
    assert improved.wall_limit_hit and len(waits) == 1


def test_a_guide_due_after_the_steps_end_is_asked_before_the_search_ends() -> None:
    """Reproducible mode asks a guide once even when its ``after_s`` is beyond the steps'
    seconds (the core's plan, searched beside, is never left unused): its optimum is taken."""
    data = read_instance(ROOT / "instances" / "tight-small.json")
    cands = candidates(data)
    optimum = best_outcomes(data)
    guide, waits = _guide(optimum, cands, after_s=1e9)
    run_settings = SolveSettings(workers=1, reproducible=True)
    improved = lns.improve(data, cands, greedy_plan(data, cands), run_settings, 0.5, guide=guide)
    assert len(waits) == 1 and improved.outcomes == optimum


@pytest.mark.parametrize("size", [lns.NEIGHBOURHOOD_CHILDREN, 3])
def test_the_children_a_guide_chose_are_re_solved_before_its_plan_is_judged(
    size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The optimum with six new children needlessly unplaced is dearer than the greedy plan;
    re-solved first (the guide names those children), it is the optimum, taken at once, also
    when they take several neighbourhoods of ``size`` children."""
    monkeypatch.setattr(lns, "NEIGHBOURHOOD_CHILDREN", size)
    data = read_instance(ROOT / "instances" / "tight-small.json")
    cands = candidates(data)
    start = greedy_plan(data, cands)
    optimum = best_outcomes(data)
    placed = [
        c.id
        for c in data.children
        if c.status == "new" and optimum[c.id].placement not in (None, "home")
    ][:6]
    spoilt = {**optimum, **dict.fromkeys(placed, Outcome(None))}
    assert make_plan(data, cands, spoilt, 1).objective > make_plan(data, cands, start, 1).objective

    def fetch(wait: float) -> tuple[bool, lns.Guided | None]:
        return True, lns.Guided(spoilt, cands, frozenset(placed))

    run_settings = SolveSettings(workers=1, reproducible=True)
    improved = lns.improve(data, cands, start, run_settings, 0.01, guide=lns.Guide(0.0, fetch))
    assert improved.steps == 0 and improved.objective == pytest.approx(772816.72, abs=0.05)
