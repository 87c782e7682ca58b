"""Property tests: on random small instances every plan passes the independent checker, its
reported objective equals the recomputed one, and the optimum agrees with brute force."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any
from unittest.mock import patch

from helpers import best_plan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher import greedy as greedy_module
from matcher.bounds import capacity_bound
from matcher.eligibility import candidates
from matcher.explain import ExplainSettings, explain
from matcher.explain.whatif import Resolver
from matcher.greedy import greedy_plan
from matcher.instance import Instance
from matcher.occupancy_bound import occupancy_bound
from matcher.plans import make_plan
from matcher.solve import SolveSettings, shortlist, solve
from matcher.units import to_pence, to_pounds
from matcher.verify import PlanChecker, check_plan, check_result

NEEDS = ["aggression", "harmful_sexual_behaviour", "disability", "exploitation_risk"]


@st.composite
def small_instances(
    draw: Any, max_children: int = 5, max_places: int = 3, teams: bool = True
) -> Instance:
    n_places = draw(st.integers(1, max_places))
    places = []
    for j in range(n_places):
        places.append(
            {
                "id": f"P{j}",
                "provider": "x",
                "type": draw(st.sampled_from(["foster", "residential", "supported", "assessment"])),
                "sector": "external",
                "in_area": draw(st.booleans()),
                "location": {
                    "lat": 52.6 + draw(st.floats(-0.3, 0.3)),
                    "lon": -1.2 + draw(st.floats(-0.3, 0.3)),
                },
                "capacity": draw(st.integers(0, 3)),
                "weekly_cost": draw(st.integers(0, 5000)),
                "meets": {n: draw(st.integers(0, 3)) for n in NEEDS},
                "cost_uplift": {"disability": draw(st.integers(0, 200))},
                "block_beds": draw(st.integers(0, 1)),
                "block_weekly_cost": draw(st.integers(0, 500)),
                "staff_capacity": draw(st.none() | st.integers(0, 4)),
                "residents": draw(
                    st.lists(
                        st.fixed_dictionaries(
                            {
                                "age": st.integers(5, 17),
                                "sex": st.sampled_from(["F", "M"]),
                                "needs": st.dictionaries(
                                    st.sampled_from(NEEDS), st.integers(0, 3), max_size=2
                                ),
                                "staffing": st.integers(1, 2),
                            }
                        ),
                        max_size=1,
                    )
                ),
            }
        )
    for p in places:
        p["capacity"] = max(p["capacity"], len(p["residents"]))
        if p["staff_capacity"] is not None:
            used = sum(r["staffing"] for r in p["residents"])
            p["staff_capacity"] = max(p["staff_capacity"], used)
    n_children = draw(st.integers(1, max_children))
    children = []
    for i in range(n_children):
        status = draw(st.sampled_from(["new", "settled", "at_risk", "ending"]))
        children.append(
            {
                "id": f"C{i}",
                "age": draw(st.integers(0, 19)),
                "sex": draw(st.sampled_from(["F", "M", "X"])),
                "location": {
                    "lat": 52.6 + draw(st.floats(-0.3, 0.3)),
                    "lon": -1.2 + draw(st.floats(-0.3, 0.3)),
                },
                "needs": draw(
                    st.dictionaries(st.sampled_from(NEEDS), st.integers(0, 3), max_size=2)
                ),
                "status": status,
                "current_placement": None
                if status == "new"
                else draw(st.sampled_from([p["id"] for p in places])),
                "requires_sole": draw(st.booleans()),
                "return_home": teams and draw(st.booleans()),
                "requires_outreach": teams and draw(st.integers(0, 5)) == 0,
                "priority": draw(st.integers(1, 3)),
                "max_distance_km": draw(st.none() | st.floats(5, 60)),
                "sibling_group": draw(st.none() | st.sampled_from(["G0"])),
                "staffing": draw(st.integers(1, 2)),
            }
        )
    outreach = (
        [
            {
                "id": "T0",
                "location": {"lat": 52.6, "lon": -1.2},
                "radius_km": draw(st.floats(0, 40)),
                "capacity": draw(st.integers(0, 2)),
                "weekly_cost": 660,
                "uplift": 1,
            },
            {  # a cheaper team that uplifts only some needs
                "id": "T1",
                "location": {"lat": 52.6, "lon": -1.2},
                "radius_km": draw(st.floats(0, 40)),
                "capacity": draw(st.integers(0, 2)),
                "weekly_cost": 300,
                "uplift": 1,
                "needs": draw(
                    st.lists(st.sampled_from(NEEDS), min_size=1, max_size=2, unique=True)
                ),
            },
        ]
        if teams
        else []
    )
    conflicts = (
        [{"a": "C0", "b": f"C{n_children - 1}"}] if n_children > 1 and draw(st.booleans()) else []
    )
    document = {
        "meta": {"name": "random", "as_of": "2026-11-26", "needs": NEEDS},
        "policy": {
            "max_moves": draw(st.none() | st.integers(0, 2)),
            "weekly_budget": draw(st.none() | st.integers(0, 8000)),
            "rules": {
                "max_per_placement": [{"need": "exploitation_risk", "min_level": 2, "max": 1}],
                "incompatible_needs": [
                    {"a": "aggression", "b": "disability", "min_level": 2},
                    {"a": "exploitation_risk", "b": "exploitation_risk", "min_level": 3},
                ],
            },
        },
        "children": children,
        "placements": places,
        "outreach_teams": outreach,
        "conflicts": conflicts,
        "sibling_groups": [
            {"id": "G0", "together": draw(st.sampled_from(["required", "preferred"]))}
        ],
    }
    return Instance.model_validate(document)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances())
def test_every_plan_passes_the_checker(data: Instance) -> None:
    result = solve(data, SolveSettings(time_limit=10, workers=1, plans=2, reproducible=False))
    assert result.solver.status in ("OPTIMAL", "INFEASIBLE")
    document = result.to_dict()
    assert check_result(data, document) == []
    for plan in document["plans"]:
        checker = PlanChecker(data, plan)
        assert checker.run() == []
        recomputed = sum(checker.expected_terms().values())
        assert abs(recomputed - plan["objective"]) <= max(1, len(data.children))
    if result.solver.status == "OPTIMAL":
        assert result.solver.objective == result.solver.best_bound
        assert abs(result.solver.objective - result.plans[0].objective) <= len(data.children)
        cands = candidates(data)
        bound = capacity_bound(data, cands, target=to_pence(result.solver.objective))
        assert to_pounds(bound.bound) <= result.solver.objective + 0.01
        households = occupancy_bound(data, cands, bound, rounds=30, plan=greedy_plan(data, cands))
        assert bound.bound <= households.bound
        assert to_pounds(households.bound) <= result.solver.objective + 0.01


def _brute_force_optimum(data: Instance) -> float | None:
    """Try every outcome for every child (no outreach teams); the best plan the checker accepts."""
    choices = [None, *(p.id for p in data.placements)]
    best = None
    for combo in itertools.product(choices, repeat=len(data.children)):
        rows = [
            {"child": c.id, "placement": where, "outreach": None}
            for c, where in zip(data.children, combo, strict=True)
        ]
        checker = PlanChecker(data, {"assignments": rows})
        checker.check_constraints()
        if checker.violations:
            continue
        value = sum(checker.expected_terms().values())
        best = value if best is None or value < best else best
    return best


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances(max_children=4, max_places=3, teams=False))
def test_solver_optimum_agrees_with_brute_force(data: Instance) -> None:
    expected = _brute_force_optimum(data)
    plan = best_plan(data)
    assert (plan is None) == (expected is None), "one side found a plan, the other none"
    if plan is not None and expected is not None:
        assert abs(plan.objective - expected) <= max(1, len(data.children))
        cands = candidates(data)
        beds = capacity_bound(data, cands, target=to_pence(expected))
        assert to_pounds(beds.bound) <= expected + max(1, len(data.children))
        households = occupancy_bound(data, cands, beds, rounds=30).bound
        assert to_pounds(households) <= expected + max(1, len(data.children))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances())
def test_greedy_plans_break_no_rule_but_possibly_the_move_limit(data: Instance) -> None:
    """The greedy keeps stays where it can, so it may be forced past max_moves; nothing else."""
    cands = candidates(data)
    plan = make_plan(data, cands, greedy_plan(data, cands), rank=1)
    assert {v.rule for v in check_plan(data, plan.to_dict())} <= {"max_moves"}


@st.composite
def infeasible_instances(draw: Any) -> Instance:
    """A random instance made infeasible at its core: two children who must never share are
    both settled in P0 and no one may move (``max_moves`` 0); the rest is random."""
    document = draw(small_instances(max_children=4)).model_dump(mode="json")
    children = document["children"]
    while len(children) < 2:
        children.append({**children[0], "id": f"C{len(children)}", "sibling_group": None})
    for child in children[:2]:
        child.update(status="settled", current_placement="P0", sibling_group=None)
    document["placements"][0]["capacity"] = max(document["placements"][0]["capacity"], 3)
    document["conflicts"] = [{"a": children[0]["id"], "b": children[1]["id"], "reason": None}]
    document["policy"]["max_moves"] = 0
    return Instance.model_validate(document)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(infeasible_instances() | small_instances())
def test_infeasible_instances_always_come_with_a_conflict_set(data: Instance) -> None:
    settings_ = SolveSettings(time_limit=10, workers=1, plans=1, reproducible=False)
    result = solve(data, settings_)
    if result.solver.status != "INFEASIBLE":
        return
    explained = explain(data, result, settings_, ExplainSettings(time_limit=10))
    assert explained.infeasibility is not None
    assert explained.infeasibility["constraints"], "at least one constraint named"
    assert all(member["text"] for member in explained.infeasibility["constraints"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances(), st.data())
def test_a_focused_check_finds_what_a_full_check_finds(data: Instance, draw: Any) -> None:
    """Explanations check one changed child with ``focus``; on a valid plan with only that child
    changed it must report exactly what checking everything reports."""
    result = solve(data, SolveSettings(time_limit=10, workers=1, plans=1))
    if not result.plans:
        return
    rows = [
        {"child": a.child, "placement": a.placement, "outreach": a.outreach}
        for a in result.plans[0].assignments
    ]
    k = draw.draw(st.integers(0, len(rows) - 1))
    places = [None, "home", *(p.id for p in data.placements)]
    teams = [None, *(t.id for t in data.outreach_teams)]
    rows[k] = {
        "child": rows[k]["child"],
        "placement": draw.draw(st.sampled_from(places)),
        "outreach": draw.draw(st.sampled_from(teams)),
    }
    full, focused = (
        PlanChecker(data, {"assignments": rows}),
        PlanChecker(data, {"assignments": rows}),
    )
    full.check_constraints()
    focused.check_constraints(focus={rows[k]["child"]})
    assert set(focused.violations) == set(full.violations)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances(), st.data())
def test_neighbourhood_re_solves_give_valid_plans_and_exact_differences(
    data: Instance, draw: Any
) -> None:
    """A local re-solve holds all but a few children as residents of their placements: the plan
    it returns, joined to the held children, passes the checker, and its objective is the whole
    plan's, recomputed; a child can be forced onto an eligible option off the shortlist."""
    result = solve(data, SolveSettings(time_limit=10, workers=1, plans=1))
    if not result.plans:
        return
    cands = candidates(data)
    plan = result.plans[0]
    with patch("matcher.solve.SHORTLIST_SIZE", 1):
        short = shortlist(data, cands, [plan.outcomes()])  # forced options may lie outside it
    resolver = Resolver(
        data, short, plan.outcomes(), SolveSettings(workers=1), 5.0, True, True, eligible=cands
    )
    pairs = [(c, o.placement) for c, options in cands.options.items() for o in options]
    if not pairs:
        return
    for _ in range(2):  # a second re-solve reuses placements the first rebuilt
        child, placement = draw.draw(st.sampled_from(pairs))
        size = draw.draw(st.integers(0, len(data.children)))
        with patch("matcher.explain.whatif.LOCAL_CHILDREN", size):
            resolved = resolver.force(child, placement)
        assert resolved is not None and resolved.local
        if resolved.outcomes is None:
            continue
        assert resolved.outcomes[child].placement == placement
        joined = make_plan(data, cands, resolved.outcomes, rank=1)
        assert check_plan(data, joined.to_dict()) == []
        assert abs(joined.objective - resolved.objective) <= 0.02
        assert joined.marginal_weekly_cost == resolved.marginal_weekly_cost
        optimal = result.solver.status == "OPTIMAL"
        assert resolved.objective >= plan.objective - 0.02 or not optimal


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances())
def test_candidates_arrays_are_their_options(data: Instance) -> None:
    """The arrays ``candidates`` keeps for each child, and those worked out on first use for
    other candidates (a shortlist's, or the whole candidates' with the shortlist's options put
    in by ``dataclasses.replace``), are its options' placements, distances and stays."""
    cands = candidates(data)
    short = shortlist(data, cands, [], cheapest=1, priced=0)
    for made in (cands, short, dataclasses.replace(cands, options=short.options)):
        for child, options in made.options.items():
            columns, km, stays = made.arrays(data, child)
            assert [data.placements[j].id for j in columns.tolist()] == [
                o.placement for o in options
            ]
            assert km.tolist() == [o.km for o in options]
            assert stays.tolist() == [o.stay for o in options]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances())
def test_the_greedy_s_pair_costs_as_arrays_are_its_costs_one_by_one(data: Instance) -> None:
    """The same floats, so the greedy plan ranks options as it did one at a time."""
    cands = candidates(data)
    for child in data.children:
        options = cands.options[child.id]
        one_by_one = [greedy_module._pair_cost(data, child, option) for option in options]
        assert greedy_module._pair_costs(data, child, options).tolist() == one_by_one
