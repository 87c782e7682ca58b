"""Explanations on constructed instances whose answers are known, and forced costs checked
against fresh solves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import child, instance, place, team
from hypothesis import HealthCheck, given, settings
from ortools.sat.python import cp_model
from test_properties import small_instances

from matcher.cpsat import build_model
from matcher.eligibility import candidates
from matcher.explain import ExplainSettings, explain, to_text
from matcher.explain.conflicts import _solve, conflict_set
from matcher.instance import Instance
from matcher.io import read_instance
from matcher.plans import make_plan
from matcher.search import read_outcomes
from matcher.solve import SolveSettings, solve

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = SolveSettings(time_limit=20, workers=1, plans=1)


def explained(data: Instance, plans: int = 1) -> Any:
    result = solve(data, SolveSettings(time_limit=20, workers=1, plans=plans))
    return explain(data, result, SETTINGS, ExplainSettings(time_limit=60))


def child_entry(result: Any, child_id: str) -> dict[str, Any]:
    return next(c for c in result.plans[0].explanations["children"] if c["child"] == child_id)


def test_explanations_reuse_the_options_the_plans_were_made_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``solve`` keeps its options on the result (not written to the plan file) and explanations
    use them rather than testing every pair again (60 s on 20,000 children); a result read
    from a file has none, and explanations make them."""
    data = instance([child("A"), child("B")], [place("CHEAP", cost=100), place("DEAR", cost=900)])
    result = solve(data, SolveSettings(time_limit=20, workers=1, plans=1))
    assert result.candidates is not None and "candidates" not in result.to_dict()

    def not_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("options made twice")

    monkeypatch.setattr("matcher.explain.candidates", not_again)
    assert explain(data, result, SETTINGS, ExplainSettings(time_limit=20)).plans[0].explanations


def test_a_full_home_is_worth_exactly_what_its_extra_bed_saves() -> None:
    """Two children, a £100 bed and a £900 one: one more bed at CHEAP saves exactly £800."""
    data = instance([child("A"), child("B")], [place("CHEAP", cost=100), place("DEAR", cost=900)])
    result = explained(data)
    binding = result.plans[0].explanations["binding"]
    assert [(b["family"], b["record"], b["saving"], b["method"]) for b in binding] == [
        ("capacity", "CHEAP", 800.0, "re-solve (exact)")
    ]
    assert "one more bed would save £800.00 a week (exact)" in to_text(result)


def test_the_move_limit_is_worth_the_fees_a_move_saves_net_of_its_penalty() -> None:
    """A settled child at a £4,000 home could move to a £100 foster bed: £3,900 saved, £3,000
    move penalty, so one more move allowed is worth exactly £900."""
    data = instance(
        [child("A", status="settled", current_placement="HOME1")],
        [place("HOME1", cost=4000), place("FOSTER", cost=100)],
        policy={"max_moves": 0},
    )
    binding = explained(data).plans[0].explanations["binding"]
    assert [(b["family"], b["saving"], b["method"]) for b in binding] == [
        ("max_moves", 900.0, "re-solve (exact)")
    ]


def test_a_tight_budget_says_what_more_money_would_buy() -> None:
    """£1,000 a week places one of two children at £600 each; £200 more places both and saves
    the £50,000 unplaced penalty less the £600 fee."""
    data = instance(
        [child("A"), child("B")],
        [place("P1", cost=600), place("P2", cost=600)],
        policy={"weekly_budget": 1000},
    )
    [binding] = explained(data).plans[0].explanations["binding"]
    assert (binding["family"], binding["step"], binding["saving"]) == (
        "weekly_budget",
        600,
        49400.0,
    )
    assert "£600 more a week would save £49,400.00" in binding["text"]


def test_a_full_outreach_team_is_worth_the_return_home_it_blocks() -> None:
    """Two children may return home with the one-slot team instead of a £700 bed each; a second
    slot saves £700 less the team's £660."""
    data = instance(
        [child("A", return_home=True), child("B", return_home=True)],
        [place("P", cost=700, capacity=2)],
        outreach_teams=[team("T", capacity=1)],
    )
    binding = explained(data).plans[0].explanations["binding"]
    assert [(b["family"], b["record"], b["saving"]) for b in binding] == [
        ("outreach_capacity", "T", 40.0)
    ]


def test_a_child_blocked_only_by_a_rule_names_the_resident() -> None:
    """C (10) would be cheapest at H, but a resident there (15) has harmful sexual behaviour."""
    resident = {"age": 15, "sex": "F", "needs": {"harmful_sexual_behaviour": 1}}
    data = instance(
        [child("C", age=10)],
        [place("H", cost=100, capacity=2, residents=[resident]), place("F", cost=600)],
        policy={"rules": {"hsb_no_younger": True}},
    )
    entry = child_entry(explained(data), "C")
    assert entry["outcome"] == "F"
    [alternative] = entry["alternatives"]
    assert alternative["placement"] == "H"
    assert [r["family"] for r in alternative["reasons"]] == ["hsb_no_younger"]
    assert "a resident (15)" in alternative["reasons"][0]["text"]
    assert alternative["forced_method"] == "not possible: no valid plan puts the child there"


def test_a_child_blocked_by_a_conflict_names_the_other_child() -> None:
    data = instance(
        [child("A"), child("B")],
        [place("H", cost=100, capacity=2), place("F", cost=600)],
        conflicts=[{"a": "A", "b": "B"}],
    )
    result = explained(data)
    moved = next(a for a in result.plans[0].assignments if a.placement == "F")
    entry = child_entry(result, moved.child)
    [alternative] = entry["alternatives"]
    assert [r["family"] for r in alternative["reasons"]] == ["conflicts"]
    other = "A" if moved.child == "B" else "B"
    assert other in alternative["reasons"][0]["text"]
    assert alternative["forced_change"] == 0.0  # swapping the two costs nothing


def test_an_unplaced_child_gets_a_funnel_and_the_smallest_correction() -> None:
    """U needs a foster place within 10 km; the only one is full with A, the other is 20 km."""
    far = {"lat": 52.6 + 20 / 111.2, "lon": -1.2}
    data = instance(
        [child("A", status="settled", current_placement="NEAR"), child("U", max_distance_km=10)],
        [place("NEAR", cost=500), place("FAR", cost=500, location=far)],
        policy={"max_moves": 0},
    )
    entry = child_entry(explained(data), "U")
    assert entry["action"] == "unplaced"
    assert entry["funnel"] == {
        "placements": 2,
        "type": 2,
        "age": 2,
        "sex": 2,
        "needs": 2,
        "distance": 1,
        "ruled_out": 1,
        "outreach": 1,
        "free_bed": 0,
    }
    smallest = entry["corrections"][0]
    assert len(smallest) == 1
    assert smallest[0]["family"] in ("capacity", "eligibility")
    texts = [c[0]["text"] for c in entry["corrections"] if len(c) == 1]
    assert "one more bed at NEAR" in texts
    assert "a distance limit of 20 km instead of 10 km to reach FAR" in texts


def test_plan_differences_say_what_changes_and_what_it_costs() -> None:
    data = read_instance(ROOT / "instances" / "tiny.json")
    result = explained(data, plans=2)
    difference = result.plans[1].explanations
    assert difference["objective_change"] == pytest.approx(
        result.plans[1].objective - result.plans[0].objective, abs=0.01
    )
    assert difference["changes"] == result.plans[1].changes_from_best
    assert sum(difference["terms_change"].values()) == pytest.approx(
        difference["objective_change"], abs=0.05
    )


def settled_siblings_apart() -> Instance:
    """Two settled siblings in different single beds must live together, and no one may move;
    the other children and rules are there so the conflict set must be picked out of them."""
    return instance(
        [
            child("S1", status="settled", current_placement="P1", sibling_group="G"),
            child("S2", status="settled", current_placement="P2", sibling_group="G"),
            child("X"),
            child("Y"),
        ],
        [place("P1"), place("P2"), place("Q", capacity=2)],
        sibling_groups=[{"id": "G", "together": "required"}],
        conflicts=[{"a": "X", "b": "Y"}],
        policy={"max_moves": 0},
    )


def stays_over_budget() -> Instance:
    return instance(
        [
            child("S1", status="settled", current_placement="P1"),
            child("S2", status="settled", current_placement="P2"),
        ],
        [place("P1", cost=800), place("P2", cost=700)],
        policy={"max_moves": 0, "weekly_budget": 1000},
    )


@pytest.mark.parametrize(
    ("build", "expected", "relaxed"),
    [
        (
            settled_siblings_apart,
            {("max_moves", "plan"), ("sibling_groups", "G")},
            [{"policy": {"max_moves": None}}, {"sibling_groups": "preferred"}],
        ),
        (
            stays_over_budget,
            {("max_moves", "plan"), ("weekly_budget", "plan")},
            [{"policy": {"max_moves": None}}, {"policy": {"weekly_budget": None}}],
        ),
    ],
)
def test_an_infeasible_instance_names_exactly_its_minimal_conflict(
    build: Any, expected: set[tuple[str, str]], relaxed: list[dict[str, Any]]
) -> None:
    data = build()
    result = solve(data, SETTINGS)
    assert result.solver.status == "INFEASIBLE"
    explained_result = explain(data, result, SETTINGS)
    conflict = explained_result.infeasibility
    assert conflict is not None and conflict["minimal"]
    found = {(c["family"], c["record"]) for c in conflict["constraints"]}
    assert found == expected
    text = to_text(explained_result)
    assert "cannot all hold" in text and "Relaxing any one of them" in text
    # minimal: each member dropped, the rest can all hold
    pm = build_model(data, diagnose=True)
    assert pm.guards is not None
    import time

    for member in found:
        rest = [pm.guards[key] for key in found - {member}]
        status, _ = _solve(pm.model, rest, time.perf_counter() + 10)
        assert status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    # and relaxing either rule in the instance itself makes it feasible
    for change in relaxed:
        document = data.model_dump()
        if "policy" in change:
            document["policy"].update(change["policy"])
        else:
            document["sibling_groups"][0]["together"] = change["sibling_groups"]
        assert solve(Instance.model_validate(document), SETTINGS).solver.status == "OPTIMAL"


def test_a_feasible_instance_has_no_conflict_set() -> None:
    data = read_instance(ROOT / "instances" / "tiny.json")
    assert conflict_set(data, candidates(data), 10) is None


def test_text_has_ids_and_figures_and_no_solver_words() -> None:
    data = read_instance(ROOT / "instances" / "small.json")
    result = solve(data, SolveSettings(time_limit=20, plans=2))
    text = to_text(
        explain(data, result, SETTINGS, ExplainSettings(time_limit=20)), every_child=True
    )
    for word in ("CP-SAT", "solver", "literal", "objective", "INFEASIBLE", "re-solve", "presolve"):
        assert word not in text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances(max_children=5, max_places=4))
def test_every_forced_alternative_cost_matches_a_fresh_solve(data: Instance) -> None:
    result = solve(data, SolveSettings(time_limit=10, workers=1, plans=1))
    if not result.plans or result.solver.status != "OPTIMAL":
        return
    result = explain(data, result, SETTINGS, ExplainSettings(time_limit=60))
    best = result.plans[0]
    for entry in best.explanations["children"]:
        for alternative in entry["alternatives"]:
            if alternative["forced_method"] != "re-solve (exact)":
                continue
            pm = build_model(data)
            pm.model.add(pm.variables.assign[(entry["child"], alternative["placement"])] == 1)
            solver = cp_model.CpSolver()
            solver.parameters.num_workers = 1
            assert solver.solve(pm.model) == cp_model.OPTIMAL
            outcomes = read_outcomes(pm, list(solver.response_proto.solution))
            fresh = make_plan(data, pm.candidates, outcomes, rank=1).objective
            assert alternative["forced_change"] == pytest.approx(fresh - best.objective, abs=0.02)


def test_local_re_solves_bound_the_exact_values_from_the_right_side() -> None:
    """Freeing only nearby children can save no more, and force no less, than the whole model."""
    from matcher.explain.whatif import Resolver

    data = read_instance(ROOT / "instances" / "small.json")
    result = solve(data, SolveSettings(time_limit=20, workers=1, plans=1))
    plan = result.plans[0]
    cands = candidates(data)
    exact = Resolver(data, cands, plan.outcomes(), SETTINGS, 10, base_proven=True)
    local = Resolver(data, cands, plan.outcomes(), SETTINGS, 10, base_proven=True, local=True)
    full = sorted(key for key in exact.pm.limits if key[0] == "capacity")[:6]
    assert full
    for key in full:
        whole, nearby = exact.relax(key, 1), local.relax(key, 1)
        assert whole is not None and nearby is not None and nearby.local
        assert nearby.objective >= whole.objective - 0.01
    movers = [a for a in plan.assignments if a.action == "new"][:4]
    for row in movers:
        other = next(o.placement for o in cands.options[row.child] if o.placement != row.placement)
        whole, nearby = exact.force(row.child, other), local.force(row.child, other)
        if whole is None or whole.objective is None:
            continue
        assert nearby is not None
        if nearby.objective is not None:
            assert nearby.objective >= whole.objective - 0.01


@pytest.mark.parametrize("local", [False, True])
def test_the_distance_limit_is_worth_the_cheaper_place_just_beyond_it(
    local: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """U may go 10 km: NEAR (5 km, £900) rather than FAR (12 km, £100). Five more km let it take
    FAR, saving £800 less the extra distance cost. On a large model (``local``) the re-solve
    frees only the children nearby, and here that is everyone, so the value is the same."""
    import matcher.explain as explain_module
    from matcher.eligibility import haversine_km

    if local:
        monkeypatch.setattr(explain_module, "LARGE_MODEL_PAIRS", 0)
    near = {"lat": 52.6 + 5 / 111.2, "lon": -1.2}
    far = {"lat": 52.6 - 12 / 111.2, "lon": -1.2}
    data = instance(
        [child("U")],
        [place("NEAR", cost=900, location=near), place("FAR", cost=100, location=far)],
        policy={"max_distance_km": 10},
    )
    km = {
        name: float(haversine_km(52.6, -1.2, spot["lat"], spot["lon"]))
        for name, spot in (("NEAR", near), ("FAR", far))
    }
    saving = 800 - 5 * (round(km["FAR"] * 100) - round(km["NEAR"] * 100)) / 100
    binding = explained(data).plans[0].explanations["binding"]
    method = "re-solve nearby (at least)" if local else "re-solve (exact)"
    assert [(b["family"], b["limit"], b["step"], b["method"]) for b in binding] == [
        ("max_distance", 10.0, 5, method)
    ]
    assert binding[0]["saving"] == pytest.approx(saving, abs=0.02)
