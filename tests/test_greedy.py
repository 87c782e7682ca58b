"""The greedy plan: following the bed relaxation's plan, and the second pass, which seats a
waiting unit by moving occupants elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import child, instance, place

from matcher import greedy as greedy_module
from matcher.bounds import capacity_bound
from matcher.eligibility import candidates
from matcher.greedy import greedy_plan
from matcher.io import read_instance
from matcher.plans import Outcome, make_plan
from matcher.verify import check_plan


def test_a_waiting_required_group_tries_the_places_that_could_take_all_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Urgent X takes a bed in the only home for two; the sibling pair then waits. Its cheapest
    shared place has one bed, so freeing it cannot seat them: the pass tries the pair home
    instead, moving X to the dear place (the pair's unplaced penalties far outweigh it)."""
    monkeypatch.setattr(greedy_module, "SWAP_OPTIONS", 1)
    data = instance(
        [
            child("A", sibling_group="G"),
            child("B", sibling_group="G"),
            child("X", priority=2, ruled_out=["ONE"]),
        ],
        [place("ONE", cost=100), place("PAIR", capacity=2, cost=300), place("DEAR", cost=900)],
        sibling_groups=[{"id": "G", "together": "required"}],
    )
    plan = greedy_plan(data, candidates(data))
    assert plan == {"A": Outcome("PAIR"), "B": Outcome("PAIR"), "X": Outcome("DEAR")}


def test_a_chain_of_moves_seats_a_group_when_no_single_move_can() -> None:
    """The only home for the pair holds settled S, whose one other option is taken by T: T
    moves on to the free dear bed, S to T's, and the pair into S's home."""
    elsewhere = ["FULL", "FREE"]
    data = instance(
        [
            child("A", sibling_group="G", ruled_out=elsewhere),
            child("B", sibling_group="G", ruled_out=elsewhere),
            child("S", status="settled", current_placement="PAIR", ruled_out=["FREE"]),
            child("T", priority=2, ruled_out=["PAIR"]),
        ],
        [place("PAIR", capacity=2, cost=300), place("FULL", cost=100), place("FREE", cost=900)],
        sibling_groups=[{"id": "G", "together": "required"}],
    )
    plan = greedy_plan(data, candidates(data))
    assert plan == {
        "A": Outcome("PAIR"),
        "B": Outcome("PAIR"),
        "S": Outcome("FULL"),
        "T": Outcome("FREE"),
    }


@pytest.mark.parametrize("name", ["example-county-24.json", "example-tight-30.json"])
def test_greedy_plans_of_the_shared_examples_pass_the_checker(
    name: str, shared_examples: Path
) -> None:
    """County-24's greedy plan takes chains of moves; a child moved twice in one try once left
    the plan holding it where it had been (six children in five beds)."""
    data = read_instance(shared_examples / name)
    cands = candidates(data)
    plan = make_plan(data, cands, greedy_plan(data, cands), rank=1)
    assert check_plan(data, plan.to_dict()) == []


def test_siblings_living_in_the_only_home_for_a_waiting_group_move_on_together() -> None:
    """The only home for the pair A, B holds the settled pair C, D, who may live together in
    the other two-bed home: they move there together, and A and B take their home."""
    settled = {"status": "settled", "current_placement": "PAIR"}
    data = instance(
        [
            child("A", sibling_group="G", ruled_out=["OTHER"]),
            child("B", sibling_group="G", ruled_out=["OTHER"]),
            child("C", sibling_group="H", **settled),
            child("D", sibling_group="H", **settled),
        ],
        [place("PAIR", capacity=2, cost=300), place("OTHER", capacity=2, cost=400)],
        sibling_groups=[
            {"id": "G", "together": "required"},
            {"id": "H", "together": "required"},
        ],
    )
    together = dict.fromkeys("AB", Outcome("PAIR")) | dict.fromkeys("CD", Outcome("OTHER"))
    assert greedy_plan(data, candidates(data)) == together


def test_following_the_bed_relaxation_gives_a_contested_bed_to_who_loses_most_without_it() -> None:
    """Urgent X takes the cheap bed first by the greedy rule, and Y, who may go nowhere else
    but the dear place, pays for it. The bed relaxation sends X to its second choice instead,
    and the greedy plan that follows it costs less."""
    data = instance(
        [child("X", priority=2), child("Y", ruled_out=["NEXT"])],
        [place("CHEAP", cost=100), place("NEXT", cost=200), place("DEAR", cost=900)],
    )
    cands = candidates(data)
    plain = greedy_plan(data, cands)
    assert plain == {"X": Outcome("CHEAP"), "Y": Outcome("DEAR")}
    followed = greedy_plan(data, cands, follow=capacity_bound(data, cands).placed)
    assert followed == {"X": Outcome("NEXT"), "Y": Outcome("CHEAP")}
    plans = [make_plan(data, cands, plan, rank=1) for plan in (plain, followed)]
    assert plans[1].objective < plans[0].objective
    assert check_plan(data, plans[1].to_dict()) == []


def test_following_the_bed_relaxation_moves_no_more_children_than_the_limit() -> None:
    """The relaxation drops the move limit and moves both settled children to the cheap homes
    (each saves more than its move penalty); the limit allows one move. The followed plan
    makes one move, the more urgent child's, and the other child stays."""
    settled = {"status": "settled"}
    data = instance(
        [
            child("S", priority=2, current_placement="DEAR_S", **settled),
            child("T", current_placement="DEAR_T", **settled),
        ],
        [
            place("DEAR_S", cost=9000),
            place("DEAR_T", cost=9000),
            place("CHEAP_S", cost=100),
            place("CHEAP_T", cost=100),
        ],
        policy={"max_moves": 1},
    )
    cands = candidates(data)
    relaxed = capacity_bound(data, cands)
    assert {relaxed.placed["S"], relaxed.placed["T"]} == {"CHEAP_S", "CHEAP_T"}
    followed = greedy_plan(data, cands, follow=relaxed.placed)
    assert followed["S"].placement in ("CHEAP_S", "CHEAP_T")
    assert followed["T"] == Outcome("DEAR_T")
    assert check_plan(data, make_plan(data, cands, followed, rank=1).to_dict()) == []
