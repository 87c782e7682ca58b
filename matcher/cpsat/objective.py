"""The objective (contract section 2) in model units (pence, see ``matcher.units``).

Each variable gets one combined coefficient: for an assignment, fee + uplifts + distance +
out-of-area, minus the unplaced penalty it avoids, minus the move penalty when it is a stay. The
constant holds every child's unplaced penalty, every movable child's move penalty and the block
beds' fixed cost, so the objective value equals the contract's objective of the plan. The per-term
breakdown of a plan is recomputed exactly in ``matcher.plans``.
"""

from __future__ import annotations

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
"""Objective terms by their contract names (4.4)."""


def minimize(model: cp_model.CpModel, instance: Instance, v: Variables) -> None:
    """Set the model's objective. It is written straight into the model proto: 300k terms through
    ``model.minimize`` cost ~1.2 s of Python on the county instance, this ~0.1 s."""
    variables, coefficients, constant = objective(instance, v)
    model.clear_objective()
    proto = model.proto.objective
    proto.vars.extend([var.index for var in variables])
    proto.coeffs.extend(coefficients)
    proto.offset = constant


def objective(
    instance: Instance, v: Variables
) -> tuple[list[cp_model.IntVar], list[int], int]:
    """The whole objective as (variables, coefficients, constant), in pence."""
    weights = instance.policy.weights
    placements, teams = instance.placement_by_id, instance.team_by_id
    out_of_area = to_pence(weights.out_of_area)
    fixed = {p.id: to_pence(p.weekly_cost) + (0 if p.in_area else out_of_area) for p in placements.values()}
    variables: list[cp_model.IntVar] = []
    coefficients: list[int] = []
    constant = to_pence(instance.block_fixed_cost)
    for child in instance.children:
        unplaced = to_pence(weights.unplaced * child.priority)
        constant += unplaced
        move = 0
        if child.status in ("settled", "at_risk"):
            move = to_pence(getattr(weights, f"move_{child.status}"))
            constant += move
        for option, var in v.options[child.id]:
            uplifts = placements[option.placement].cost_uplift
            uplift = sum(uplifts.get(n, 0) * lv for n, lv in child.needs.items()) if uplifts else 0
            variables.append(var)
            coefficients.append(
                fixed[option.placement] + to_pence(uplift)
                + to_pence(weights.distance_per_km * option.km)
                - unplaced - (move if option.stay else 0)
            )
        if child.id in v.home:
            variables.append(v.home[child.id])
            coefficients.append(-unplaced)
    for placement_id, used in v.block_used.items():
        variables.append(used)
        coefficients.append(-to_pence(placements[placement_id].weekly_cost))
    for (_, team), var in v.slot.items():
        variables.append(var)
        coefficients.append(to_pence(teams[team].weekly_cost))
    for var in v.sibling_split.values():
        variables.append(var)
        coefficients.append(to_pence(weights.sibling_split))
    return variables, coefficients, constant
