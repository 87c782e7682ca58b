"""A lower bound on the objective that needs no search: the relaxation that keeps only beds
(and staff, where staff limits placements).

Keep only "each child has one outcome", "a placement takes no more children than its free
beds" and "a required sibling group's member goes only where the whole group could live"
(``compatibility.required_group_hosts``); drop every other constraint (rules, conflicts,
sibling groups, staff, outreach slots, moves, budget), which can only lower the optimum. What is
left is a transportation problem: ``capacity_bound`` solves it exactly as a min-cost flow
(children -> placements -> beds), so its value is a lower bound on every plan's objective, and
its plan (``CapacityBound.placed``) is where the greedy plan that starts large searches goes
first (``matcher.greedy``: on 5,000 children it breaks rules at only ~40 of ~2,700 placements
used). Terms
the flow keeps: fees (beyond block beds), uplifts, distance, out of area, moves, unplaced and
home outcomes, and the cheapest outreach fee an option could be given. On the county instance
the group rule raised the bound from 10.2% to 2.7% below the optimum (a required pair that no
home can take together is unplaced).

Sibling groups: at the flow's optimal bed prices (minus shortest distances in its residual
graph) the Lagrangian form below has the flow's value, and there each sibling group may choose
as one: together where a placement could take it all, all unplaced or home, or (a preferred
group) split at its penalty. That can only raise the value, and it stays a lower bound:
county 1,642k -> 1,663k (optimum 1,687.5k), county-5000 6.899M -> 7.065M. Where a huge
instance's options were capped (``eligibility.options_cap``), a child may also take the
cheapest option left out at its coefficient, using no bed: the bound holds for the whole
instance, not only the options kept.

The bed prices come from the Lagrangian form of the same relaxation: price every placement's
beds at ``price[p]`` instead of limiting them; for any prices >= 0,

    sum over children of min(cheapest outcome at the priced costs) - sum over placements of
    price[p] * free beds[p] + block fixed cost

is at most the optimum, and subgradient steps raise the prices of over-subscribed placements.
The prices are a rough marginal value of one more bed: an approximation, labelled as such
wherever it is shown.

Where placements have ``staff_capacity`` (a child uses its staff units there) and a staff limit
could bind, a flow cannot hold it: the relaxation is then the linear programme that keeps beds
and staff (``Relaxation.staff_prices``: GLOP, by column generation from the subgradient's
prices, which here price staff units too; the whole LP of a 128k-pair GAP instance took GLOP
10-15 s, the column generation ~1 s), and its duals price beds and staff units. The bound is the
Lagrangian value at those prices, valid for any prices >= 0 whatever the LP's accuracy, or the
flow's if higher. On the public GAP instances of types C-E it is 0.00-0.35% below the best known
assignments (the beds-only flow: up to 89%).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from ortools.graph.python import min_cost_flow
from ortools.linear_solver import pywraplp

from matcher.compatibility import group_hosts, required_group_hosts
from matcher.costs import fees_on_count, move_penalty
from matcher.cpsat.objective import option_pence
from matcher.eligibility import Candidates
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

STALL_STEPS = 20
FIRST_STALL_STEPS = 3
"""Steps without a better value after which the step size halves: ``FIRST_STALL_STEPS`` while
no step has yet beaten the zero prices. Polyak steps aimed at a plan far above the bound
overshoot: on 5,000 children (30 steps) none of them did, every price stayed 0 and the
shortlist was each child's cheapest options whoever else wanted them (plan 1, 60 s: £7.85M
against £7.68M with the prices from halving sooner)."""

LP_PRICED_COLUMNS = 4
LP_FRUGAL_COLUMNS = 2
"""Options per child in the staff LP before column generation: its ``LP_PRICED_COLUMNS``
cheapest at the subgradient's prices, and its ``LP_FRUGAL_COLUMNS`` that use the fewest staff
units (so the limits can be met)."""

LP_COLUMNS_ADDED = 5
"""Options per child added in a round of column generation: those most below zero at the
round's prices."""

LP_ROUNDS = 30
"""Rounds of column generation, at most: a count, not a clock, so the prices repeat. The duals
of the last round give a valid bound even when columns are still missing."""


@dataclass(frozen=True)
class CapacityBound:
    """The bound (pence) and the bed prices (pence per bed)."""

    bound: int
    prices: dict[str, float]
    """The subgradient's bed prices (the flow's where ``capacity_bound`` skipped it)."""
    staff_prices: dict[str, float] = field(default_factory=dict)
    """Pence per staff unit at placements whose staff limit binds in the relaxation."""
    alternatives: dict[str, float] = field(default_factory=dict)
    """Each child's outcome without a placement (unplaced, or home with its cheapest team), in
    pence: what its options' priced costs are weighed against."""
    flow_prices: dict[str, float] = field(default_factory=dict)
    """The flow's own optimal bed prices (pence per bed, the least such), where only beds
    bind: what the shortlist prices options at (``matcher.solve.shortlist``). ``prices`` stay
    the subgradient's, which the occupancy bound starts from: from these a tight 1,200-child
    instance's bound no longer converged in a 60 s run (0.001% short of the optimum)."""
    placed: dict[str, str] = field(default_factory=dict)
    """Where the relaxation's optimal flow puts each child it places: a plan but for the rules,
    conflicts, sibling groups, staff, outreach slots, moves and budget it drops, which
    ``matcher.greedy.greedy_plan`` can follow where they allow it."""
    _arrays: dict[bool, tuple[Instance, np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def option_prices(
        self, instance: Instance, child: str, columns: np.ndarray, exact: bool = False
    ) -> np.ndarray:
        """What each of a child's options (its placements' positions, ``columns``) uses of
        priced beds and staff units, in pence; with ``exact``, at the flow's prices where it has
        them."""
        exact = exact and bool(self.flow_prices)
        beds = self._price_array(instance, exact)[columns]
        if not self.staff_prices:
            return beds
        units = instance.child_by_id[child].staff_units
        ids = [instance.placements[j].id for j in columns.tolist()]
        return beds + np.array([self.staff_prices.get(p, 0.0) * units(p) for p in ids])

    def _price_array(self, instance: Instance, exact: bool) -> np.ndarray:
        """``flow_prices`` (``exact``) or ``prices`` in ``instance``'s placement order, made once
        for the instance."""
        made = self._arrays.get(exact)
        if made is None or made[0] is not instance:
            prices = self.flow_prices if exact else self.prices
            array = np.array([prices[p.id] for p in instance.placements], dtype=np.float64)
            made = self._arrays[exact] = (instance, array)
        return made[1]


class Relaxation:
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
        self.staff_free = np.array(
            [
                -1.0
                if p.staff_capacity is None
                else max(p.staff_capacity - sum(r.staffing for r in p.residents), 0)
                for p in instance.placements
            ]
        )
        self.staff_limit = np.maximum(self.staff_free, 0.0)
        staffed = bool((self.staff_free >= 0).any())
        child_of, place_of, cost_of, units_of, team_of = [], [], [], [], []
        alternative, unplaced_of, home_of, home_fee_of = [], [], [], []
        weights = instance.policy.weights
        whole = group_hosts(instance, cands)
        hosts = required_group_hosts(instance, cands, whole)
        for k, child in enumerate(instance.children):
            move = move_penalty(instance, child)
            unplaced = to_pence(weights.unplaced * child.priority) + move
            home_fee = 0
            if child.id in cands.home_teams:  # home with the cheapest team that could go
                home_fee = cheapest_team(cands.home_teams[child.id])
            home = move + home_fee if child.id in cands.home_teams else math.inf
            unplaced_of.append(unplaced)
            home_of.append(home)
            home_fee_of.append(home_fee)
            best = min(unplaced, home)
            if child.id in cands.left_out:  # an option the cap left out, with no bed used
                best = min(best, cands.left_out[child.id])
            alternative.append(best)
            options = cands.options[child.id]
            places = cands.arrays(instance, child.id).columns
            fees = [0 if o.teams is None else cheapest_team(o.teams) for o in options]
            # a child must leave an ending placement
            ending = index[child.current_placement] if child.status == "ending" else -1
            kept = places != ending
            if child.id in hosts:  # a required group's member only where all of it fits
                kept &= np.isin(places, [index[p] for p in hosts[child.id]])
            child_of.append(np.full(int(kept.sum()), k))
            place_of.append(places[kept])
            team_of.append(np.array(fees, dtype=np.int64)[kept])
            cost_of.append(costs[child.id][kept] + team_of[-1])
            if staffed:  # staff units matter only where staff limits a placement
                units = [child.staff_units(option.placement) for option in options]
                units_of.append(np.array(units, dtype=float)[kept])
            else:
                units_of.append(np.ones(int(kept.sum())))
        self.child_of = np.concatenate([np.zeros(0, np.int64), *child_of])
        counts = np.bincount(self.child_of, minlength=len(instance.children))
        self.with_options = np.flatnonzero(counts)
        self.starts = (np.cumsum(counts) - counts)[self.with_options]
        self.place_of = np.concatenate([np.zeros(0, np.int64), *place_of])
        self.cost = np.concatenate([np.zeros(0), *cost_of]).astype(float)
        self.units = np.concatenate([np.zeros(0), *units_of])
        self.team_fee = np.concatenate([np.zeros(0), *team_of]).astype(float)
        """Per pair: the cheapest outreach fee its cost includes (pence)."""
        self.alternative = np.array(alternative, dtype=float)
        self.unplaced = np.array(unplaced_of, dtype=float)
        """Per child: unplaced, with its move penalty (pence)."""
        self.home = np.array(home_of, dtype=float)
        """Per child: home with its cheapest team, with its move penalty (pence; inf if none)."""
        self.home_fee = np.array(home_fee_of, dtype=float)
        """Per child: that team's fee (pence; 0 if none)."""
        self.constant = to_pence(instance.block_fixed_cost)
        self.groups = _sibling_groups(instance, cands, self, whole)
        self.split = to_pence(weights.sibling_split)

    def flow(self) -> tuple[int, np.ndarray, np.ndarray]:
        """The relaxation solved exactly: its value (pence), the pairs it uses (indices) and
        optimal bed prices (pence per bed, ``_bed_prices``). Nodes: children, then placements,
        then source and sink; a placement's beds reach the sink through two arcs, its block
        beds at no fee and the rest at the fee counted beyond the block."""
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
        flows = network.flows(np.arange(len(tails)))
        used = np.flatnonzero(flows[n : n + pairs])
        residual = slice(n, len(tails))  # the source's arcs are all full, and lead nowhere
        prices = _bed_prices(
            tails[residual],
            heads[residual],
            costs[residual],
            flows[residual] < capacities[residual],
            flows[residual] > 0,
            sink,
        )[n : n + m]
        return int(network.optimal_cost()) + self.constant, used, prices

    def best_outcomes(self, priced: np.ndarray) -> np.ndarray:
        """Each child's cheapest outcome when its options cost ``priced``."""
        best = self.alternative.copy()
        if len(priced):
            cheapest = np.minimum.reduceat(priced, self.starts)
            best[self.with_options] = np.minimum(best[self.with_options], cheapest)
        return best

    def evaluate(self, prices: np.ndarray) -> tuple[float, np.ndarray]:
        """The relaxation's value at ``prices`` (beds, then staff units, per placement) and its
        subgradient: each placement's beds taken minus its free beds, then staff units used
        minus those free (zero where staff does not limit the placement)."""
        m = len(self.free)
        beds, staff = prices[:m], prices[m:]
        priced = self.cost + beds[self.place_of] + staff[self.place_of] * self.units
        best = self.best_outcomes(priced)
        value = best.sum() - float(beds @ self.free) - float(staff @ self.staff_limit)
        chosen = priced <= best[self.child_of]
        chosen &= priced < self.alternative[self.child_of]
        picks = np.flatnonzero(chosen)
        _, first = np.unique(self.child_of[picks], return_index=True)
        picked = picks[first]
        taken = np.bincount(self.place_of[picked], minlength=m)
        used = np.bincount(self.place_of[picked], weights=self.units[picked], minlength=m)
        used = np.where(self.staff_free >= 0, used - self.staff_limit, 0.0)
        return value + self.constant, np.concatenate([taken - self.free, used])

    def lagrangian_value(self, beds: np.ndarray, staff: np.ndarray) -> float:
        """The Lagrangian value with beds priced at ``beds`` and staff units at ``staff`` (both
        >= 0): a lower bound for any such prices. Beds beyond a block are paid at their fee
        instead of priced when the fee is lower. Sibling groups choose as one
        (``_groups_extra``)."""
        priced = self.cost + beds[self.place_of] + staff[self.place_of] * self.units
        best = self.best_outcomes(priced)
        beyond = np.minimum(self.counted_fee - beds, 0.0) @ (self.free - self.block)
        extra = self._groups_extra(priced, best)
        return float(
            best.sum()
            + extra
            - beds @ self.block
            + beyond
            - staff @ self.staff_limit
            + self.constant
        )

    def _groups_extra(self, priced: np.ndarray, best: np.ndarray) -> float:
        """What sibling groups add when each chooses as one at the ``priced`` costs, beyond
        their members' own cheapest outcomes ``best``: together at a placement that could take
        them all, all unplaced or all home, or (a preferred group) each its cheapest with the
        split penalty. A plan's group takes one of these, so the value stays a lower bound. On
        county-5000 at the flow's prices: +£146k (2.1%)."""
        extra = 0.0
        for group in self.groups:
            own = float(best[group.members].sum())
            outcomes = [
                float(self.unplaced[group.members].sum()),
                float(self.home[group.members].sum()),
            ]
            if not group.required:
                outcomes.append(own + self.split)
            if group.pairs.size:
                outcomes.append(float(priced[group.pairs].sum(axis=0).min()))
            extra += max(min(outcomes) - own, 0.0)
        return extra

    def staff_rows(self) -> np.ndarray:
        """Placements whose staff limit could bind: their options ask for more staff units than
        they have free."""
        demand = np.bincount(self.place_of, weights=self.units, minlength=len(self.free))
        return np.flatnonzero((self.staff_free >= 0) & (demand > self.staff_free))

    def staff_prices(
        self, guess: np.ndarray, staff_rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Bed and staff-unit prices (pence) from the duals of the linear programme that keeps
        beds and the staff limits of the placements ``staff_rows``, or None if GLOP gives up.
        Column generation: each child starts with its cheapest options at the subgradient's
        prices ``guess`` and gains those priced below zero, for ``LP_ROUNDS`` rounds."""
        m = len(self.free)
        lp = _StaffLp(self, staff_rows)
        guessed = self.cost + guess[:m][self.place_of] + guess[m:][self.place_of] * self.units
        first = per_child(self.child_of, guessed, LP_PRICED_COLUMNS)
        frugal = per_child(self.child_of, self.units, LP_FRUGAL_COLUMNS)
        lp.add(np.union1d(first, frugal))
        for _ in range(LP_ROUNDS):
            duals = lp.solve()
            if duals is None:
                return None
            children, beds, staff = duals
            reduced = self.cost + beds[self.place_of] + staff[self.place_of] * self.units
            reduced -= children[self.child_of]
            below = (reduced < -1e-6) & ~lp.has
            if not below.any():
                break
            picked = np.flatnonzero(below)
            chosen = per_child(self.child_of[picked], reduced[picked], LP_COLUMNS_ADDED)
            lp.add(picked[chosen])
        return beds, staff


class _Group(NamedTuple):
    """A sibling group of two or more members as the relaxation sees it."""

    members: np.ndarray
    """Its children (indices)."""
    required: bool
    pairs: np.ndarray
    """Members x placements that could take them all (``compatibility.group_hosts``): indices
    into the relaxation's pairs."""


def _sibling_groups(
    instance: Instance,
    cands: Candidates,
    relaxation: Relaxation,
    hosts: dict[str, frozenset[str]],
) -> list[_Group]:
    """The groups whose outcomes the relaxation can list, with their ``hosts``
    (``compatibility.group_hosts``): those with a member whose options were capped
    (``eligibility.options_cap``) could be together where it has no pair, and are left out."""
    index = {child.id: k for k, child in enumerate(instance.children)}
    places = instance.placement_index
    ends = np.searchsorted(relaxation.child_of, np.arange(len(instance.children) + 1))
    groups = []
    for group in instance.sibling_groups:
        ids = instance.sibling_members.get(group.id, [])
        if group.id not in hosts or any(member in cands.left_out for member in ids):
            continue
        members = np.array([index[member] for member in ids])
        able = np.array(sorted(places[p] for p in hosts[group.id]), dtype=np.int64)
        pairs = np.zeros((len(members), len(able)), dtype=np.int64)
        for row, k in enumerate(members):
            own = np.arange(ends[k], ends[k + 1])
            order = np.argsort(relaxation.place_of[own])
            at = np.searchsorted(relaxation.place_of[own][order], able)
            pairs[row] = own[order][at]  # every host is among every member's pairs
        groups.append(_Group(members, group.together == "required", pairs))
    return groups


def _bed_prices(
    tails: np.ndarray,
    heads: np.ndarray,
    costs: np.ndarray,
    forward: np.ndarray,
    backward: np.ndarray,
    sink: int,
) -> np.ndarray:
    """Optimal duals of a min-cost flow, from its residual graph (arcs with room ``forward``, at
    their cost; arcs with flow ``backward``, at minus it): minus each node's shortest distance
    from ``sink``, by Bellman-Ford sweeps over the arcs out of nodes whose distance changed. An
    optimal flow leaves no negative cycle, so the sweeps end; a placement's price is then >= 0,
    and 0 where beds are left. County-5000: 75 sweeps, ~1.5 s."""
    tail = np.concatenate([tails[forward], heads[backward]])
    head = np.concatenate([heads[forward], tails[backward]])
    cost = np.concatenate([costs[forward], -costs[backward]]).astype(float)
    order = np.argsort(tail, kind="stable")
    tail, head, cost = tail[order], head[order], cost[order]
    nodes = int(max(tails.max(initial=0), heads.max(initial=0), sink)) + 1
    starts = np.searchsorted(tail, np.arange(nodes + 1))
    distance = np.full(nodes, np.inf)
    distance[sink] = 0.0
    changed = np.array([sink])
    while len(changed):
        lengths = starts[changed + 1] - starts[changed]
        arcs = np.repeat(starts[changed] - np.cumsum(lengths) + lengths, lengths)
        arcs += np.arange(len(arcs))
        reached = distance[tail[arcs]] + cost[arcs]
        before = distance.copy()
        np.minimum.at(distance, head[arcs], reached)
        changed = np.flatnonzero(distance < before)
    return np.where(np.isfinite(distance), np.maximum(-distance, 0.0), 0.0)


LP_SCALE = 100.0
"""The staff LP is stated in pounds, not pence: with unplaced penalties of ~1.8e7 pence beside
costs of 100, GLOP stopped as ABNORMAL on the GAP instance d801600."""


ALTERNATIVE_CAP = 10.0
"""In the staff LP, a child's unplaced or home outcome costs at most this many times the
dearest option."""


class _StaffLp:
    """The beds-and-staff linear programme on a growing set of a relaxation's pairs (GLOP), in
    pounds (``LP_SCALE``); its duals are returned in pence."""

    def __init__(self, relaxation: Relaxation, staff_rows: np.ndarray) -> None:
        self.relaxation = r = relaxation
        self.solver = solver = pywraplp.Solver.CreateSolver("GLOP")
        infinity = solver.infinity()
        m = len(r.free)
        self.has = np.zeros(len(r.cost), dtype=bool)
        self.child_rows = [solver.Constraint(1, 1) for _ in r.alternative]
        counts = np.bincount(r.place_of, minlength=m)
        self.bed_rows = {
            int(p): solver.Constraint(-infinity, float(r.block[p]))
            for p in np.flatnonzero(counts > r.block)
        }
        self.staff_rows = {
            int(p): solver.Constraint(-infinity, float(r.staff_free[p])) for p in staff_rows
        }
        objective = solver.Objective()
        # Unplaced (or home) at no more than ALTERNATIVE_CAP x the dearest option: a lower cost
        # keeps the LP a relaxation, and GLOP stopped as ABNORMAL with penalties ~1e6 times
        # the costs (GAP instance e401600). The bound itself uses the true costs.
        cap = ALTERNATIVE_CAP * max(float(r.cost.max(initial=0.0)), 1.0)
        for row, alternative in zip(self.child_rows, r.alternative, strict=True):
            var = solver.NumVar(0, 1, "")  # unplaced, or home
            row.SetCoefficient(var, 1)
            objective.SetCoefficient(var, min(float(alternative), cap) / LP_SCALE)
        for p, row in self.bed_rows.items():  # beds beyond the block, at the counted fee
            paid = solver.NumVar(0, float(r.free[p] - r.block[p]), "")
            row.SetCoefficient(paid, -1)
            objective.SetCoefficient(paid, float(r.counted_fee[p]) / LP_SCALE)
        objective.SetMinimization()

    def add(self, pairs: np.ndarray) -> None:
        """Columns for ``pairs`` (indices into the relaxation's arrays) not yet in."""
        r, solver = self.relaxation, self.solver
        objective = solver.Objective()
        for q in pairs[~self.has[pairs]].tolist():
            var = solver.NumVar(0, 1, "")
            self.child_rows[r.child_of[q]].SetCoefficient(var, 1)
            place = int(r.place_of[q])
            if place in self.bed_rows:
                self.bed_rows[place].SetCoefficient(var, 1)
            if place in self.staff_rows:
                self.staff_rows[place].SetCoefficient(var, float(r.units[q]))
            objective.SetCoefficient(var, float(r.cost[q]) / LP_SCALE)
        self.has[pairs] = True

    def solve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Duals: per child, and prices >= 0 per placement for beds and for staff units."""
        if self.solver.Solve() != pywraplp.Solver.OPTIMAL:
            return None
        m = len(self.relaxation.free)
        children = np.array([row.dual_value() for row in self.child_rows])
        beds, staff = np.zeros(m), np.zeros(m)
        for p, row in self.bed_rows.items():
            beds[p] = max(0.0, -row.dual_value())
        for p, row in self.staff_rows.items():
            staff[p] = max(0.0, -row.dual_value())
        return children * LP_SCALE, beds * LP_SCALE, staff * LP_SCALE


FLOAT_TOLERANCE = 1e-7
"""Relative error allowed in the Lagrangian value's float sums (GAP: £11 came out as
1099.9999999 pence)."""


def whole_pence(value: float) -> int:
    """A bound in whole pence: every plan's objective is whole pence, so a bound rounds up,
    less the float tolerance."""
    return math.ceil(value - FLOAT_TOLERANCE * max(abs(value), 1.0))


def per_child(child_of: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest ``values`` of each child (ties to the earlier index);
    ``child_of`` is sorted."""
    order = np.lexsort((values, child_of))
    groups = child_of[order]
    starts = np.searchsorted(groups, groups, side="left")
    return order[np.arange(len(order)) - starts < k]


def capacity_bound(
    instance: Instance, cands: Candidates, target: float | None = None, subgradient: bool = True
) -> CapacityBound:
    """The bed relaxation's exact value and plan, and its bed prices: ``_subgradient``'s
    (``target``: the objective of a known plan, for its Polyak steps), and the flow's own where
    only beds bind; where staff could bind too, the staff LP's, found from the subgradient's.
    Without ``subgradient`` (for a caller that prices options at the flow's prices alone) and
    where only beds bind, ``prices`` are the flow's too: its 30 steps took 3.7 s of a 60 s run
    on county-5000."""
    relaxation = Relaxation(instance, cands)
    flow_value, used, flow_prices = relaxation.flow()
    # at the flow's (optimal) prices the Lagrangian value is the flow's, plus what sibling
    # groups add choosing as one
    grouped = relaxation.lagrangian_value(flow_prices, np.zeros_like(flow_prices))
    exact = max(flow_value, whole_pence(grouped))
    ids = relaxation.placement_ids
    children = [c.id for c in instance.children]
    pairs = zip(relaxation.child_of[used].tolist(), relaxation.place_of[used].tolist(), strict=True)
    placed = {children[k]: ids[p] for k, p in pairs}
    alternatives = dict(
        zip((c.id for c in instance.children), relaxation.alternative.tolist(), strict=True)
    )
    flow_priced = dict(zip(ids, flow_prices.tolist(), strict=True))
    staff_rows = relaxation.staff_rows()
    if not subgradient and not len(staff_rows):
        return CapacityBound(
            bound=exact,
            prices=flow_priced,
            alternatives=alternatives,
            flow_prices=flow_priced,
            placed=placed,
        )
    best_prices = _subgradient(relaxation, target)
    staffed = relaxation.staff_prices(best_prices, staff_rows) if len(staff_rows) else None
    if staffed is not None:  # the LP's prices, and its bound if above the flow's
        beds, staff = staffed
        value = relaxation.lagrangian_value(beds, staff)
        return CapacityBound(
            bound=max(exact, whole_pence(value)),
            prices=dict(zip(ids, beds.tolist(), strict=True)),
            staff_prices={ids[p]: float(staff[p]) for p in np.flatnonzero(staff)},
            alternatives=alternatives,
            placed=placed,
        )
    m = len(relaxation.free)
    beds_alone = not len(staff_rows)  # else the staff LP gave up
    return CapacityBound(
        bound=exact,
        prices=dict(zip(ids, best_prices[:m].tolist(), strict=True)),
        alternatives=alternatives,
        flow_prices=flow_priced if beds_alone else {},
        placed=placed,
    )


def _subgradient(relaxation: Relaxation, target: float | None) -> np.ndarray:
    """Bed and staff-unit prices from up to ``ITERATIONS`` subgradient steps on the Lagrangian
    (fewer on big models, ``PAIR_STEPS``; Polyak steps towards ``target``, a known plan's
    objective, when given): the prices the occupancy bound starts from and, where staff
    limits placements, what picks the staff LP's first columns."""
    m = len(relaxation.free)
    prices = start = np.zeros(2 * m)
    best_value, best_prices = -math.inf, prices
    scale, stalled = 2.0, 0
    steps = max(MIN_ITERATIONS, min(ITERATIONS, PAIR_STEPS // max(len(relaxation.cost), 1)))
    for _ in range(steps):
        value, gradient = relaxation.evaluate(prices)
        if value > best_value + 1e-6:
            best_value, best_prices, stalled = value, prices, 0
        else:
            stalled += 1
            if stalled >= (STALL_STEPS if best_prices is not start else FIRST_STALL_STEPS):
                scale, stalled = scale / 2, 0
        gradient[(prices <= 0) & (gradient < 0)] = 0.0
        norm = float(gradient @ gradient)
        if norm == 0:
            break
        aim = target if target is not None else value * 1.05 + 1.0
        step = scale * max(aim - value, 1.0) / norm
        prices = np.maximum(prices + step * gradient, 0.0)
    return best_prices
