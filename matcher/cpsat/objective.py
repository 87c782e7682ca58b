"""The objective (contract section 2), as named terms in pence (see ``matcher.units``).

Terms are named as in contract 4.4. A term whose weight is zero adds nothing to the model.
"""

from __future__ import annotations

from collections import defaultdict

from ortools.sat.python import cp_model

from matcher.cpsat.variables import Variables
from matcher.instance import Instance
from matcher.units import to_pence

TERM_NAMES: tuple[str, ...] = (
    "placement_cost",
    "cost_uplift",
    "distance",
    "out_of_area",
    "outreach",
    "move_settled",
    "move_at_risk",
    "unplaced",
    "sibling_split",
    "block_fixed",
)


class Terms:
    """Accumulates (variable, coefficient) pairs and constants per named term."""

    def __init__(self) -> None:
        self.variables: dict[str, list[cp_model.IntVar]] = defaultdict(list)
        self.coefficients: dict[str, list[int]] = defaultdict(list)
        self.constants: dict[str, int] = defaultdict(int)

    def add(self, term: str, var: cp_model.IntVar, pence: int) -> None:
        if pence:
            self.variables[term].append(var)
            self.coefficients[term].append(pence)

    def add_constant(self, term: str, pence: int) -> None:
        self.constants[term] += pence

    def expression(self) -> cp_model.LinearExprT:
        """The whole objective: every term's weighted sum plus the constants."""
        variables = [var for term in TERM_NAMES for var in self.variables[term]]
        coefficients = [c for term in TERM_NAMES for c in self.coefficients[term]]
        constant = sum(self.constants.values())
        return cp_model.LinearExpr.weighted_sum(variables, coefficients) + constant


def objective_terms(instance: Instance, v: Variables) -> Terms:
    """Every objective term of the contract, in model units (pence)."""
    weights = instance.policy.weights
    placements, teams = instance.placement_by_id, instance.team_by_id
    terms = Terms()
    out_of_area = to_pence(weights.out_of_area)
    for child in instance.children:
        for option, var in v.options[child.id]:
            placement = placements[option.placement]
            uplift = sum(placement.cost_uplift.get(n, 0) * lv for n, lv in child.needs.items())
            terms.add("placement_cost", var, to_pence(placement.weekly_cost))
            terms.add("cost_uplift", var, to_pence(uplift))
            terms.add("distance", var, to_pence(weights.distance_per_km * option.km))
            if not placement.in_area:
                terms.add("out_of_area", var, out_of_area)
        unplaced = to_pence(weights.unplaced * child.priority)
        terms.add_constant("unplaced", unplaced)
        for _, var in v.options[child.id]:
            terms.add("unplaced", var, -unplaced)
        if child.id in v.home:
            terms.add("unplaced", v.home[child.id], -unplaced)
        if child.status in ("settled", "at_risk"):
            term = f"move_{child.status}"
            penalty = to_pence(getattr(weights, term))
            terms.add_constant(term, penalty)
            if child.id in v.stay:
                terms.add(term, v.stay[child.id], -penalty)
    for placement_id, used in v.block_used.items():
        terms.add("placement_cost", used, -to_pence(placements[placement_id].weekly_cost))
    for (_, team), var in v.slot.items():
        terms.add("outreach", var, to_pence(teams[team].weekly_cost))
    split = to_pence(weights.sibling_split)
    for var in v.sibling_split.values():
        terms.add("sibling_split", var, split)
    terms.add_constant("block_fixed", to_pence(instance.block_fixed_cost))
    return terms
