"""One test per constraint family: it binds on a tiny instance, and removing it changes the answer.

For every family the optimum with the family is worse than without it (the family binds), the plan
with it passes the independent checker, and the plan without it is caught by the checker. A family
added to the model without a case here fails ``test_every_family_has_a_case``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

import pytest
from helpers import best_plan, child, instance, place, team

from matcher import verify
from matcher.cpsat import FAMILY_NAMES
from matcher.instance import Instance
from matcher.verify import check_plan

POLICY_RULES = {"rules": {"hsb_no_younger": False}}


def eligibility() -> Instance:
    return instance([child("A", needs={"aggression": 3})], [place("P")])


def capacity() -> Instance:
    return instance([child("A"), child("B")], [place("P", capacity=1)])


def staff_capacity() -> Instance:
    """Three staff units: a child needing 2:1 and one needing 1:1 fit beside the resident only
    if the 2:1 child is counted as two."""
    resident = {"age": 12, "sex": "F", "staffing": 1}
    return instance(
        [child("A", staffing=2), child("B")],
        [place("P", capacity=3, staff_capacity=3, residents=[resident])],
    )


def outreach_required() -> Instance:
    return instance(
        [child("A", needs={"aggression": 2})],
        [place("P", meets={"aggression": 1})],
        outreach_teams=[team("T")],
    )


def return_home() -> Instance:
    return instance([child("A", return_home=True)], [], outreach_teams=[team("T")])


def outreach_capacity() -> Instance:
    return instance(
        [child("A", requires_outreach=True), child("B", requires_outreach=True)],
        [place("P", capacity=2)],
        outreach_teams=[team("T", capacity=1)],
    )


def ending_placement() -> Instance:
    return instance(
        [child("A", status="ending", current_placement="P")], [place("P"), place("Q", cost=2000)]
    )


def max_moves() -> Instance:
    return instance(
        [
            child("A", status="settled", current_placement="P1"),
            child("B", status="settled", current_placement="P2"),
        ],
        [place("P1", cost=9000), place("P2", cost=9000), place("Q", capacity=2, cost=500)],
        policy={"max_moves": 1},
    )


def sole_occupancy() -> Instance:
    return instance([child("A", requires_sole=True), child("B")], [place("P", capacity=2)])


def conflicts() -> Instance:
    return instance(
        [child("A"), child("B")], [place("P", capacity=2)], conflicts=[{"a": "A", "b": "B"}]
    )


def sibling_groups() -> Instance:
    return instance(
        [child("A", sibling_group="G"), child("B", sibling_group="G")],
        [place("P", capacity=1)],
        sibling_groups=[{"id": "G", "together": "required"}],
    )


def hsb_no_younger() -> Instance:
    return instance(
        [child("A", age=14, needs={"harmful_sexual_behaviour": 1}), child("B", age=10)],
        [place("P", capacity=2, meets={"harmful_sexual_behaviour": 1})],
    )


def max_per_placement() -> Instance:
    return instance(
        [child("A", needs={"exploitation_risk": 2}), child("B", needs={"exploitation_risk": 2})],
        [place("P", capacity=2, meets={"exploitation_risk": 2})],
        policy={
            "rules": {
                "max_per_placement": [{"need": "exploitation_risk", "min_level": 2, "max": 1}]
            }
        },
    )


def incompatible_needs() -> Instance:
    return instance(
        [child("A", needs={"aggression": 1}), child("B", needs={"disability": 1})],
        [place("P", capacity=2, meets={"aggression": 1, "disability": 1})],
        policy={
            "rules": {
                "incompatible_needs": [{"a": "aggression", "b": "disability", "min_level": 1}]
            }
        },
    )


def weekly_budget() -> Instance:
    return instance([child("A")], [place("P", cost=1000)], policy={"weekly_budget": 500})


CASES: dict[str, Callable[[], Instance]] = {
    f.__name__: f
    for f in (
        eligibility,
        capacity,
        staff_capacity,
        outreach_required,
        return_home,
        outreach_capacity,
        ending_placement,
        max_moves,
        sole_occupancy,
        conflicts,
        sibling_groups,
        hsb_no_younger,
        max_per_placement,
        incompatible_needs,
        weekly_budget,
    )
}


def test_every_family_has_a_case() -> None:
    assert set(CASES) == set(FAMILY_NAMES)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_family_binds_and_removing_it_is_caught(family: str) -> None:
    data = CASES[family]()
    with_family = best_plan(data)
    without = best_plan(data, tuple(f for f in FAMILY_NAMES if f != family))
    assert with_family is not None and without is not None
    assert without.objective < with_family.objective, "the family does not bind on its case"
    assert check_plan(data, with_family.to_dict()) == []
    assert check_plan(data, without.to_dict()) != [], "the checker missed the broken rule"


def test_hsb_rule_counts_residents_both_ways() -> None:
    older_resident = [{"age": 15, "sex": "M", "needs": {"harmful_sexual_behaviour": 2}}]
    data = instance([child("A", age=12)], [place("P", capacity=2, residents=older_resident)])
    plan = best_plan(data)
    assert plan is not None and plan.assignments[0].action == "unplaced"
    younger_resident = [{"age": 9, "sex": "M", "needs": {}}]
    data = instance(
        [child("A", age=12, needs={"harmful_sexual_behaviour": 1})],
        [place("P", capacity=2, residents=younger_resident, meets={"harmful_sexual_behaviour": 1})],
    )
    plan = best_plan(data)
    assert plan is not None and plan.assignments[0].action == "unplaced"


def test_residents_breaking_a_rule_among_themselves_do_not_block_others() -> None:
    residents = [{"age": 15, "sex": "M", "needs": {"exploitation_risk": 3}}] * 2
    rule = {
        "rules": {"max_per_placement": [{"need": "exploitation_risk", "min_level": 2, "max": 1}]}
    }
    data = instance([child("A")], [place("P", capacity=3, residents=residents)], policy=rule)
    plan = best_plan(data)
    assert plan is not None and plan.assignments[0].placement == "P"


def test_child_with_both_incompatible_needs_may_live_alone_with_it() -> None:
    rule = {
        "rules": {"incompatible_needs": [{"a": "aggression", "b": "disability", "min_level": 1}]}
    }
    both = {"aggression": 1, "disability": 1}
    data = instance([child("A", needs=both)], [place("P", capacity=2, meets=both)], policy=rule)
    plan = best_plan(data)
    assert plan is not None and plan.assignments[0].placement == "P"


def test_stay_is_eligible_whatever_the_tests_say_but_supported_is_16_plus() -> None:
    data = instance(
        [
            child("A", age=12, status="settled", current_placement="P", needs={"aggression": 3}),
            child("B", age=15, status="settled", current_placement="S"),
        ],
        [place("P"), place("S", type="supported", age_min=16)],
    )
    plan = best_plan(data)
    assert plan is not None
    actions = {a.child: a.action for a in plan.assignments}
    assert actions == {"A": "stay", "B": "unplaced"}


def test_checker_names_only_model_families() -> None:
    """The checker reports violations under the model's family names (plus plan/objective)."""
    named = set(re.findall(r'fail\(\s*"([a-z_]+)"', inspect.getsource(verify)))
    assert named <= set(FAMILY_NAMES) | {"plan", "objective"}, named - set(FAMILY_NAMES)


def test_a_ruled_out_placement_or_return_home_is_not_eligible() -> None:
    """A rejected proposal (``ruled_out``) is never proposed again; the checker refuses it."""
    cheap_first = [place("CHEAP", cost=100), place("DEAR", cost=900)]
    data = instance([child("A", ruled_out=["CHEAP"])], cheap_first)
    plan = best_plan(data)
    assert plan is not None and plan.assignments[0].placement == "DEAR"
    assert best_plan(instance([child("A")], cheap_first)).assignments[0].placement == "CHEAP"
    row = {**plan.to_dict()["assignments"][0], "placement": "CHEAP"}
    bad = {**plan.to_dict(), "assignments": [row]}
    assert "eligibility" in {v.rule for v in check_plan(data, bad)}

    home = instance(
        [child("A", return_home=True, ruled_out=["home"])], [], outreach_teams=[team("T")]
    )
    plan = best_plan(home)
    assert plan is not None and plan.assignments[0].action == "unplaced"
    row = {**plan.to_dict()["assignments"][0], "placement": "home", "outreach": "T"}
    assert "return_home" in {
        v.rule for v in check_plan(home, {**plan.to_dict(), "assignments": [row]})
    }


def test_a_child_requiring_outreach_placed_by_uplift_gets_a_team_that_covers_the_need() -> None:
    """A requires outreach and needs aggression 2 where P meets 1. PART (cheap) covers only
    self-harm, so only FULL's uplift makes P possible: the plan must use FULL. (A 5,000-child
    county instance once got the cheaper, useless team.)"""
    data = instance(
        [child("A", needs={"aggression": 2}, requires_outreach=True)],
        [place("P", meets={"aggression": 1})],
        outreach_teams=[team("PART", weekly_cost=100, needs=["self_harm"]), team("FULL")],
    )
    plan = best_plan(data)
    assert plan is not None
    assert (plan.assignments[0].placement, plan.assignments[0].outreach) == ("P", "FULL")
    assert check_plan(data, plan.to_dict()) == []
