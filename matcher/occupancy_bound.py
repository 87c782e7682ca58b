"""A stronger lower bound: the relaxation that keeps each placement's household rules whole.

The bed relaxation (``matcher.bounds``) lets a home of two beds take any two children; on county
the plan it finds breaks 34 rules (harmful sexual behaviour, sole occupancy, required sibling
groups) and splits preferred sibling groups, which is why its bound sat ~12% under the plans.
Here a placement may take only a set of children who could really live there together: within
its free beds and staff, no conflict pair, every policy rule held with its residents, required
sibling groups whole, a preferred group's split penalty waived only when the whole group is
there, and fees beyond block beds paid. Priced instead of held: that each child has exactly one
outcome (``lam[c]`` per child), ``max_moves`` (``move`` per move of a settled or at-risk
child) and the weekly budget (``money`` per penny of fees, uplifts and outreach fees). Dropped:
outreach team slots.

For any child prices ``lam``, move price ``move >= 0`` (pence) and money price ``money >= 0``
(pence a penny), the Lagrangian value

    sum(lam) - move * max_moves - money * budget
      + sum over placements of min over allowed sets S of
            (cost(S) + move * moves(S) + money * spent(S) - lam(S))
      + each child's (or sibling group's) alternative (+ move if it moves, + money * its
        team's fee if home) below its price

is at most every plan's objective (``_Pricing.value``). The best prices are found by column
generation (Dantzig-Wolfe; CLP on the master LP of allowed sets, "patterns", with a row for
``max_moves``), with Wentges smoothing towards the best prices so far: each round prices the
sets at a point between those and the master's duals, and adds the sets that improve the
master. Each placement's best set is found exactly by branch and bound (``_Households.best``);
where a search would exceed ``NODE_LIMIT`` nodes its fractional (beds-only) value stands in,
which keeps the bound valid. On county (1,200 children) the bound converges to £1,687,483 in
~65 rounds, 12 s (the bed flow: £1,514,605; HiGHS's own bound after 900 s on the whole MIP:
£1,683,315; the best plan known: £1,687,521). Pricing moves matters where ``max_moves`` binds:
on a 1,200-child tight instance the master LP without it moved 69 settled children against a
limit of 21 and the bound sat 14% under the plans; with it, 0.001%.

At the converged prices a plan's objective is the Lagrangian value plus, per placement, how far
its household lies above the placement's best set, plus terms that are never negative (children
outside a placement above their price, moves left unused). So a household lying a gap or more
above its placement's best is in no plan within that gap of the bound: ``window_households``
lists the others (reduced-cost fixing, on whole households), among which
``matcher.master_plan.proven_plan`` proves the optimum. On county a window 0.002% wide holds
15k households of the millions possible.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import NamedTuple

import numpy as np
from ortools.linear_solver import pywraplp

from matcher.bounds import CapacityBound, Relaxation, per_child, whole_pence
from matcher.compatibility import may_join
from matcher.costs import fee_pence, fees_on_count
from matcher.eligibility import Candidates
from matcher.instance import Instance
from matcher.plans import Outcome
from matcher.units import to_pence

NODE_LIMIT = 5_000
"""Branch-and-bound nodes a placement's set search may take before its fractional value
stands in for it (a lower bound, so still valid)."""

SMOOTHING = 0.8
"""Wentges smoothing: sets are priced at ``SMOOTHING`` x the best prices so far plus the rest x
the master's duals; lowered by ``SMOOTHING_STEP`` whenever that point yields no new set."""

SMOOTHING_STEP = 0.2

CONVERGED = 1e-5
"""Relative gap between the master LP and the best Lagrangian value at which the rounds stop."""

STARTING_SINGLES = 2
"""Each child's cheapest options at the bed prices, as one-child sets in the first master."""

MASTER_LP = "CLP"
"""The master LP's solver. Its many optimal duals differ by solver: on county CLP's reached
£1.68M in 29 rounds and converged in 57 (0.15 s a solve), GLOP's in 43 and 88 (0.22 s)."""


def _master_parameters() -> pywraplp.MPSolverParameters:
    """Each round re-solves the master from the last round's basis by primal simplex, which new
    columns leave feasible, without presolve, which would set the basis aside. CLP's own choice
    (presolve, then its pick of algorithm): county-1000 converged in 134 rounds of 0.37 s (0.30 s
    of it the LP), tight-1200 in 80 of 0.27 s; from the basis, 73 of 0.17 s and 63 of 0.20 s.
    County (68-77 rounds of ~0.23 s) and county-2000 (80-92 of ~0.85 s) about the same
    (benchmarks/README.md)."""
    parameters = pywraplp.MPSolverParameters()
    parameters.SetIntegerParam(parameters.PRESOLVE, parameters.PRESOLVE_OFF)
    parameters.SetIntegerParam(parameters.LP_ALGORITHM, parameters.PRIMAL)
    return parameters


WINDOW_LIMIT = 60_000
"""Households (and search nodes a placement) ``window_households`` may take before it gives
up: county's windows hold 7.8k and 15k; one of 46k took 3 s to list and CP-SAT more than the
proof's time to search."""

LP_SCALE = 100.0
"""The master LP is stated in pounds (its duals are returned in pence), as the staff LP is."""


class Household(NamedTuple):
    """A column of the master LP: children sharing a placement (index), or, with ``place``
    None, children taking their alternative outcomes; its objective (pence, each team fee at
    the cheapest team) and its value in the master LP's last solution."""

    place: int | None
    members: tuple[int, ...]
    cost: float
    value: float


@dataclass(frozen=True)
class OccupancyBound:
    """The bound (pence), the rounds of column generation it took, whether they met the
    master LP's value (else more rounds could raise it), and how many placement set searches
    were cut at ``NODE_LIMIT`` (their fractional value stood in: the bound holds, but is
    weaker)."""

    bound: int
    rounds: int
    converged: bool
    searches_cut: int = 0
    stopped: bool = False
    """``stop`` ended the rounds (the clock or the caller), not convergence or ``rounds``."""
    value: float = 0.0
    """The best Lagrangian value found (pence, unrounded; ``bound`` is its whole pence)."""
    prices: np.ndarray | None = None
    """The prices it was found at (per child, then a move's, then a penny of weekly money's),
    for ``window_households``."""
    constant: float = 0.0
    """The terms of ``value`` no household changes (pence): what the master's costs leave
    out."""


Heard = Callable[[tuple[Household, ...], OccupancyBound | None], None]
"""Hears the master's columns with their LP values, and the bound when the rounds converged
there (its prices are then the master's optimum, ``window_households``), else None."""


@dataclass(frozen=True)
class _Group:
    members: tuple[int, ...]
    required: bool
    bonus: float
    """The split penalty (pence) waived when the members share an outcome: preferred groups."""


class _Households:
    """Which sets of children may live at each placement, and the cheapest such set at given
    reduced costs. Pairwise tests (conflicts, sole occupancy, harmful sexual behaviour,
    incompatible needs) are cached per pair of children and per child and placement (with the
    residents); ``max_per_placement`` is counted against the room residents leave."""

    def __init__(self, instance: Instance, relaxation: Relaxation) -> None:
        self.rel = relaxation
        self.children = instance.children
        rules = instance.policy.rules
        self.pair_rules = rules.model_copy(update={"max_per_placement": []})
        index = {c.id: k for k, c in enumerate(self.children)}
        self.conflicts = {(index[c.a], index[c.b]) for c in instance.conflicts}
        self.conflicts |= {(b, a) for a, b in self.conflicts}
        self.residents = [list(p.residents) for p in instance.placements]
        limits = rules.max_per_placement
        self.counted = [  # per rule: the children it counts
            {k for k, c in enumerate(self.children) if c.needs.get(r.need, 0) >= r.min_level}
            for r in limits
        ]
        self.rules_of = [  # per child: the rules that count it
            tuple(i for i, counted in enumerate(self.counted) if k in counted)
            for k in range(len(self.children))
        ]
        self.room_at = np.array(  # per rule and placement: room the residents leave
            [
                [r.max - sum(x.needs.get(r.need, 0) >= r.min_level for x in p.residents)]
                for r in limits
                for p in instance.placements
            ],
            dtype=int,
        ).reshape(len(limits), len(instance.placements))
        self._pairs: dict[tuple[int, int], bool] = {}
        self._with_residents: dict[tuple[int, int], bool] = {}
        self.base_rooms = [
            _Room(int(beds), float(staff), int(block), float(fee))
            for beds, staff, block, fee in zip(
                relaxation.free,
                relaxation.staff_free,
                relaxation.block,
                relaxation.counted_fee,
                strict=True,
            )
        ]
        self.rooms = self.base_rooms
        """The rooms as the sets are priced: fees beyond the block at ``price_fees``."""
        self.searches_cut = 0

    def price_fees(self, money: float) -> None:
        """Price each fee beyond a block at ``1 + money`` times itself: the fee is weekly money
        too, priced at ``money`` a penny where the budget is relaxed (``_Pricing``)."""
        self.rooms = [room._replace(fee=room.fee * (1.0 + money)) for room in self.base_rooms]

    def _pair_ok(self, a: int, b: int) -> bool:
        key = (a, b) if a < b else (b, a)
        ok = self._pairs.get(key)
        if ok is None:
            ok = key not in self.conflicts and may_join(
                self.children[a], [self.children[b]], self.pair_rules
            )
            self._pairs[key] = ok
        return ok

    def _resident_ok(self, k: int, p: int) -> bool:
        ok = self._with_residents.get((k, p))
        if ok is None:
            residents = self.residents[p]
            ok = not residents or may_join(self.children[k], residents, self.pair_rules)
            ok = ok and all(self.room_at[i, p] > 0 for i in self.rules_of[k])
            self._with_residents[(k, p)] = ok
        return ok

    def allows(self, p: int, pair: int) -> bool:
        """Whether the child of ``pair`` may live at placement ``p`` on its own."""
        child, units, room = (
            int(self.rel.child_of[pair]),
            float(self.rel.units[pair]),
            self.rooms[p],
        )
        fits = room.beds >= 1 and (room.staff < 0 or units <= room.staff)
        return fits and self.may_add((child,), [], p)

    def may_add(self, members: tuple[int, ...], ours: list[int], p: int) -> bool:
        """Whether ``members`` may join ``ours`` at placement ``p`` (residents included)."""
        joined = list(ours)
        pair_ok, counted = self._pair_ok, False
        for k in members:
            if not self._resident_ok(k, p) or not all(pair_ok(k, o) for o in joined):
                return False
            joined.append(k)
            counted = counted or bool(self.rules_of[k])
        if counted:
            for i in {i for k in members for i in self.rules_of[k]}:
                if sum(k in self.counted[i] for k in joined) > self.room_at[i, p]:
                    return False
        return True

    def best(self, p: int, items: _Items) -> tuple[float, list[_Item]]:
        """The least total reduced cost of a set of ``items`` placement ``p`` may take (fees
        beyond its block beds included), and the items. Exact, unless the search would pass
        ``NODE_LIMIT`` nodes: then the fractional value (beds alone, a lower bound) and the
        best set found."""
        room = self.rooms[p]
        if not len(items) or room.beds <= 0:
            return 0.0, []
        taken, clean = _greedy(self, p, items, room)
        if clean:
            return sum(it.value for it in taken) + _extra(room, 0, _size(taken)), taken
        return _BranchAndBound(self, p, items, room).run()


class _Item(NamedTuple):
    """Children that join a placement together (one child, or a whole sibling group): their
    reduced cost there a bed (the sort key), the children, the reduced cost (a preferred
    group's waived penalty taken off), staff units, and the pairs they use."""

    per_bed: float
    members: tuple[int, ...]
    value: float
    units: float
    pairs: tuple[int, ...]


class _Columns(NamedTuple):
    """The pairs with a negative reduced cost, as plain lists, by placement then cost."""

    values: list[float]
    children: list[int]
    units: list[float]
    pairs: list[int]


class _Items:
    """A placement's items sorted by value a bed, made one by one as a search reads them: its
    single children (a slice of ``_Columns``) merged with its whole sibling groups. Most
    placements settle after reading a few of their hundreds of candidates."""

    def __init__(self, columns: _Columns, start: int, stop: int, bundles: list[_Item]) -> None:
        self.columns, self.next, self.stop = columns, start, stop
        self.bundles = sorted(bundles)
        self.made: list[_Item] = []
        self.count = stop - start + len(bundles)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> _Item:
        while len(self.made) <= i:
            self.made.append(self._take())
        return self.made[i]

    def _take(self) -> _Item:
        if self.next < self.stop:
            c, q = self.columns, self.next
            single = _Item(c.values[q], (c.children[q],), c.values[q], c.units[q], (c.pairs[q],))
            if not self.bundles or single <= self.bundles[0]:
                self.next += 1
                return single
        return self.bundles.pop(0)


def _size(items: list[_Item]) -> int:
    return sum(len(it.members) for it in items)


def _extra(room: _Room, before: int, size: int) -> float:
    """Fees for ``size`` children joining ``before`` others: each child beyond the block beds
    pays the fee."""
    return room.fee * (max(before + size - room.block, 0) - max(before - room.block, 0))


class _Room(NamedTuple):
    """A placement's free beds and staff units (< 0: staff does not limit it), and its block
    beds and the fee each child beyond them pays (fees on count)."""

    beds: int
    staff: float
    block: int
    fee: float


def _greedy(
    households: _Households, p: int, items: _Items, room: _Room
) -> tuple[list[_Item], bool]:
    """The items in order while they fit and lower the total; ``clean`` when every item is a
    single child and none was passed over for a rule or staff, so the set is the best one."""
    taken: list[_Item] = []
    ours: list[int] = []
    used = 0.0
    for i in range(len(items)):
        item = items[i]
        if len(ours) >= room.beds or item.value + _extra(room, len(ours), 1) >= 0:
            break
        if len(item.members) > 1:
            return taken, False
        fits = room.staff < 0 or used + item.units <= room.staff
        if not fits or not households.may_add(item.members, ours, p):
            return taken, False
        taken.append(item)
        ours.extend(item.members)
        used += item.units
    return taken, True


def _fractional(items: Sequence[_Item], start: int, beds: int) -> float:
    """The least value ``beds`` beds could take from ``items[start:]`` (sorted by value a
    bed), ignoring every rule (items may be split): a lower bound on any set of that many
    children or fewer."""
    total = 0.0
    for i in range(start, len(items)):
        item = items[i]
        if beds <= 0 or item.per_bed >= 0:
            break
        share = min(len(item.members), beds)
        total += share * item.per_bed
        beds -= share
    return total


class _BranchAndBound:
    """Depth-first search over the items (take, then skip), pruned by the fractional value of
    the beds left at the items' values a bed."""

    def __init__(
        self, households: _Households, p: int, items: Sequence[_Item], room: _Room
    ) -> None:
        self.h, self.p, self.items, self.room = households, p, items, room
        self.beds = room.beds
        self.best_value, self.best_items = 0.0, []
        self.nodes, self.node_limit = 0, NODE_LIMIT

    def fractional(self, start: int, beds: int) -> float:
        return _fractional(self.items, start, beds)

    def run(self) -> tuple[float, list[_Item]]:
        self._visit(0, [], [], 0.0, 0.0)
        if self.nodes > self.node_limit:
            self.h.searches_cut += 1
            return min(self.best_value, self.fractional(0, self.beds)), self.best_items
        return self.best_value, self.best_items

    def _prune_at(self) -> float:
        """Sets worth this or more are of no interest."""
        return self.best_value - 1e-9

    def _found(self, value: float, chosen: list[_Item]) -> None:
        if value < self.best_value - 1e-9:
            self.best_value, self.best_items = value, list(chosen)

    def _visit(
        self, start: int, chosen: list[_Item], ours: list[int], value: float, used: float
    ) -> None:
        """Sets that extend ``chosen`` with items from ``start`` on; the depth is at most the
        beds, as each level takes an item."""
        self.nodes += 1
        self._found(value, chosen)
        left = self.beds - len(ours)
        for i in range(start, len(self.items)):
            if left <= 0 or self.nodes > self.node_limit:
                return
            # items are sorted by value a bed, so no later start does better than this one
            if value + self.fractional(i, left) >= self._prune_at():
                return
            item = self.items[i]
            size = len(item.members)
            if (
                size <= left
                and (self.room.staff < 0 or used + item.units <= self.room.staff)
                and not any(k in ours for k in item.members)
                and self.h.may_add(item.members, ours, self.p)
            ):
                added = item.value + _extra(self.room, len(ours), size)
                chosen.append(item)
                self._visit(
                    i + 1, chosen, ours + list(item.members), value + added, used + item.units
                )
                chosen.pop()


class _Window(_BranchAndBound):
    """Every non-empty set worth less than ``below``, rather than the best one; cut (so
    incomplete) past ``node_limit`` nodes."""

    def __init__(
        self,
        households: _Households,
        p: int,
        items: Sequence[_Item],
        below: float,
        node_limit: int,
    ) -> None:
        super().__init__(households, p, items, households.rooms[p])
        self.below, self.node_limit = below, node_limit
        self.sets: list[list[_Item]] = []

    def _prune_at(self) -> float:
        return self.below

    def _found(self, value: float, chosen: list[_Item]) -> None:
        if chosen and value < self.below:
            self.sets.append(list(chosen))

    def complete(self) -> bool:
        self._visit(0, [], [], 0.0, 0.0)
        return self.nodes <= self.node_limit


def _pair_money(instance: Instance, rel: Relaxation) -> np.ndarray:
    """Per pair, the weekly money the budget counts for it (pence, as the model's
    ``weekly_budget`` family): its fee unless charged on the count beyond block beds, its
    uplift and the cheapest outreach fee its cost includes."""
    fees = fee_pence(instance, fees_on_count(instance))
    needs = instance.meta.needs
    levels = np.array([[c.needs.get(need, 0) for need in needs] for c in instance.children])
    uplift = instance.cost_uplift_matrix  # pounds a level, needs x placements
    per_pair = np.zeros(len(rel.child_of))
    if len(needs):
        per_pair = np.einsum("qi,iq->q", levels[rel.child_of], uplift[:, rel.place_of])
    return fees[rel.place_of] + to_pence(1) * per_pair + rel.team_fee


class _Pricing:
    """The Lagrangian value at given prices, and each placement's best set at them. Prices are
    one per child, then the price of a move (``max_moves`` relaxed; 0 without a limit), then
    the price of a penny of weekly money (``weekly_budget`` relaxed; 0 without a budget)."""

    def __init__(self, instance: Instance, relaxation: Relaxation) -> None:
        self.rel = rel = relaxation
        self.households = _Households(instance, relaxation)
        n, m = len(instance.children), len(relaxation.free)
        self.n, self.m = n, m
        index = {c.id: k for k, c in enumerate(instance.children)}
        split = to_pence(instance.policy.weights.sibling_split)
        self.groups: list[_Group] = []
        for group in instance.sibling_groups:
            members = tuple(index[c] for c in instance.sibling_members.get(group.id, []))
            if len(members) > 1:
                required = group.together == "required"
                self.groups.append(_Group(members, required, 0.0 if required else split))
        self.in_required = np.zeros(n, dtype=bool)
        for group in self.groups:
            if group.required:
                self.in_required[list(group.members)] = True
        self.waived = sum(g.bonus for g in self.groups)
        grouped = [k for g in self.groups for k in g.members]
        pair_at: dict[int, dict[int, int]] = {k: {} for k in grouped}
        for q in np.flatnonzero(np.isin(rel.child_of, grouped)).tolist():
            pair_at[int(rel.child_of[q])][int(rel.place_of[q])] = q
        self.bundles: list[list[tuple[_Group, tuple[int, ...]]]] = [[] for _ in range(m)]
        self.grouped_pairs = np.array(
            sorted(q for k in grouped for q in pair_at[k].values()), dtype=np.int64
        )
        self.units = {int(q): float(rel.units[q]) for q in self.grouped_pairs}
        self.max_moves = instance.policy.max_moves
        budget = instance.policy.weekly_budget
        self.budget = None if budget is None else float(to_pence(budget))
        self.money = np.zeros(len(rel.cost)) if budget is None else _pair_money(instance, rel)
        """Per pair: the weekly money it adds to the budget's sum (pence)."""
        movers = np.array([c.status in ("settled", "at_risk") for c in instance.children])
        places = instance.placement_index
        current = np.array([places.get(c.current_placement or "", -1) for c in instance.children])
        self.movers = movers.astype(float)  # an alternative outcome is a move for them
        order = np.argsort(rel.place_of, kind="stable")
        cuts = np.searchsorted(rel.place_of[order], np.arange(m + 1))
        self.pairs_at = [order[cuts[p] : cuts[p + 1]] for p in range(m)]
        self.moving = (movers[rel.child_of] & (rel.place_of != current[rel.child_of])).astype(float)
        """Per pair: 1 if it moves a settled or at-risk child (``max_moves`` counts it)."""
        for group in self.groups:  # placements where the whole group has an option
            shared = set.intersection(*(set(pair_at[k]) for k in group.members))
            for p in sorted(shared):
                pairs = tuple(pair_at[k][p] for k in group.members)
                self.bundles[p].append((group, pairs))

    def _bundles(self, p: int, reduced: dict[int, float]) -> list[_Item]:
        """Placement ``p``'s whole sibling groups whose reduced cost there is below zero."""
        bundles = (self._bundle(group, pairs, reduced) for group, pairs in self.bundles[p])
        return [bundle for bundle in bundles if bundle.value < 0]

    def _bundle(self, group: _Group, pairs: tuple[int, ...], reduced: dict[int, float]) -> _Item:
        """A whole sibling group as one item, at the ``reduced`` costs of its ``pairs``."""
        value = sum(reduced[q] for q in pairs) - group.bonus
        used = sum(self.units[q] for q in pairs)
        return _Item(value / len(pairs), group.members, value, used, pairs)

    def _grouped(self, reduced: np.ndarray) -> dict[int, float]:
        """The reduced costs of the pairs of children in sibling groups, by pair."""
        grouped = reduced[self.grouped_pairs].tolist()
        return dict(zip(self.grouped_pairs.tolist(), grouped, strict=True))

    def value(self, prices: np.ndarray) -> tuple[float, list[tuple[int, list[_Item]]]]:
        """The Lagrangian value at ``prices`` (a lower bound on every plan, pence, for any
        child prices and move and money prices >= 0) and each placement's best set there."""
        lam, move, money = self._split(prices)
        self.households.price_fees(money)
        total, sets = 0.0, []
        for p, _, value, chosen in self._best_sets(self._reduced(prices)):
            total += value
            if chosen:
                sets.append((p, chosen))
        moves = move * self.max_moves if self.max_moves is not None else 0.0
        spent = money * self.budget if self.budget is not None else 0.0
        alternatives = self._alternatives(lam, move, money)
        return float(lam.sum()) + total + alternatives + self.constant - moves - spent, sets

    def _split(self, prices: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Prices as the children's, a move's and a penny of weekly money's (both >= 0)."""
        lam = prices[: self.n]
        return lam, max(float(prices[self.n]), 0.0), max(float(prices[self.n + 1]), 0.0)

    def _rises(self, reduced: np.ndarray) -> tuple[np.ndarray, dict[int, float]]:
        """Per pair, a lower bound on how far the Lagrangian value at ``reduced`` costs rises
        when the pair is used (pence), and each placement's best set's value. Placement ``p``'s
        best set (value ``best``) gives way to one holding the child's item (alone, or its
        whole sibling group): that item's reduced cost plus the rest, which fills at most the
        beds left and so is worth at least their fractional value (``_fractional``), all other
        terms unchanged."""
        rises = reduced.copy()  # a placement with no set below zero: best and rest are 0
        alone = ~self.in_required[self.rel.child_of]
        rises[~alone] = np.inf  # a required group's member comes only with its group
        grouped = self._grouped(reduced)
        bests = dict.fromkeys(range(self.m), (0.0, None))
        bests.update({p: (best, items) for p, items, best, _ in self._best_sets(reduced)})
        for p, (best, items) in bests.items():
            beds = self.households.rooms[p].beds
            if items is not None:
                at = self.pairs_at[p][alone[self.pairs_at[p]]]
                rises[at] = reduced[at] + _fractional(items, 0, beds - 1) - best
            for group, pairs in self.bundles[p]:
                rest = 0.0 if items is None else _fractional(items, 0, beds - len(pairs))
                value = self._bundle(group, pairs, grouped).value + rest - best
                rises[list(pairs)] = np.minimum(rises[list(pairs)], value)
        return rises, {p: best for p, (best, _) in bests.items()}

    def _reduced(self, prices: np.ndarray) -> np.ndarray:
        """Each pair's reduced cost at ``prices`` (pence)."""
        lam, move, money = self._split(prices)
        return self.rel.cost + move * self.moving + money * self.money - lam[self.rel.child_of]

    def _best_sets(self, reduced: np.ndarray) -> Iterator[tuple[int, _Items, float, list[_Item]]]:
        """Each placement with an item below zero at ``reduced``: its items, and the value of
        its best set and the set's items (``_Households.best``)."""
        rel = self.rel
        negative = np.flatnonzero((reduced < 0) & ~self.in_required[rel.child_of])
        order = negative[np.lexsort((negative, reduced[negative], rel.place_of[negative]))]
        cuts = np.searchsorted(rel.place_of[order], np.arange(self.m + 1)).tolist()
        columns = _Columns(  # by placement, then reduced cost: each placement's slice is sorted
            reduced[order].tolist(),
            rel.child_of[order].tolist(),
            rel.units[order].tolist(),
            order.tolist(),
        )
        reduced_of = self._grouped(reduced)
        for p in range(self.m):
            bundles = self._bundles(p, reduced_of) if self.bundles[p] else []
            if cuts[p] == cuts[p + 1] and not bundles:
                continue
            items = _Items(columns, cuts[p], cuts[p + 1], bundles)
            value, chosen = self.households.best(p, items)
            yield p, items, value, chosen

    @property
    def constant(self) -> float:
        """Terms no set changes: every preferred group's split penalty (waived in the sets
        and alternatives that keep it whole) and the block contracts' fixed cost."""
        return self.waived + self.rel.constant

    def _alternatives(self, lam: np.ndarray, move: float, money: float) -> float:
        """Children (and whole sibling groups) whose alternative outcome (a move for settled
        and at-risk children, at ``move``; home with a team's fee as money, at ``money``) is
        below their price: a required group takes it together or not at all; a preferred
        group together has its split penalty waived."""
        below = self.alternatives_at(money) + move * self.movers - lam
        alone = np.minimum(below, 0.0)
        total = float(alone.sum())
        for group in self.groups:
            members = list(group.members)
            together = float(below[members].sum()) - group.bonus
            apart = float(alone[members].sum())
            total += (min(together, 0.0) if group.required else min(together, apart)) - apart
        return total

    def alternatives_at(self, money: float) -> np.ndarray:
        """Each child's cheapest alternative outcome (pence) with weekly money priced at
        ``money`` a penny: unplaced, or home with a team, whose fee is money."""
        if self.budget is None:
            return self.rel.alternative
        return np.minimum(self.rel.unplaced, self.rel.home + money * self.rel.home_fee)

    def alternative_money(self) -> np.ndarray:
        """The weekly money (pence) of each child's alternative outcome in
        ``alternative_columns``: its team's fee where home is the cheaper."""
        return np.where(self.rel.home < self.rel.unplaced, self.rel.home_fee, 0.0)

    def alternative_columns(self) -> list[tuple[list[int], float, float, float]]:
        """The master's columns of alternative outcomes: each child alone (but a required
        group's members, who take theirs only together) and each sibling group together, with
        their cost (pence), moves and weekly money (pence); under a budget also each child
        alone unplaced where home with a team is the cheaper."""
        alternative, movers, spent = self.rel.alternative, self.movers, self.alternative_money()
        alone = [k for k in range(self.n) if not self.in_required[k]]
        columns = [([k], float(alternative[k]), float(movers[k]), float(spent[k])) for k in alone]
        if self.budget is not None:
            columns += [
                ([k], float(self.rel.unplaced[k]), float(movers[k]), 0.0)
                for k in alone
                if spent[k] > 0
            ]
        for group in self.groups:
            members = list(group.members)
            cost = float(alternative[members].sum()) - group.bonus
            columns.append(
                (members, cost, float(movers[members].sum()), float(spent[members].sum()))
            )
        return columns

    def window(self, prices: np.ndarray, slack: float, limit: int) -> list[Household] | None:
        """Every household that lies less than ``slack`` (pence) above its placement's best
        set at ``prices`` (see ``window_households``), with every alternative column; None if
        that takes more than ``limit`` households or search nodes."""
        self.households.price_fees(self._split(prices)[2])
        reduced = self._reduced(prices)
        rises, bests = self._rises(reduced)
        grouped = self._grouped(reduced)
        alone = ~self.in_required[self.rel.child_of]
        columns = [
            Household(None, tuple(m), cost, 0.0) for m, cost, _, _ in self.alternative_columns()
        ]
        units, child_of = self.rel.units, self.rel.child_of
        for p in range(self.m):
            if self.households.rooms[p].beds <= 0:
                continue
            at = self.pairs_at[p]
            at = at[alone[at] & (rises[at] < slack)].tolist()
            items = [_Item(reduced[q], (int(child_of[q]),), reduced[q], units[q], (q,)) for q in at]
            items += [
                self._bundle(group, pairs, grouped)
                for group, pairs in self.bundles[p]
                if rises[list(pairs)].min() < slack
            ]
            search = _Window(self.households, p, sorted(items), bests[p] + slack, limit)
            if not search.complete() or len(columns) + len(search.sets) > limit:
                return None
            sets = {tuple(sorted(k for it in s for k in it.members)): s for s in search.sets}
            columns += [Household(p, key, self.cost(p, s), 0.0) for key, s in sets.items()]
        return columns

    def cost(self, p: int, chosen: list[_Item]) -> float:
        """A set's objective (pence): costs, fees beyond the block, less waived penalties."""
        pairs = [q for it in chosen for q in it.pairs]
        members = {k for it in chosen for k in it.members}
        room = self.households.base_rooms[p]
        total = float(self.rel.cost[pairs].sum()) + _extra(room, 0, len(pairs))
        return total - sum(g.bonus for g in self.groups if set(g.members) <= members)

    def spent(self, p: int, chosen: list[_Item]) -> float:
        """A set's weekly money (pence): its pairs' and fees beyond the block."""
        pairs = [q for it in chosen for q in it.pairs]
        room = self.households.base_rooms[p]
        return float(self.money[pairs].sum()) + _extra(room, 0, len(pairs))


class _Master:
    """The master LP over the sets found so far (``MASTER_LP``): each child covered once by a
    set or its alternative, each placement given at most one set, moves within ``max_moves``."""

    def __init__(self, pricing: _Pricing) -> None:
        self.pricing = pricing
        self.solver = solver = pywraplp.Solver.CreateSolver(MASTER_LP)
        self.child_rows = [solver.Constraint(1, 1) for _ in range(pricing.n)]
        self.place_rows = [solver.Constraint(-solver.infinity(), 1) for _ in range(pricing.m)]
        limit = pricing.max_moves
        self.moves_row = None if limit is None else solver.Constraint(-solver.infinity(), limit)
        most = float(pricing.rel.alternative.max(initial=0.0))
        if self.moves_row is not None:  # moves beyond the limit, dear, so the LP is never empty
            beyond = solver.NumVar(0, solver.infinity(), "")
            self.moves_row.SetCoefficient(beyond, -1)
            solver.Objective().SetCoefficient(beyond, (most + 1.0) / LP_SCALE)
        budget = pricing.budget
        self.money_row = None
        if budget is not None:  # pounds beyond the budget, dear, so the LP is never empty
            self.money_row = solver.Constraint(-solver.infinity(), budget / LP_SCALE)
            beyond = solver.NumVar(0, solver.infinity(), "")
            self.money_row.SetCoefficient(beyond, -1)
            solver.Objective().SetCoefficient(beyond, (most + 1.0) / LP_SCALE)
        self.objective = solver.Objective()
        self.objective.SetMinimization()
        self.known: set[tuple[int, tuple[int, ...]]] = set()
        self.columns: list[tuple[int | None, tuple[int, ...], float, pywraplp.Variable]] = []
        self.solved_columns = 0  # columns the last solution covers
        self.parameters = _master_parameters()
        for members, cost, moves, spent in pricing.alternative_columns():
            self._column(members, None, cost, moves, spent)

    def _column(
        self, children: list[int], p: int | None, cost: float, moves: float, spent: float
    ) -> None:
        var = self.solver.NumVar(0, 1, "")
        self.columns.append((p, tuple(children), cost, var))
        for k in children:
            self.child_rows[k].SetCoefficient(var, 1)
        if p is not None:
            self.place_rows[p].SetCoefficient(var, 1)
        if self.moves_row is not None and moves:
            self.moves_row.SetCoefficient(var, moves)
        if self.money_row is not None and spent:
            self.money_row.SetCoefficient(var, spent / LP_SCALE)
        self.objective.SetCoefficient(var, cost / LP_SCALE)

    def add(
        self, p: int, chosen: list[_Item], duals: tuple[np.ndarray, np.ndarray] | None = None
    ) -> bool:
        """The set as a column, unless it is already in or, given the master's ``duals``
        (prices as ``_Pricing`` takes them, and per placement), its reduced cost there is not
        below zero."""
        members = tuple(sorted(k for it in chosen for k in it.members))
        if not members or (p, members) in self.known:
            return False
        cost = self.pricing.cost(p, chosen)
        moves = float(self.pricing.moving[[q for it in chosen for q in it.pairs]].sum())
        spent = self.pricing.spent(p, chosen)
        if duals is not None:
            prices, mu = duals
            lam, move, money = self.pricing._split(prices)
            priced = cost + move * moves + money * spent
            if priced - float(lam[list(members)].sum()) - float(mu[p]) >= -1e-6:
                return False
        self.known.add((p, members))
        self._column(list(members), p, cost, moves, spent)
        return True

    def solve(self) -> tuple[float, np.ndarray, np.ndarray] | None:
        """The LP's value (pence, the set-independent terms added) and its duals (pence) as
        prices (per child, then a move's and a penny's: the moves and budget rows' duals,
        negated) and per placement
        (<= 0); None if the LP solver gave up (the rounds then stop, the Lagrangian values
        already found stand)."""
        if self.solver.Solve(self.parameters) != pywraplp.Solver.OPTIMAL:
            return None
        self.solved_columns = len(self.columns)
        value = self.objective.Value() * LP_SCALE + self.pricing.constant
        move = 0.0 if self.moves_row is None else max(-self.moves_row.dual_value(), 0.0)
        # the budget row is in pounds, as the objective: its dual is a price a penny already
        money = 0.0 if self.money_row is None else max(-self.money_row.dual_value(), 0.0)
        children = [row.dual_value() for row in self.child_rows]
        prices = np.array([*children, move, money / LP_SCALE]) * LP_SCALE
        places = np.array([row.dual_value() for row in self.place_rows]) * LP_SCALE
        return value, prices, places

    def households(self) -> tuple[Household, ...]:
        """Every column with its value in the master LP, solved again if columns came since
        (empty if the LP solver gives up)."""
        if self.solved_columns < len(self.columns) and self.solve() is None:
            return ()
        return tuple(
            Household(p, members, cost, var.solution_value())
            for p, members, cost, var in self.columns
        )


def _plan_sets(
    instance: Instance, relaxation: Relaxation, plan: dict[str, Outcome]
) -> list[tuple[int, list[_Item]]]:
    """A valid plan's households as sets, so the first master already holds that plan."""
    index = instance.placement_index
    child = {c.id: k for k, c in enumerate(instance.children)}
    at: dict[int, list[int]] = {}
    for child_id, outcome in plan.items():
        if outcome.placement in index:
            at.setdefault(index[outcome.placement], []).append(child[child_id])
    first = np.searchsorted(relaxation.child_of, np.arange(len(child) + 1))
    sets = []
    for p, ks in sorted(at.items()):
        pairs = []
        for k in sorted(ks):
            own = np.flatnonzero(relaxation.place_of[first[k] : first[k + 1]] == p)
            pairs.extend((first[k] + own).tolist())
        if len(pairs) == len(ks):
            sets.append((p, [_Item(0.0, tuple(sorted(ks)), 0.0, 0.0, tuple(pairs))]))
    return sets


def occupancy_bound(
    instance: Instance,
    cands: Candidates,
    beds: CapacityBound,
    rounds: int,
    plan: dict[str, Outcome] | None = None,
    stop: Callable[[], bool] = lambda: False,
    on_bound: Callable[[int], None] | None = None,
    households: Heard | None = None,
    households_at: int | None = None,
) -> OccupancyBound:
    """The occupancy relaxation's bound after at most ``rounds`` rounds of column generation,
    starting from the bed bound's prices (``beds``) and, when given, a valid ``plan``'s
    households; ``stop`` ends the rounds early (the bound so far stays valid). ``on_bound``
    hears each higher bound (pence) as it is found. ``households`` hears the master's columns
    with their LP values once (what ``matcher.master_plan`` makes a plan from): after
    ``households_at`` rounds, or when the rounds end sooner (converged, or ``rounds``), but not
    if ``stop`` ended them first, so that what it hears never depends on the clock; with the
    bound when converged (``Heard``)."""
    relaxation = Relaxation(instance, cands)
    pricing = _Pricing(instance, relaxation)
    master = _Master(pricing)
    prices = np.array([beds.prices[p.id] for p in instance.placements])
    priced = relaxation.cost + prices[relaxation.place_of]
    centre = relaxation.best_outcomes(priced)  # the bed prices' Lagrangian, as child prices
    for group in pricing.groups:
        centre[list(group.members)] -= group.bonus / len(group.members)
    centre = np.append(centre, [0.0, 0.0])  # no price on moves or money yet
    for q in per_child(relaxation.child_of, priced, STARTING_SINGLES).tolist():
        k, p = int(relaxation.child_of[q]), int(relaxation.place_of[q])
        if not pricing.in_required[k] and pricing.households.allows(p, q):
            master.add(p, [_Item(0.0, (k,), 0.0, 0.0, (q,))])
    for p, chosen in _plan_sets(instance, relaxation, plan or {}):
        master.add(p, chosen)
    best, sets = pricing.value(centre)
    for p, chosen in sets:
        master.add(p, chosen)
    smoothing, done, converged, stopped = SMOOTHING, 0, False, False
    heard = False  # whether ``households`` has heard the columns

    def result() -> OccupancyBound:
        cut = pricing.households.searches_cut
        bound = max(beds.bound, whole_pence(best))
        return OccupancyBound(bound, done, converged, cut, stopped, best, centre, pricing.constant)

    while done < rounds:
        if stop():
            stopped = True
            break
        done += 1
        solved = master.solve()
        if solved is None:
            break
        lp_value, lam, mu = solved
        converged = lp_value - best <= CONVERGED * max(abs(lp_value), 1.0)
        if (
            households is not None
            and not heard
            and (converged or done >= (households_at or rounds))
        ):
            households(master.households(), result() if converged else None)
            heard = True
        if converged:
            break
        added = 0
        while not added:
            point = smoothing * centre + (1 - smoothing) * lam
            value, sets = pricing.value(point)
            if value > best:
                best, centre = value, point
                if on_bound is not None:
                    on_bound(max(beds.bound, whole_pence(best)))
            for p, chosen in sets:
                if master.add(p, chosen, (lam, mu)):
                    added += 1
            if added or smoothing == 0:
                break
            smoothing = max(smoothing - SMOOTHING_STEP, 0.0)
        if not added:  # no set improves the master at its own duals: the LP is solved
            converged = True
            break
    if households is not None and not heard and not stopped:
        households(master.households(), result() if converged else None)
    return result()


def window_households(
    instance: Instance,
    cands: Candidates,
    bound: OccupancyBound,
    ceiling: float,
    limit: int = WINDOW_LIMIT,
) -> list[Household] | None:
    """Every household a plan cheaper than ``ceiling`` (pence) could hold, and every column of
    alternative outcomes; None without the bound's prices, or past ``limit`` households.

    At the bound's prices a plan's objective is the Lagrangian value plus, for each placement,
    how far its household's reduced cost lies above the placement's best set, plus terms that
    are never below zero (alternatives, moves left unused). So a household lying ``ceiling`` -
    value or more above its placement's best is in no plan cheaper than ``ceiling``:
    reduced-cost fixing, here on whole households."""
    if bound.prices is None:
        return None
    pricing = _Pricing(instance, Relaxation(instance, cands))
    return pricing.window(bound.prices, ceiling - bound.value, limit)


def beside_possible() -> bool:
    """Whether ``BoundBeside`` can run here: it needs ``fork`` (a copy of the caller's memory, so
    neither the instance nor its options are pickled, and no script is imported again) and a
    process allowed children (not a daemon, such as a multiprocessing pool's worker)."""
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


PlanFromHouseholds = Callable[[tuple[Household, ...], OccupancyBound | None], object]
"""Makes a plan from the master's households, given the bound when they are converged
(``matcher.master_plan``, passed in by the caller so that this module does not depend on it);
what it returns is sent back as it is."""


class BoundBeside:
    """``occupancy_bound`` in a process of its own, beside the caller's search: neighbourhood
    search uses one core, so on two the bound costs the search nothing. Each higher bound is
    sent back as it is found, so whatever the process reached by ``result`` counts. Given
    ``plan_from``, the process also makes a plan from the master's households after ``plan_at``
    rounds (or when its rounds end sooner, unless the clock or the caller stopped them), which
    the caller fetches with ``plan``; a fixed round count, so the plan repeats."""

    def __init__(
        self,
        instance: Instance,
        cands: Candidates,
        beds: CapacityBound,
        rounds: int,
        plan: dict[str, Outcome] | None,
        seconds: float,
        plan_from: PlanFromHouseholds | None = None,
        plan_at: int | None = None,
    ) -> None:
        context = multiprocessing.get_context("fork")
        self.bound = beds.bound
        self._finished = False
        self._planned: tuple[object] | None = None
        self._stop = context.Event()
        self._receive, send = context.Pipe(duplex=False)
        deadline = time.monotonic() + seconds
        self._process = context.Process(
            target=_bound_beside,
            args=(
                instance,
                cands,
                beds,
                rounds,
                plan,
                deadline,
                self._stop,
                send,
                plan_from,
                plan_at,
            ),
            daemon=True,
        )
        self._process.start()
        send.close()

    def plan(self, seconds: float, stop: Callable[[], bool] = lambda: False) -> tuple[bool, object]:
        """Whether the plan from the households came within ``seconds`` (False: not yet, the
        process stopped first, or ``stop`` said so), and what ``plan_from`` returned (None: none
        found)."""
        self._wait(time.monotonic() + seconds, lambda: self._planned is not None or stop())
        return (False, None) if self._planned is None else (True, self._planned[0])

    @property
    def planned(self) -> object:
        """What ``plan_from`` returned, if it has come (else None); never waits."""
        return None if self._planned is None else self._planned[0]

    def result(self, seconds: float, stop: Callable[[], bool] = lambda: False) -> int:
        """The best bound (pence) once the process finishes, ``seconds`` pass, or ``stop``
        says so; the process is then ended."""
        self._wait(time.monotonic() + seconds, stop)
        self._stop.set()
        while not self._finished and self._receive.poll():
            self._read()
        self._process.join(timeout=0.2)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._receive.close()
        return self.bound

    def _wait(self, until: float, done: Callable[[], bool]) -> None:
        """Read messages until the process finishes, ``done`` says so, or ``until`` passes."""
        while not self._finished and not done():
            left = max(until - time.monotonic(), 0.0)
            if self._receive.poll(min(left, 0.1)):  # once at least, even with no time left
                self._read()
            elif left <= 0:
                break

    def _read(self) -> None:
        try:
            message = self._receive.recv()
        except EOFError:  # the process ended without saying so
            message = None
        if message is None:
            self._finished = True
        elif isinstance(message, tuple):
            self._planned = message
        else:
            self.bound = max(self.bound, message)


def _bound_beside(
    instance: Instance,
    cands: Candidates,
    beds: CapacityBound,
    rounds: int,
    plan: dict[str, Outcome] | None,
    deadline: float,
    stopped: multiprocessing.synchronize.Event,
    send: Connection,
    plan_from: PlanFromHouseholds | None,
    plan_at: int | None,
) -> None:
    """The process of ``BoundBeside``: rounds until converged, ``rounds``, the deadline
    (``time.monotonic``) or a stop, each higher bound sent (an int), and, given ``plan_from``,
    the plan from the households (a 1-tuple) as ``occupancy_bound`` hears them; then None.
    Ctrl-C is the caller's to handle (it stops this process through ``stopped``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop() -> bool:
        return stopped.is_set() or time.monotonic() >= deadline

    plans = _plan_sender(plan_from, send)
    occupancy_bound(instance, cands, beds, rounds, plan, stop, send.send, plans, plan_at)
    send.send(None)
    send.close()


def _plan_sender(plan_from: PlanFromHouseholds | None, send: Connection) -> Heard | None:
    """Sends the plan ``plan_from`` makes from the households (a 1-tuple; None inside when
    there is none), or None without ``plan_from``."""
    if plan_from is None:
        return None
    make = plan_from
    return lambda households, converged: send.send(
        (make(households, converged) if households else None,)
    )
