"""The hard constraints, one function per family (contract 1.7 and 4).

Each family has a stable name, the key in ``CONSTRAINT_FAMILIES``, that tests, explanations and
``build_model(families=...)`` use. ``eligibility`` is a family too, but it acts one layer down: it
decides which assignment variables exist at all (see ``matcher.eligibility``).

Every constraint is added through ``Context`` with the family and the record it is about
(``Key``). Normally that only names it; in a diagnosis model (``guards`` set) each key gets a
literal that switches its constraints on, so CP-SAT can name the ones that conflict. The limits an
explanation may relax by one unit (beds, outreach slots, moves, budget) are remembered in
``limits`` as single linear constraints.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from matcher.cpsat.variables import Variables
from matcher.domain import Child
from matcher.eligibility import Candidates
from matcher.instance import Instance

Key = tuple[str, str]
"""A constraint's family and the record it is about, e.g. ``("capacity", "H12")``."""

Terms = list[tuple[cp_model.IntVar, int]]
"""A linear expression as (variable, coefficient) pairs, each variable once."""


@dataclass(frozen=True)
class Context:
    """What every constraint family reads: the model, the instance, candidates and variables."""

    model: cp_model.CpModel
    instance: Instance
    candidates: Candidates
    v: Variables
    guards: dict[Key, cp_model.IntVar] | None = None
    limits: dict[Key, int] = field(default_factory=dict)
    _with_need: dict[tuple[str, int], frozenset[str]] = field(
        default_factory=dict, init=False, repr=False
    )

    def guard(self, key: Key) -> list[cp_model.IntVar]:
        """The enforcement literals of constraints under ``key``: none, or in a diagnosis model
        the key's own switch."""
        if self.guards is None:
            return []
        if key not in self.guards:
            self.guards[key] = self.model.new_bool_var(f"guard[{key[0]}:{key[1]}]")
        return [self.guards[key]]

    def add(self, key: Key, constraint: cp_model.BoundedLinearExpression) -> cp_model.Constraint:
        """A linear constraint under ``key``."""
        added = self.model.add(constraint)
        added.only_enforce_if(self.guard(key))
        return added

    def add_limit(self, key: Key, constraint: cp_model.BoundedLinearExpression) -> None:
        """A ``<=`` limit under ``key`` that explanations may relax (see ``limits``)."""
        self.limits[key] = self.add(key, constraint).index

    def add_linear(
        self, key: Key | None, indices: list[int], coefficients: list[int], lower: int, upper: int
    ) -> int:
        """``lower <= sum(coefficient x variable) <= upper`` over the variables at ``indices``
        (each once), under ``key`` (None: always on), written straight into the model proto:
        the expression and ``var.index`` reads took capacity 0.5 s on county, this 0.08 s.
        Variables go in index order, as ``model.add`` writes them, so the model is the same.
        Returns the constraint's index."""
        proto = self.model.proto
        index = len(proto.constraints)
        constraint = proto.constraints.add()
        if key is not None and self.guards is not None:
            constraint.enforcement_literal.extend(g.index for g in self.guard(key))
        if indices != sorted(indices):  # a C-level pass: ~0.3 s less than a Python one
            ordered = sorted(zip(indices, coefficients, strict=True))
            indices, coefficients = [i for i, _ in ordered], [c for _, c in ordered]
        constraint.linear.vars.extend(indices)
        constraint.linear.coeffs.extend(coefficients)
        constraint.linear.domain.extend([lower, upper])
        return index

    def add_terms(self, key: Key | None, terms: Terms, lower: int, upper: int) -> int:
        """``add_linear`` over (variable, coefficient) pairs."""
        indices = [var.index for var, _ in terms]
        return self.add_linear(key, indices, [c for _, c in terms], lower, upper)

    def at_most_one(self, key: Key, literals: list[cp_model.IntVar]) -> None:
        """At most one of ``literals`` (a linear constraint when it must be switchable)."""
        if self.guards is None:
            self.model.add_at_most_one(literals)
        else:
            self.add(key, _total(literals) <= 1)

    def implication(self, key: Key, a: cp_model.IntVar, b: cp_model.IntVar) -> None:
        """``a`` implies ``b``, under ``key``."""
        self.model.add_implication(a, b).only_enforce_if(self.guard(key))

    def forbid(self, key: Key, var: cp_model.IntVar) -> None:
        """``var`` is 0, under ``key``."""
        self.add_terms(key, [(var, 1)], 0, 0)

    def occupants(self, placement: str) -> list[tuple[Child, cp_model.IntVar]]:
        """Our children who may be placed at ``placement``, with their assignment variables."""
        return self.v.at_placement.get(placement, [])

    def occupants_among(
        self, ids: Collection[str]
    ) -> dict[str, list[tuple[Child, cp_model.IntVar]]]:
        """``occupants`` of every placement, only the children in ``ids``, in the same order: a
        family about a few children reads their options instead of all 287k pairs (county)."""
        at: dict[str, list[tuple[Child, cp_model.IntVar]]] = {}
        for child in self.instance.children:
            if child.id in ids:
                for option, var in self.v.options[child.id]:
                    at.setdefault(option.placement, []).append((child, var))
        return at

    def with_need(self, need: str, level: int) -> frozenset[str]:
        """Ids of our children with ``need`` at ``level`` or above (computed once per pair)."""
        key = (need, level)
        if key not in self._with_need:
            self._with_need[key] = frozenset(
                c.id for c in self.instance.children if c.needs.get(need, 0) >= level
            )
        return self._with_need[key]


def _total(variables: list[cp_model.IntVar]) -> cp_model.LinearExprT:
    return cp_model.LinearExpr.sum(variables)


def _ones(variables: list[cp_model.IntVar], coefficient: int = 1) -> Terms:
    """Every variable with the same coefficient."""
    return [(var, coefficient) for var in variables]


def _presence(ctx: Context, name: str, variables: list[cp_model.IntVar]) -> cp_model.IntVar:
    """A literal that every one of ``variables`` implies: "one of them is here".

    Watchers then imply its negation. That states "no watcher shares with any member" in
    O(members + watchers) terms instead of one clause per pair; the members' implications are one
    linear constraint, ``sum(members) <= n * present``, built in one call.
    """
    present = ctx.model.new_bool_var(name)
    ctx.add_terms(None, [*_ones(variables), (present, -len(variables))], cp_model.INT_MIN, 0)
    return present


def capacity(ctx: Context) -> None:
    """Our children plus residents never exceed a placement's beds."""
    for placement in ctx.instance.placements:
        indices = ctx.v.index_at.get(placement.id, [])
        free = placement.capacity - len(placement.residents)
        if len(indices) > free:
            key = ("capacity", placement.id)
            ones = [1] * len(indices)
            ctx.limits[key] = ctx.add_linear(key, indices, ones, cp_model.INT_MIN, free)


def staff_capacity(ctx: Context) -> None:
    """Extension: the staff units our children and residents use stay within
    ``staff_capacity`` (a child needing 2:1 staffing uses 2)."""
    for placement in ctx.instance.placements:
        if placement.staff_capacity is None:
            continue
        occupants = ctx.occupants(placement.id)
        free = placement.staff_capacity - sum(r.staffing for r in placement.residents)
        units = [child.staff_units(placement.id) for child, _ in occupants]
        if sum(units) > free:
            used = cp_model.LinearExpr.weighted_sum([var for _, var in occupants], units)
            ctx.add_limit(("staff_capacity", placement.id), used <= free)


def outreach_required(ctx: Context) -> None:
    """An option allowed only with outreach (need uplift or requires_outreach) takes a slot.

    Options are grouped by the teams that could serve them; a child takes at most one option, so
    one constraint per group says: if any option of the group is taken, one of its teams serves.
    """
    for child, groups in ctx.v.needs_slot.items():
        slot_index = {team: var.index for team, var in ctx.v.slots_of_child[child].items()}
        for teams, indices in groups.items():
            served = sorted(slot_index[t] for t in teams)  # made after the child's options
            coefficients = [1] * len(indices) + [-1] * len(served)
            key = ("outreach_required", child)
            ctx.add_linear(key, indices + served, coefficients, cp_model.INT_MIN, 0)


def return_home(ctx: Context) -> None:
    """A child returned home holds a slot of a team whose radius covers home (contract 4.7)."""
    for child, var in ctx.v.home.items():
        slots = ctx.v.slots_of_child[child]
        teams = ctx.candidates.home_teams[child]
        ctx.add(("return_home", child), var <= _total([slots[t] for t in teams]))


def outreach_capacity(ctx: Context) -> None:
    """A team serves at most ``capacity`` children at a time."""
    of_team: dict[str, list[cp_model.IntVar]] = {}
    for (_, t), var in ctx.v.slot.items():  # one pass, not one per team
        of_team.setdefault(t, []).append(var)
    for team in ctx.instance.outreach_teams:
        slots = of_team.get(team.id, [])
        if len(slots) > team.capacity:
            ctx.add_limit(("outreach_capacity", team.id), _total(slots) <= team.capacity)


def ending_placement(ctx: Context) -> None:
    """A child whose placement is ending must leave it."""
    for child in ctx.instance.children:
        if child.status == "ending" and child.current_placement is not None:
            var = ctx.v.assign.get((child.id, child.current_placement))
            if var is not None:
                ctx.forbid(("ending_placement", child.id), var)


def max_moves(ctx: Context) -> None:
    """At most ``policy.max_moves`` settled or at-risk children are moved (contract 4.1)."""
    limit = ctx.instance.policy.max_moves
    if limit is None:
        return
    movable = [c for c in ctx.instance.children if c.status in ("settled", "at_risk")]
    if len(movable) > limit:
        stays = [ctx.v.stay[c.id] for c in movable if c.id in ctx.v.stay]
        ctx.add_limit(("max_moves", "plan"), len(movable) - _total(stays) <= limit)


def sole_occupancy(ctx: Context) -> None:
    """A child who requires sole occupancy shares with nobody, residents included."""
    sole_at = ctx.occupants_among({c.id for c in ctx.instance.children if c.requires_sole})
    for placement in ctx.instance.placements:
        sole = [var for _, var in sole_at.get(placement.id, [])]
        if not sole:
            continue
        occupants = ctx.occupants(placement.id)
        key = ("sole_occupancy", placement.id)
        if placement.residents:
            for var in sole:
                ctx.forbid(key, var)
            continue
        others = [var for c, var in occupants if not c.requires_sole]
        if len(sole) > 1:
            ctx.at_most_one(key, sole)
        if others:
            anyone = _presence(ctx, f"others_present[placement={placement.id}]", others)
            for var in sole:
                ctx.implication(key, var, ~anyone)


def conflicts(ctx: Context) -> None:
    """Two children in a conflict pair never share a placement."""
    for conflict in ctx.instance.conflicts:
        for option, var in ctx.v.options[conflict.a]:
            other = ctx.v.assign.get((conflict.b, option.placement))
            if other is not None:
                ctx.at_most_one(("conflicts", f"{conflict.a}|{conflict.b}"), [var, other])


def sibling_groups(ctx: Context) -> None:
    """Required groups share one outcome; preferred groups that do not pay ``sibling_split``."""
    for group in ctx.instance.sibling_groups:
        members = ctx.instance.sibling_members.get(group.id, [])
        if len(members) < 2:
            continue
        split = ctx.v.sibling_split.get(group.id)
        first, rest = members[0], members[1:]
        outcomes = {opt.placement for m in members for opt, _ in ctx.v.options[m]} | {"home"}
        for outcome in sorted(outcomes):
            for member in rest:
                theirs, leader = ctx.v.outcome(member, outcome), ctx.v.outcome(first, outcome)
                if isinstance(theirs, int) and isinstance(leader, int):
                    continue
                same = ctx.add(("sibling_groups", group.id), theirs == leader)
                if split is not None:
                    same.only_enforce_if(~split)


def hsb_no_younger(ctx: Context) -> None:
    """A child with harmful sexual behaviour never shares with a younger one (both ways, 4.6).

    Per placement, a chain of literals younger[t] = "someone younger than t is here" for each age t
    of a child with the behaviour: each occupant implies the first link above its age, each link
    implies the next, and a child with the behaviour aged t implies not younger[t].
    """
    if not ctx.instance.policy.rules.hsb_no_younger:
        return
    need = "harmful_sexual_behaviour"
    with_hsb = ctx.with_need(need, 1)
    hsb_at = ctx.occupants_among(with_hsb)
    children = ctx.instance.children
    firsts = np.array([ctx.v.first_index[c.id] for c in children], dtype=np.int64)
    child_age = np.array([c.age for c in children], dtype=np.int64)
    child_hsb = np.array([c.id in with_hsb for c in children], dtype=bool)
    for placement in ctx.instance.placements:
        oldest_hsb_resident = max(
            (r.age for r in placement.residents if r.needs.get(need, 0) >= 1), default=-1
        )
        indices = ctx.v.index_at.get(placement.id)
        if indices is None or (placement.id not in hsb_at and oldest_hsb_resident < 0):
            continue  # nobody here has the behaviour, or nobody of ours could come: no constraint
        occupants = ctx.occupants(placement.id)
        youngest_resident = min((r.age for r in placement.residents), default=99)
        at = np.array(indices, dtype=np.int64)
        who = np.searchsorted(firsts, at, side="right") - 1  # each option's child, by position
        ages, hsb = child_age[who], child_hsb[who]
        too_young = ages < oldest_hsb_resident
        forbidden = too_young | (hsb & (youngest_resident < ages))
        watching = hsb & ~forbidden
        key = ("hsb_no_younger", placement.id)
        for i in np.flatnonzero(forbidden).tolist():  # in occupant order, as they come
            ctx.forbid(key, occupants[i][1])
        watched = sorted(set(ages[watching].tolist()))
        if not watched or not (ages < watched[-1]).any():
            continue
        younger = {
            age: ctx.model.new_bool_var(f"younger_than_{age}[placement={placement.id}]")
            for age in watched
        }
        for lower, upper in zip(watched, watched[1:], strict=False):
            ctx.model.add_implication(younger[lower], younger[upper])
        links = np.searchsorted(watched, ages, side="right")  # the first link above each age
        linked = links < len(watched)
        firsts_seen = np.unique(links[linked], return_index=True)
        for link in firsts_seen[0][np.argsort(firsts_seen[1])].tolist():  # first-seen order
            members = at[linked & (links == link)].tolist()
            age = watched[link]
            indices = [*members, younger[age].index]  # the link is made after every option
            coefficients = [1] * len(members) + [-len(members)]
            ctx.add_linear(None, indices, coefficients, cp_model.INT_MIN, 0)
        for i in np.flatnonzero(watching).tolist():
            ctx.implication(key, occupants[i][1], ~younger[int(ages[i])])


def max_per_placement(ctx: Context) -> None:
    """At most ``max`` occupants, residents included, with a need at ``min_level`` or above."""
    for index, rule in enumerate(ctx.instance.policy.rules.max_per_placement):
        with_need_at = ctx.occupants_among(ctx.with_need(rule.need, rule.min_level))
        for placement in ctx.instance.placements:
            residents = sum(
                r.needs.get(rule.need, 0) >= rule.min_level for r in placement.residents
            )
            ours = [var for _, var in with_need_at.get(placement.id, [])]
            room = max(rule.max - residents, 0)
            if len(ours) > room:
                key = ("max_per_placement", f"{index}|{placement.id}")
                ctx.add_terms(key, _ones(ours), cp_model.INT_MIN, room)


def incompatible_needs(ctx: Context) -> None:
    """No occupant with need ``a`` shares with a different occupant with need ``b`` (4.6).

    Occupants fall in three groups: only ``a``, only ``b``, both. Only-a and only-b never meet
    (two presence literals); a child with both shares with no one of any group, and at most one
    child with both is placed. With ``a == b`` every such child is in "both": at most one.
    """
    for index, rule in enumerate(ctx.instance.policy.rules.incompatible_needs):
        with_a = ctx.with_need(rule.a, rule.min_level)
        with_b = ctx.with_need(rule.b, rule.min_level)
        either_at = ctx.occupants_among(with_a | with_b)  # the rest are in no group
        for placement in ctx.instance.placements:
            occupants = either_at.get(placement.id, [])
            resident_a = any(r.needs.get(rule.a, 0) >= rule.min_level for r in placement.residents)
            resident_b = any(r.needs.get(rule.b, 0) >= rule.min_level for r in placement.residents)
            only_a, only_b, both = [], [], []
            key = ("incompatible_needs", f"{index}|{placement.id}")
            for child, var in occupants:
                child_a, child_b = child.id in with_a, child.id in with_b
                if (child_a and resident_b) or (child_b and resident_a):
                    ctx.forbid(key, var)
                elif child_a and child_b:
                    both.append(var)
                elif child_a:
                    only_a.append(var)
                elif child_b:
                    only_b.append(var)
            name = f"incompatible_{index}[placement={placement.id}]"
            present = {
                side: _presence(ctx, f"{name}.{side}_present", group)
                for side, group in (("a", only_a), ("b", only_b))
                if group and (both or (only_a and only_b))
            }
            if len(present) == 2:
                ctx.at_most_one(key, list(present.values()))
            if len(both) > 1:
                ctx.at_most_one(key, both)
            for var in both:
                for literal in present.values():
                    ctx.implication(key, var, ~literal)


def weekly_budget(ctx: Context) -> None:
    """Total marginal weekly cost (fees net of block beds, uplifts, outreach) within budget."""
    budget = ctx.instance.policy.weekly_budget
    if budget is not None:
        ctx.add_limit(("weekly_budget", "plan"), marginal_cost(ctx.instance, ctx.v) <= budget)


def marginal_cost(instance: Instance, v: Variables) -> cp_model.LinearExprT:
    """Weekly money in whole pounds (contract 4.5): fees net of block beds, uplifts, outreach."""
    placements, teams = instance.placement_by_id, instance.team_by_id
    variables, coefficients = [], []
    for child, options in v.options.items():
        needs = instance.child_by_id[child].needs
        for option, var in options:
            placement = placements[option.placement]
            uplift = placement.uplift_cost(needs)
            fee = 0 if placement.id in v.fees_paid else placement.weekly_cost
            variables.append(var)
            coefficients.append(fee + uplift)
    for placement_id, paid in v.fees_paid.items():
        variables.append(paid)
        coefficients.append(placements[placement_id].weekly_cost)
    for (_, team), var in v.slot.items():
        variables.append(var)
        coefficients.append(teams[team].weekly_cost)
    return cp_model.LinearExpr.weighted_sum(variables, coefficients)


CONSTRAINT_FAMILIES: dict[str, Callable[[Context], None]] = {
    "capacity": capacity,
    "staff_capacity": staff_capacity,
    "outreach_required": outreach_required,
    "return_home": return_home,
    "outreach_capacity": outreach_capacity,
    "ending_placement": ending_placement,
    "max_moves": max_moves,
    "sole_occupancy": sole_occupancy,
    "conflicts": conflicts,
    "sibling_groups": sibling_groups,
    "hsb_no_younger": hsb_no_younger,
    "max_per_placement": max_per_placement,
    "incompatible_needs": incompatible_needs,
    "weekly_budget": weekly_budget,
}
"""Constraint families in the order they are added, by their stable names."""

FAMILY_NAMES: tuple[str, ...] = ("eligibility", *CONSTRAINT_FAMILIES)
"""Every family name a user can see, ``eligibility`` (the variable filter) first."""
