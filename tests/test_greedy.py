"""The greedy plan's second pass: seating a waiting unit by moving occupants elsewhere."""

from __future__ import annotations

import pytest
from helpers import child, instance, place

from matcher import greedy as greedy_module
from matcher.eligibility import candidates
from matcher.greedy import greedy_plan
from matcher.plans import Outcome


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
