"""A lower bound on the objective that needs no search: the relaxation that keeps only beds.

Keep only "each child has one outcome" and "a placement takes no more children than its free
beds"; drop every other constraint (rules, conflicts, sibling groups, staff, outreach slots,
moves, budget), which can only lower the optimum. What is left is a transportation problem:
``capacity_bound`` solves it exactly as a min-cost flow (children -> placements -> beds), so its
value is a lower bound on every plan's objective. Terms the flow keeps: fees (beyond block beds),
uplifts, distance, out of area, moves, unplaced and home outcomes, and the cheapest outreach fee
an option could be given; sibling split penalties are dropped (all >= 0).

The bed prices come from the Lagrangian form of the same relaxation: price every placement's
beds at ``price[p]`` instead of limiting them; for any prices >= 0,

    sum over children of min(cheapest outcome at the priced costs) - sum over placements of
    price[p] * free beds[p] + block fixed cost

is at most the optimum, and subgradient steps raise the prices of over-subscribed placements.
The prices are a rough marginal value of one more bed: an approximation, labelled as such
wherever it is shown.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from matcher.cpsat.objective import fees_on_count, move_penalty, option_pence
from matcher.eligibility import Candidates, placement_columns
from matcher.instance import Instance
from matcher.units import to_pence

ITERATIONS = 300
"""Subgradient steps, at most. On the county instance (287k pairs) 300 steps take ~1 s."""

PAIR_STEPS = 90_000_000
"""Pairs x steps the subgradient may take: fewer steps on bigger models (a step is ~60 ms on the
5,000-child instance's 5M pairs, so 300 would take 19 s; it gets 30). A count, not a clock, so
the prices, and the plans they shape, repeat."""

MIN_ITERATIONS = 30
"""Subgradient steps however big the model: fewer leave the prices near zero."""


@dataclass(frozen=True)
class CapacityBound:
    """The bound (pence) and the bed prices (pence per bed)."""

    bound: int
    prices: dict[str, float]


class _Relaxation:
    """The pairs as flat arrays, grouped by child, for fast evaluation at given prices."""

    def __init__(self, instance: Instance, cands: Candidates) -> None:
        counted = fees_on_count(instance)
        costs = dict(option_pence(instance, cands, counted))
        team_fee = {t.id: to_pence(t.weekly_cost) for t in instance.outreach_teams}
        self.placement_ids = [p.id for p in instance.placements]
        index = instance.placement_index
        self.free = np.array(
            [max(p.capacity - len(p.residents), 0) for p in instance.placements], dtype=float
        )
        self.block = np.minimum(
            [p.block_beds if p.id in counted else 0 for p in instance.placements], self.free
        )
        self.counted_fee = np.array(
            [to_pence(p.weekly_cost) if p.id in counted else 0 for p in instance.placements]
        )
        cheapest_team = functools.cache(lambda teams: min(team_fee[t] for t in teams))
        child_of, place_of, cost_of, alternative = [], [], [], []
        weights = instance.policy.weights
        for k, child in enumerate(instance.children):
            move = move_penalty(instance, child)
            unplaced = to_pence(weights.unplaced * child.priority) + move
            if child.id in cands.home_teams:  # home with the cheapest team that could go
                unplaced = min(unplaced, move + cheapest_team(cands.home_teams[child.id]))
            alternative.append(unplaced)
            options = cands.options[child.id]
            places = placement_columns(instance, options)
            fees = [0 if teams is None else cheapest_team(teams) for *_, teams in options]
            # a child must leave an ending placement
            ending = index[child.current_placement] if child.status == "ending" else -1
            kept = places != ending
            child_of.append(np.full(int(kept.sum()), k))
            place_of.append(places[kept])
            cost_of.append((costs[child.id] + np.array(fees, dtype=np.int64))[kept])
        self.child_of = np.concatenate([np.zeros(0, np.int64), *child_of])
        counts = np.bincount(self.child_of, minlength=len(instance.children))
        self.with_options = np.flatnonzero(counts)
        self.starts = (np.cumsum(counts) - counts)[self.with_options]
        self.place_of = np.concatenate([np.zeros(0, np.int64), *place_of])
        self.cost = np.concatenate([np.zeros(0), *cost_of]).astype(float)
        self.alternative = np.array(alternative, dtype=float)
        self.constant = to_pence(instance.block_fixed_cost)

    def flow(self) -> int:
        """The relaxation solved exactly: its value (pence). Nodes: children, then
        placements, then source and sink; a placement's beds reach the sink through two arcs,
        its block beds at no fee and the rest at the fee counted beyond the block."""
        n, m, pairs = len(self.alternative), len(self.free), len(self.child_of)
        source, sink = n + m, n + m + 1
        free = self.free.astype(np.int64)
        block = self.block.astype(np.int64)
        tails = np.concatenate(
            [np.full(n, source), self.child_of, np.arange(n), n + np.arange(m), n + np.arange(m)]
        )
        heads = np.concatenate(
            [np.arange(n), n + self.place_of, np.full(n, sink), np.full(2 * m, sink)]
        )
        capacities = np.concatenate([np.ones(n + pairs + n, dtype=np.int64), block, free - block])
        costs = np.concatenate(
            [np.zeros(n), self.cost, self.alternative, np.zeros(m), self.counted_fee]
        )
        network = min_cost_flow.SimpleMinCostFlow()
        network.add_arcs_with_capacity_and_unit_cost(
            tails.astype(np.int32), heads.astype(np.int32), capacities, costs.astype(np.int64)
        )
        network.set_node_supply(source, n)
        network.set_node_supply(sink, -n)
        if network.solve() != network.OPTIMAL:  # every child can always take its alternative
            raise RuntimeError("the bed relaxation has no optimal flow")
        return int(network.optimal_cost()) + self.constant

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
    """The bed relaxation's exact value, and bed prices from up to ``ITERATIONS`` subgradient
    steps (fewer on big models, ``PAIR_STEPS``; Polyak steps towards ``target``, the objective
    of a known plan, when given)."""
    relaxation = _Relaxation(instance, cands)
    exact = relaxation.flow()
    prices = np.zeros(len(relaxation.free))
    best_value, best_prices = -math.inf, prices
    scale, stalled = 2.0, 0
    steps = max(MIN_ITERATIONS, min(ITERATIONS, PAIR_STEPS // max(len(relaxation.cost), 1)))
    for _ in range(steps):
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
        bound=exact,  # the Lagrangian value never exceeds it (same relaxation, fewer terms)
        prices=dict(zip(relaxation.placement_ids, best_prices.tolist(), strict=True)),
    )
