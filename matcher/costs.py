"""What one child at one placement adds to the objective (contract section 2), in pence: the
arithmetic the model's coefficients, the bound and the option cap share.

A pair's coefficient is the placement's fee (unless its fee is charged on the count of children
beyond its block beds), the child's cost uplift there, distance, out of area, and the child's
move penalty unless the pair is its stay. Outreach fees are per slot, not per pair.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import numpy.typing as npt

from matcher.domain import Child
from matcher.instance import Instance
from matcher.units import PENCE_PER_POUND, rounded_pence, to_pence


def fees_on_count(instance: Instance) -> set[str]:
    """Placements with block beds and a fee: the model charges their fee on the count of children
    beyond the block (``Variables.fees_paid``), not on each assignment."""
    return {p.id for p in instance.placements if p.block_beds and p.weekly_cost}


def fee_pence(instance: Instance, counted_fees: Collection[str]) -> npt.NDArray[np.int64]:
    """Each placement's fee a child, in pence: 0 for those in ``counted_fees``, whose fee is
    charged on the count beyond their block beds instead."""
    fees = PENCE_PER_POUND * instance.weekly_costs
    if counted_fees:
        counted = np.array([p.id in counted_fees for p in instance.placements], dtype=bool)
        fees = np.where(counted, 0, fees)
    return fees


def fixed_pence(instance: Instance, counted_fees: Collection[str]) -> npt.NDArray[np.int64]:
    """Each placement's fee (``fee_pence``) and out-of-area penalty, in pence."""
    out_of_area = to_pence(instance.policy.weights.out_of_area)
    in_area = np.array([p.in_area for p in instance.placements], dtype=bool)
    return fee_pence(instance, counted_fees) + np.where(in_area, 0, out_of_area)


def pair_pence(
    instance: Instance,
    child: Child,
    fixed: npt.NDArray[np.int64],
    columns: npt.NDArray[np.int64],
    km: npt.NDArray[np.float64],
    stay: npt.NDArray[np.bool_],
) -> npt.NDArray[np.int64]:
    """The child's coefficient at the placements ``columns`` (pence), ``fixed`` from
    ``fixed_pence``."""
    levels = np.array([child.needs.get(need, 0) for need in instance.meta.needs], dtype=np.int64)
    return (
        fixed[columns]
        + PENCE_PER_POUND * (levels @ instance.cost_uplift_matrix[:, columns])  # whole pounds
        + rounded_pence(instance.policy.weights.distance_per_km * km)
        + np.where(stay, 0, move_penalty(instance, child))
    )


def move_penalty(instance: Instance, child: Child) -> int:
    """The move penalty (pence) a child pays for any outcome but its stay (contract 4.1)."""
    if child.status in ("settled", "at_risk"):
        return to_pence(getattr(instance.policy.weights, f"move_{child.status}"))
    return 0
