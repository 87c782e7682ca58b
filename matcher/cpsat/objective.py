"""The objective (contract section 2) in model units (pence, see ``matcher.units``).

Every coefficient is non-negative, which keeps CP-SAT's bounds and LP well conditioned: each
child's ``unplaced`` literal carries the unplaced penalty, every outcome other than a stay carries
a movable child's move penalty (contract 4.1: home and unplaced are moves too), and at a placement
with block beds the fee is charged on ``fees_paid`` (children beyond the block) rather than on each
assignment. The only constant is the block beds' fixed cost, so the objective value equals the
contract's objective of the plan. The per-term breakdown is recomputed exactly in ``matcher.plans``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from matcher.costs import fixed_pence, move_penalty, pair_pence
from matcher.cpsat.variables import Variables
from matcher.domain import Child
from matcher.eligibility import Candidates
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
    indices, coefficients, constant = objective(instance, v)
    model.clear_objective()
    proto = model.proto.objective
    proto.vars.extend(indices)
    proto.coeffs.extend(coefficients)
    proto.offset = constant


def option_costs(
    instance: Instance, cands: Candidates, counted_fees: Collection[str]
) -> dict[str, list[int]]:
    """Each child's objective coefficient (pence) per option, in ``cands.options`` order: fee,
    uplift, distance, out of area, and the move penalty unless the option is a stay. Placements in
    ``counted_fees`` charge their fee on the count of children beyond the block instead."""
    return {child: pence.tolist() for child, pence in option_pence(instance, cands, counted_fees)}


def option_pence(
    instance: Instance, cands: Candidates, counted_fees: Collection[str]
) -> Iterator[tuple[str, npt.NDArray[np.int64]]]:
    """``option_costs`` as one array per child, child by child (for array work on millions of
    pairs)."""
    fixed = fixed_pence(instance, counted_fees)
    for child_id in cands.options:
        columns, km, stays = cands.arrays(instance, child_id)
        child = instance.child_by_id[child_id]
        yield child_id, pair_pence(instance, child, fixed, columns, km, stays)


def placement_costs(
    instance: Instance, child: Child, km: Sequence[float], stay: int | None
) -> list[int]:
    """``option_costs`` for one child at every placement, eligible or not, in placement order
    (``km`` to each; ``stay`` the index of its stay, if any), every fee charged per child."""
    columns = np.arange(len(instance.placements))
    stays = np.zeros(len(columns), dtype=bool)
    if stay is not None:
        stays[stay] = True
    fixed = fixed_pence(instance, ())
    return pair_pence(instance, child, fixed, columns, np.asarray(km), stays).tolist()


def objective(instance: Instance, v: Variables) -> tuple[list[int], list[int], int]:
    """The whole objective as (variable indices, coefficients, constant), in pence. A child's
    assignments are consecutive from ``v.first_index`` (reading 287k ``var.index`` cost ~0.2 s)."""
    weights = instance.policy.weights
    placements, teams = instance.placement_by_id, instance.team_by_id
    cands = Candidates(
        {child: [option for option, _ in pairs] for child, pairs in v.options.items()}, {}
    )
    costs = option_costs(instance, cands, v.fees_paid)
    indices: list[int] = []
    coefficients: list[int] = []
    for child in instance.children:
        move = move_penalty(instance, child)
        indices.append(v.unplaced[child.id].index)
        coefficients.append(to_pence(weights.unplaced * child.priority) + move)
        first = v.first_index[child.id]
        indices.extend(range(first, first + len(v.options[child.id])))
        coefficients.extend(costs[child.id])
        if child.id in v.home:
            indices.append(v.home[child.id].index)
            coefficients.append(move)
    for placement_id, paid in v.fees_paid.items():
        indices.append(paid.index)
        coefficients.append(to_pence(placements[placement_id].weekly_cost))
    for (_, team), var in v.slot.items():
        indices.append(var.index)
        coefficients.append(to_pence(teams[team].weekly_cost))
    for var in v.sibling_split.values():
        indices.append(var.index)
        coefficients.append(to_pence(weights.sibling_split))
    return indices, coefficients, to_pence(instance.block_fixed_cost)
