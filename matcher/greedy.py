"""A greedy plan that mimics manual practice, used as the search's starting point and as a baseline.

Today's children stay where their placement still allows it; then the most urgent and most
constrained children (sibling groups as one unit) each take the cheapest option that still fits:
a free bed, the rules with whoever lives there, no conflict partner, an outreach slot where one is
needed, the budget. A child with no such option returns home if allowed, or is left unplaced.
Last, each child or group still unplaced may have beds freed for it by moving occupants on
(``_free_beds_by_moving``), in chains of two moves where one will not do, siblings moving on
together.

Given a plan to follow (the bed relaxation's, ``matcher.bounds.CapacityBound.placed``), each
child first takes its placement there where everything fits and moves are left
(``_follow``), and only then stays or goes to the cheapest option: the relaxation sees who else
wants each bed, which the cheapest-first rule does not (county-5000: £7.94M -> £7.63M).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from matcher.bounds import CapacityBound
from matcher.compatibility import Occupant, may_join, required_group_hosts
from matcher.domain import Child
from matcher.eligibility import Candidates, Option, candidates, placement_columns
from matcher.instance import Instance
from matcher.plans import HOME, Outcome
from matcher.units import PENCE_PER_POUND


@dataclass
class _State:
    """Beds, occupants, team loads and money committed so far."""

    instance: Instance
    free: dict[str, int]
    occupants: dict[str, list[Occupant]]
    ours: dict[str, set[str]]
    block_left: dict[str, int]
    team_load: dict[str, int] = field(default_factory=dict)
    spent: int = 0
    paid: dict[str, int] = field(default_factory=dict)
    partners: dict[str, set[str]] = field(default_factory=dict)
    journal: list[tuple[bool, Child, Outcome, int]] = field(default_factory=list)
    """Each placing (True) and removing (False) with its money, for ``undo_to``."""
    option_costs: dict[str, list[float]] = field(default_factory=dict)
    """Each child's ``_pair_cost`` per usable option, in their order (``costs_of``)."""

    @classmethod
    def start(cls, instance: Instance) -> _State:
        partners: dict[str, set[str]] = {}
        for pair in instance.conflicts:
            partners.setdefault(pair.a, set()).add(pair.b)
            partners.setdefault(pair.b, set()).add(pair.a)
        return cls(
            instance=instance,
            free={p.id: p.capacity - len(p.residents) for p in instance.placements},
            occupants={p.id: list(p.residents) for p in instance.placements},
            ours={p.id: set() for p in instance.placements},
            block_left={p.id: p.block_beds for p in instance.placements},
            partners=partners,
        )

    def costs_of(self, child: Child, options: list[Option]) -> list[float]:
        """``_pair_cost`` of each of the child's usable ``options`` (always the same list for a
        child), worked out once: the bed-freeing pass looks them up ~68M times on a tight
        1,200-child instance, where working them out each time took 45 of its 72 s."""
        costs = self.option_costs.get(child.id)
        if costs is None:
            costs = _pair_costs(self.instance, child, options).tolist()
            self.option_costs[child.id] = costs
        return costs

    def mark(self) -> int:
        """A point to go back to with ``undo_to``."""
        return len(self.journal)

    def undo_to(self, mark: int) -> None:
        """Undo every placing and removing since ``mark``, latest first: trying a move costs
        what it changes, not a copy of the whole state (which made the bed-freeing pass take
        minutes on 20,000 children)."""
        while len(self.journal) > mark:
            placed, child, outcome, money = self.journal.pop()
            if placed:
                self._take_out(child, outcome)
            else:
                self._put_in(child, outcome, money)

    def place_all(self, unit: Sequence[Child], options: dict[str, Option]) -> list[Outcome] | None:
        """Place every child of ``unit`` at its option, or none of them."""
        mark = self.mark()
        placed: list[Outcome] = []
        for child in unit:
            outcome = self.try_place(child, options[child.id])
            if outcome is None:
                self.undo_to(mark)
                return None
            placed.append(outcome)
        return placed

    def remove(self, child: Child, outcome: Outcome) -> None:
        """Take ``child`` out of its placement again (the inverse of ``try_place``)."""
        assert outcome.placement not in (None, HOME)  # only placed children are removed
        money = self._take_out(child, outcome)
        self.journal.append((False, child, outcome, money))

    def _put_in(self, child: Child, outcome: Outcome, money: int) -> None:
        pid = outcome.placement
        if pid != HOME:
            assert pid is not None
            self.free[pid] -= 1
            self.occupants[pid].append(child)
            self.ours[pid].add(child.id)
            self.block_left[pid] = max(self.block_left[pid] - 1, 0)
        self.spent += money
        self.paid[child.id] = money
        if outcome.team is not None:
            self.team_load[outcome.team] = self.team_load.get(outcome.team, 0) + 1

    def _take_out(self, child: Child, outcome: Outcome) -> int:
        """Undo ``_put_in``; return the money the child had committed."""
        pid = outcome.placement
        if pid != HOME:
            assert pid is not None
            self.free[pid] += 1
            self.occupants[pid] = [o for o in self.occupants[pid] if o is not child]
            self.ours[pid].discard(child.id)
            placement = self.instance.placement_by_id[pid]
            self.block_left[pid] = placement.block_beds - min(
                placement.block_beds, len(self.ours[pid])
            )
        money = self.paid.pop(child.id)
        self.spent -= money
        if outcome.team is not None:
            self.team_load[outcome.team] -= 1
        return money

    def team_for(self, teams: Sequence[str]) -> str | None:
        """The cheapest of ``teams`` with a free slot."""
        open_teams = [
            self.instance.team_by_id[t]
            for t in teams
            if self.team_load.get(t, 0) < self.instance.team_by_id[t].capacity
        ]
        return min(open_teams, key=lambda t: (t.weekly_cost, t.id)).id if open_teams else None

    def money(self, child: Child, option: Option, team: str | None) -> int:
        placement = self.instance.placement_by_id[option.placement]
        fee = 0 if self.block_left[placement.id] > 0 else placement.weekly_cost
        team_fee = self.instance.team_by_id[team].weekly_cost if team else 0
        return fee + placement.uplift_cost(child.needs) + team_fee

    def try_place(self, child: Child, option: Option) -> Outcome | None:
        """Place ``child`` at ``option`` if everything still fits; return the outcome or None."""
        pid = option.placement
        if self.free[pid] < 1 or self.partners.get(child.id, set()) & self.ours[pid]:
            return None
        if not may_join(child, self.occupants[pid], self.instance.policy.rules):
            return None
        if not self.staff_fits(child, pid):
            return None
        team = self.team_for(option.teams) if option.teams is not None else None
        if option.teams is not None and team is None:
            return None
        money = self.money(child, option, team)
        budget = self.instance.policy.weekly_budget
        if budget is not None and self.spent + money > budget:
            return None
        outcome = Outcome(pid, team)
        self._put_in(child, outcome, money)
        self.journal.append((True, child, outcome, money))
        return outcome

    def staff_fits(self, child: Child, pid: str) -> bool:
        """The staffing extension: ``child`` fits within the staff units left at ``pid``."""
        capacity = self.instance.placement_by_id[pid].staff_capacity
        if capacity is None:
            return True
        used = sum(
            o.staff_units(pid) if isinstance(o, Child) else o.staffing for o in self.occupants[pid]
        )
        return used + child.staff_units(pid) <= capacity

    def try_home(self, child: Child, teams: Sequence[str]) -> Outcome | None:
        team = self.team_for(teams)
        budget = self.instance.policy.weekly_budget
        if team is None:
            return None
        fee = self.instance.team_by_id[team].weekly_cost
        if budget is not None and self.spent + fee > budget:
            return None
        outcome = Outcome(HOME, team)
        self._put_in(child, outcome, fee)
        self.journal.append((True, child, outcome, fee))
        return outcome


def _pair_cost(instance: Instance, child: Child, option: Option) -> float:
    """The option's own cost: fee, uplifts, distance and out-of-area (what a team would compare)."""
    weights = instance.policy.weights
    placement = instance.placement_by_id[option.placement]
    return (
        placement.weekly_cost
        + placement.uplift_cost(child.needs)
        + weights.distance_per_km * option.km
        + (0 if placement.in_area else weights.out_of_area)
    )


def _pair_costs(
    instance: Instance, child: Child, options: Sequence[Option], columns: np.ndarray | None = None
) -> np.ndarray:
    """``_pair_cost`` of each of ``options`` (at ``columns``, their placements' positions, if
    known), as arrays: the same terms added in the same order, so the same floats (a
    county-5000 greedy plan spent ~3 s on them one by one)."""
    if columns is None:
        columns = placement_columns(instance, options)
    levels = np.array([child.needs.get(need, 0) for need in instance.meta.needs], dtype=np.int64)
    km = np.fromiter((o.km for o in options), np.float64, len(options))
    return (
        instance.weekly_costs[columns]
        + levels @ instance.cost_uplift_matrix[:, columns]
        + instance.policy.weights.distance_per_km * km
        + instance.out_of_area_costs[columns]
    )


def _ranked(options: Sequence[Option], cost: np.ndarray) -> list[Option]:
    """``options`` by ``cost``, ties by placement id (so plans repeat)."""
    ids = np.array([o.placement for o in options])
    return [options[k] for k in np.lexsort((ids, cost)).tolist()]


def greedy_plan(
    instance: Instance,
    cands: Candidates | None = None,
    prices: CapacityBound | None = None,
    follow: Mapping[str, str] | None = None,
) -> dict[str, Outcome]:
    """Each child's outcome under the greedy rule (see the module docstring); with ``prices``
    (the relaxation's bed and staff prices, ``matcher.bounds``) "cheapest" counts them too, so
    places the relaxation finds contested go to the children who lose least without them. With
    ``follow`` (a placement per child, such as the bed relaxation's plan,
    ``CapacityBound.placed``) each child first takes that placement if it still fits
    (``_follow``), instead of staying where it is."""
    cands = cands or candidates(instance)
    state = _State.start(instance)
    outcomes: dict[str, Outcome] = {}
    sorted_options: dict[str, list[Option]] = {}

    def usable(child: Child) -> list[Option]:
        """The child's options, cheapest first, its ending placement left out (sorted once)."""
        if child.id not in sorted_options:
            options = [
                o
                for o in cands.options[child.id]
                if not (child.status == "ending" and o.placement == child.current_placement)
            ]
            columns = placement_columns(instance, options)
            cost = _pair_costs(instance, child, options, columns)
            if prices is not None:
                cost = cost + prices.option_prices(instance, child.id, columns) / PENCE_PER_POUND
            sorted_options[child.id] = _ranked(options, cost)
        return sorted_options[child.id]

    required = {g.id for g in instance.sibling_groups if g.together == "required"}
    stays = _stays(instance, cands)
    if follow is not None:
        _follow(state, cands, follow, required, outcomes, _moves_to_spare(instance, stays))
    _follow(state, cands, stays, required, outcomes)

    waiting = [c for c in instance.children if c.id not in outcomes]
    every_group = {g.id for g in instance.sibling_groups}
    order = sorted(
        _units(waiting, every_group),
        key=lambda unit: (
            -max(c.priority for c in unit),
            min(len(cands.options[c.id]) for c in unit),
            unit[0].id,
        ),
    )
    for unit in order:
        if len(unit) > 1 and _place_together(state, unit, usable, outcomes):
            continue
        if len(unit) > 1 and unit[0].sibling_group in required:
            outcomes.update({c.id: Outcome(None) for c in unit})
            continue
        for child in unit:
            outcomes[child.id] = _place_alone(state, child, usable(child), cands)
    _free_beds_by_moving(state, usable, outcomes, required_group_hosts(instance, cands))
    return {c.id: outcomes[c.id] for c in instance.children}


def _stays(instance: Instance, cands: Candidates) -> dict[str, str]:
    """Each child whose placement still allows it to stay, at that placement."""
    return {
        child.id: option.placement
        for child in instance.children
        for option in cands.options[child.id]
        if option.stay
    }


def _moves_to_spare(instance: Instance, stays: Mapping[str, str]) -> int | None:
    """Moves (contract 4.1) a plan may make beyond those of settled and at-risk children who
    cannot stay (None: no limit)."""
    limit = instance.policy.max_moves
    if limit is None:
        return None
    forced = sum(
        c.status in ("settled", "at_risk") and c.id not in stays for c in instance.children
    )
    return max(limit - forced, 0)


def _follow(
    state: _State,
    cands: Candidates,
    follow: Mapping[str, str],
    required: set[str],
    outcomes: dict[str, Outcome],
    moves: int | None = None,
) -> None:
    """Each child not yet placed (a required sibling group as one, when all of it is sent to
    one placement) takes its placement in ``follow`` where everything still fits and, when
    ``moves`` is given, while such moves of settled and at-risk children stay within it:
    children staying first, in input order, then the most urgent and those with fewest
    options. The rest wait (to stay where they are, then for the greedy rule)."""
    instance = state.instance
    waiting = [c for c in instance.children if c.id in follow and c.id not in outcomes]
    units = [
        unit
        for unit in _units(waiting, required)
        if len({follow[c.id] for c in unit}) == 1
        and len(unit) == len(instance.sibling_members.get(str(unit[0].sibling_group), unit))
    ]

    def order(position: int) -> tuple[bool, float, int, int]:
        unit = units[position]
        if all(follow[c.id] == c.current_placement for c in unit):
            return (False, 0.0, 0, position)
        urgency = -max(c.priority for c in unit)
        return (True, urgency, min(len(cands.options[c.id]) for c in unit), position)

    for unit in (units[position] for position in sorted(range(len(units)), key=order)):
        pid = follow[unit[0].id]
        made = sum(_is_move(c, Outcome(pid)) for c in unit)
        if moves is not None and made > moves:
            continue
        options = {c.id: next(o for o in cands.options[c.id] if o.placement == pid) for c in unit}
        placed = state.place_all(unit, options)
        if placed is not None:
            outcomes.update({c.id: p for c, p in zip(unit, placed, strict=True)})
            moves = None if moves is None else moves - made


def _units(children: list[Child], grouped: set[str]) -> list[list[Child]]:
    """Children as units: members of each sibling group in ``grouped`` together, others alone."""
    units: dict[str, list[Child]] = {}
    for child in children:
        key = child.sibling_group if child.sibling_group in grouped else f"child:{child.id}"
        units.setdefault(key, []).append(child)
    return list(units.values())


def _ranked_shared(
    instance: Instance, unit: list[Child], usable: Callable[[Child], list[Option]]
) -> tuple[dict[str, dict[str, Option]], list[str]]:
    """Each member's options by placement, and the placements all members share, cheapest first."""
    by_child = {c.id: {o.placement: o for o in usable(c)} for c in unit}
    shared = set.intersection(*(set(options) for options in by_child.values()))
    ranked = sorted(
        shared, key=lambda p: (sum(_pair_cost(instance, c, by_child[c.id][p]) for c in unit), p)
    )
    return by_child, ranked


SWAP_OPTIONS = 40
"""How many of the cheapest shared placements are tried for each waiting child or sibling group
(bounds the work; a moved occupant may go anywhere that costs less than the move saves)."""

MOVERS_PER_TRY = 8
"""Occupants moved out, at most, to seat one waiting unit at one placement (bounds the work on
placements with many occupants)."""


def _free_beds_by_moving(
    state: _State,
    usable: Callable[[Child], list[Option]],
    outcomes: dict[str, Outcome],
    hosts: dict[str, frozenset[str]],
) -> None:
    """Second pass: for each unplaced child, or sibling group with no member placed, free enough
    beds in one placement by moving occupants elsewhere, when seating them saves more than the
    moves cost (what a placement officer tries next). A required group tries only placements
    that could take all of it (``hosts``): its cheapest shared ones are mostly one-bed foster
    carers (a 3,000-child authority left three groups of three unplaced)."""
    instance = state.instance
    every_group = {g.id for g in instance.sibling_groups}
    waiting = [
        unit
        for unit in _units(instance.children, every_group)
        if all(outcomes[c.id].placement is None for c in unit)
    ]
    waiting.sort(key=lambda unit: (-sum(c.priority for c in unit), unit[0].id))
    moves = _Moves.counted(instance, outcomes)
    for unit in waiting:
        by_child, ranked = _ranked_shared(instance, unit, usable)
        if unit[0].id in hosts:
            ranked = [p for p in ranked if p in hosts[unit[0].id]]
        for chain, pid in itertools.product((False, True), ranked[:SWAP_OPTIONS]):
            seats = {c.id: by_child[c.id][pid] for c in unit}
            if _make_room(state, unit, seats, usable, moves, outcomes, chain):
                break


def _make_room(
    state: _State,
    unit: list[Child],
    options: dict[str, Option],
    usable: Callable[[Child], list[Option]],
    moves: _Moves,
    outcomes: dict[str, Outcome],
    chain: bool = False,
) -> bool:
    """Seat ``unit`` at one placement, moving occupants elsewhere first where beds or rules are
    in the way (with ``chain``, also where a child living at an occupant's option moves on to
    make way for it: tried only once no placement can be freed without). Commits only if the
    unplaced penalties saved exceed the unit's costs there plus every move's penalty and change
    of cost; otherwise leaves the state as it was."""
    instance = state.instance
    weights = instance.policy.weights
    pid = next(iter(options.values())).placement
    placement = instance.placement_by_id[pid]
    gain = sum(weights.unplaced * c.priority - _pair_cost(instance, c, options[c.id]) for c in unit)
    if gain <= 0 or placement.capacity - len(placement.residents) < len(unit):
        return False
    if placement.staff_capacity is not None:
        return False  # freeing staff units is not a bed swap: left to the search
    start = state.mark()
    spent = 0.0
    attempt = _Attempt(state, usable, moves, outcomes)

    def seated() -> bool:
        if state.free[pid] < len(unit):
            return False
        placed = state.place_all(unit, options)
        if placed is None:
            return False
        moves.commit(attempt.relocated, outcomes)
        moves.commit({c.id: p for c, p in zip(unit, placed, strict=True)}, outcomes)
        return True

    if seated():
        return True
    here = [instance.child_by_id[c] for c in sorted(state.ours[pid])]
    for occupant in [c for c in here if c.sibling_group is None][:MOVERS_PER_TRY]:
        spent += _relocate(attempt, occupant, pid, gain - spent, chain)
        if seated():
            return True
    if chain:  # siblings living there move on together
        every_group = {str(c.sibling_group) for c in here if c.sibling_group is not None}
        for group in _units([c for c in here if c.sibling_group is not None], every_group):
            spent += _move_group(attempt, group, pid, gain - spent)
            if seated():
                return True
    state.undo_to(start)
    return False


def _move_group(attempt: _Attempt, group: list[Child], pid: str, budget: float) -> float:
    """Move the siblings ``group`` living at ``pid`` together to the cheapest other placement
    with beds for all of them, costing under ``budget`` (move penalties included) and within
    ``max_moves``; return what the move cost, or 0 if they stay put."""
    state, usable = attempt.state, attempt.usable
    instance = state.instance
    here = {o.child: o for c in group for o in usable(c) if o.placement == pid}
    if len(here) < len(group):
        return 0.0

    before = state.mark()
    for child in group:
        state.remove(child, attempt.relocated.get(child.id, attempt.outcomes[child.id]))
    by_child, ranked = _ranked_shared(instance, group, usable)
    for place in ranked:
        if place == pid or state.free[place] < len(group):
            continue
        seats = {c.id: by_child[c.id][place] for c in group}
        extra = sum(
            _leaving_penalty(instance, c, pid)
            + _pair_cost(instance, c, seats[c.id])
            - _pair_cost(instance, c, here[c.id])
            for c in group
        )
        if extra >= budget:
            break  # ranked by cost, and the penalties do not change with the place
        mark = state.mark()
        placed = state.place_all(group, seats)
        if placed is not None:
            pending = {c.id: p for c, p in zip(group, placed, strict=True)}
            if attempt.moves.allows({**attempt.relocated, **pending}, attempt.outcomes):
                attempt.relocated.update(pending)
                return extra
        state.undo_to(mark)
    state.undo_to(before)
    return 0.0


@dataclass
class _Attempt:
    """One try at seating a unit: the state, each child's options, the moves so far, the plan,
    and the outcomes of the children moved for it (committed only if the unit is seated)."""

    state: _State
    usable: Callable[[Child], list[Option]]
    moves: _Moves
    outcomes: dict[str, Outcome]
    relocated: dict[str, Outcome] = field(default_factory=dict)


def _relocate(
    attempt: _Attempt,
    occupant: Child,
    pid: str,
    budget: float,
    chain: bool = False,
    avoid: str | None = None,
) -> float:
    """Move ``occupant`` out of ``pid`` to its cheapest other option costing under ``budget``
    (move penalty included, never into ``avoid``), or, failing that and with ``chain``, to one
    of its ``CHAIN_OPTIONS`` cheapest full ones once one of the children there has moved on to
    a free bed (not into ``pid``); return what the moves cost, or 0 if it stays put."""
    state, usable, relocated = attempt.state, attempt.usable, attempt.relocated
    instance = state.instance
    if _leaves_home(occupant, pid) and not attempt.moves.room_for_one_more(
        relocated, attempt.outcomes
    ):
        return 0.0
    penalty = _leaving_penalty(instance, occupant, pid)
    options = usable(occupant)
    costs = state.costs_of(occupant, options)
    here = next(c for c, o in zip(costs, options, strict=True) if o.placement == pid)
    before = state.mark()
    state.remove(occupant, relocated.get(occupant.id, attempt.outcomes[occupant.id]))
    full: list[tuple[Option, float]] = []
    for elsewhere, cost in zip(options, costs, strict=True):
        extra = penalty + cost - here
        if extra >= budget:
            break
        if elsewhere.placement in (pid, avoid):
            continue
        if state.free[elsewhere.placement] < 1:
            if chain and len(full) < CHAIN_OPTIONS:
                full.append((elsewhere, extra))
            continue
        moved = state.try_place(occupant, elsewhere)
        if moved is not None:
            relocated[occupant.id] = moved
            return extra
    if chain:  # one link of a chain: a bed freed for the occupant at a full option
        for elsewhere, extra in full:
            spent = _make_way(attempt, occupant, elsewhere, pid, budget - extra)
            if spent is not None:
                return extra + spent
    state.undo_to(before)
    return 0.0


CHAIN_OPTIONS = 5
"""Full options of an occupant that cannot move straight to a free bed where a child living
there is moved on first, at most: on a 3,000-child authority a group of three could only live
in four carers, each holding one child with no free bed it could take."""


def _make_way(
    attempt: _Attempt, occupant: Child, option: Option, pid: str, budget: float
) -> float | None:
    """Place ``occupant`` (taken out of ``pid``) at the full ``option`` after moving one of the
    children there (not one this attempt has moved already) on to a free bed elsewhere (not
    into ``pid``); what that move cost, or None (the state as it was)."""
    state, relocated, target = attempt.state, attempt.relocated, option.placement
    for mover_id in sorted(state.ours[target])[:MOVERS_PER_TRY]:
        mover = state.instance.child_by_id[mover_id]
        if mover.sibling_group is not None or mover_id in relocated:  # moved once is enough
            continue
        mark = state.mark()
        spent = _relocate(attempt, mover, target, budget, avoid=pid)
        if mover_id in relocated:
            moved = state.try_place(occupant, option)
            if moved is not None and attempt.moves.allows(
                {**relocated, occupant.id: moved}, attempt.outcomes
            ):
                relocated[occupant.id] = moved
                return spent
            relocated.pop(mover_id)
        state.undo_to(mark)
    return None


@dataclass
class _Moves:
    """How many settled and at-risk children the plan moves, kept as outcomes change, so
    ``max_moves`` is checked without a pass over every child (minutes on 20,000 children)."""

    instance: Instance
    count: int

    @classmethod
    def counted(cls, instance: Instance, outcomes: dict[str, Outcome]) -> _Moves:
        return cls(instance, sum(_is_move(c, outcomes[c.id]) for c in instance.children))

    def room_for_one_more(self, pending: dict[str, Outcome], outcomes: dict[str, Outcome]) -> bool:
        """Whether one more move fits beside ``pending`` changes to ``outcomes``."""
        limit = self.instance.policy.max_moves
        if limit is None:
            return True
        return self.count + self._change(pending, outcomes) + 1 <= limit

    def allows(self, pending: dict[str, Outcome], outcomes: dict[str, Outcome]) -> bool:
        """Whether ``pending`` changes to ``outcomes`` keep the moves within the limit."""
        limit = self.instance.policy.max_moves
        return limit is None or self.count + self._change(pending, outcomes) <= limit

    def commit(self, changes: dict[str, Outcome], outcomes: dict[str, Outcome]) -> None:
        """Take ``changes`` into ``outcomes`` and the count."""
        self.count += self._change(changes, outcomes)
        outcomes.update(changes)

    def _change(self, changes: dict[str, Outcome], outcomes: dict[str, Outcome]) -> int:
        children = self.instance.child_by_id
        return sum(
            _is_move(children[c], new) - _is_move(children[c], outcomes[c])
            for c, new in changes.items()
        )


def _leaves_home(child: Child, pid: str) -> bool:
    """Whether taking ``child`` out of ``pid`` is a move: it is settled or at risk there."""
    return child.status in ("settled", "at_risk") and child.current_placement == pid


def _leaving_penalty(instance: Instance, child: Child, pid: str) -> float:
    """The move penalty (pounds) for taking ``child`` out of ``pid``; 0 if that is no move."""
    if not _leaves_home(child, pid):
        return 0.0
    return float(getattr(instance.policy.weights, f"move_{child.status}"))


def _is_move(child: Child, outcome: Outcome) -> bool:
    """Whether ``outcome`` moves a settled or at-risk child (contract 4.1)."""
    return child.status in ("settled", "at_risk") and outcome.placement != child.current_placement


def _place_alone(state: _State, child: Child, options: list[Option], cands: Candidates) -> Outcome:
    for option in options:
        placed = state.try_place(child, option)
        if placed is not None:
            return placed
    if child.id in cands.home_teams:
        home = state.try_home(child, cands.home_teams[child.id])
        if home is not None:
            return home
    return Outcome(None)


def _place_together(
    state: _State,
    unit: list[Child],
    usable: Callable[[Child], list[Option]],
    outcomes: dict[str, Outcome],
) -> bool:
    """Put a sibling group in the cheapest placement that takes all of them, if there is one."""
    by_child, ranked = _ranked_shared(state.instance, unit, usable)
    for pid in ranked:
        if state.free[pid] < len(unit):
            continue
        placed = state.place_all(unit, {c.id: by_child[c.id][pid] for c in unit})
        if placed is not None:
            outcomes.update({c.id: p for c, p in zip(unit, placed, strict=True)})
            return True
    return False
