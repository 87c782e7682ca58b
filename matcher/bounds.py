"""A lower bound on the objective that needs no search: the Lagrangian relaxation of capacity.

Keep only "each child has one outcome" and price every placement's beds at ``price[p]`` instead of
limiting them. For any prices >= 0,

    sum over children of min(cheapest outcome at the priced costs) - sum over placements of
    price[p] * free beds[p] + block fixed cost

is at most the optimum: every other constraint is dropped (which can only lower the optimum),
the dropped terms (outreach fees, split penalties, fees beyond block beds) are all >= 0, and a
plan within capacity pays at most ``price[p] * free beds[p]`` for the beds it uses. Subgradient
steps raise the prices of over-subscribed placements. The prices are also a rough marginal value
of one more bed: an approximation, labelled as such wherever it is shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from matcher.cpsat.objective import fees_on_count, move_penalty, option_costs
from matcher.eligibility import Candidates
from matcher.instance import Instance
from matcher.units import to_pence

ITERATIONS = 300
"""Subgradient steps. On the county instance (287k pairs) 300 steps take ~1 s."""


@dataclass(frozen=True)
class CapacityBound:
    """The bound (pence) and the bed prices (pence per bed) that give it."""

    bound: int
    prices: dict[str, float]


class _Relaxation:
    """The pairs as flat arrays, grouped by child, for fast evaluation at given prices."""

    def __init__(self, instance: Instance, cands: Candidates) -> None:
        costs = option_costs(instance, cands, fees_on_count(instance))
        self.placement_ids = [p.id for p in instance.placements]
        index = {pid: k for k, pid in enumerate(self.placement_ids)}
        self.free = np.array(
            [max(p.capacity - len(p.residents), 0) for p in instance.placements], dtype=float
        )
        child_of, place_of, cost_of, alternative = [], [], [], []
        weights = instance.policy.weights
        for k, child in enumerate(instance.children):
            move = move_penalty(instance, child)
            outcomes = [to_pence(weights.unplaced * child.priority) + move]
            if child.id in cands.home_teams:
                outcomes.append(move)
            alternative.append(min(outcomes))
            for option, cost in zip(cands.options[child.id], costs[child.id], strict=True):
                child_of.append(k)
                place_of.append(index[option.placement])
                cost_of.append(cost)
        self.child_of = np.array(child_of, dtype=np.int64)
        counts = np.bincount(self.child_of, minlength=len(instance.children))
        self.with_options = np.flatnonzero(counts)
        self.starts = (np.cumsum(counts) - counts)[self.with_options]
        self.place_of = np.array(place_of, dtype=np.int64)
        self.cost = np.array(cost_of, dtype=float)
        self.alternative = np.array(alternative, dtype=float)
        self.constant = to_pence(instance.block_fixed_cost)

    def evaluate(self, prices: np.ndarray) -> tuple[float, np.ndarray]:
        """The relaxation's value at ``prices`` and each placement's beds taken (the subgradient
        is taken minus free beds)."""
        priced = self.cost + prices[self.place_of]
        best = self.alternative.copy()
        if len(priced):
            cheapest = np.minimum.reduceat(priced, self.starts)
            best[self.with_options] = np.minimum(best[self.with_options], cheapest)
        value = best.sum() - float(prices @ self.free) + self.constant
        chosen = priced <= best[self.child_of]
        chosen &= priced < self.alternative[self.child_of]
        picks = np.flatnonzero(chosen)
        _, first = np.unique(self.child_of[picks], return_index=True)
        taken = np.bincount(self.place_of[picks[first]], minlength=len(self.free))
        return value, taken.astype(float)


def capacity_bound(
    instance: Instance, cands: Candidates, target: float | None = None
) -> CapacityBound:
    """The best Lagrangian bound found in ``ITERATIONS`` subgradient steps (Polyak steps towards
    ``target``, the objective of a known plan, when given)."""
    relaxation = _Relaxation(instance, cands)
    prices = np.zeros(len(relaxation.free))
    best_value, best_prices = -math.inf, prices
    scale, stalled = 2.0, 0
    for _ in range(ITERATIONS):
        value, taken = relaxation.evaluate(prices)
        if value > best_value + 1e-6:
            best_value, best_prices, stalled = value, prices, 0
        else:
            stalled += 1
            if stalled >= 20:
                scale, stalled = scale / 2, 0
        gradient = taken - relaxation.free
        gradient[(prices <= 0) & (gradient < 0)] = 0.0
        norm = float(gradient @ gradient)
        if norm == 0:
            break
        aim = target if target is not None else value * 1.05 + 1.0
        step = scale * max(aim - value, 1.0) / norm
        prices = np.maximum(prices + step * gradient, 0.0)
    return CapacityBound(
        bound=math.floor(best_value),
        prices=dict(zip(relaxation.placement_ids, best_prices.tolist(), strict=True)),
    )
