"""The hard constraints, one function per family (contract 1.7 and 4).

Each family has a stable name, the key in ``CONSTRAINT_FAMILIES``, that tests, explanations and
``build_model(families=...)`` use. ``eligibility`` is a family too, but it acts one layer down: it
decides which assignment variables exist at all (see ``matcher.eligibility``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ortools.sat.python import cp_model

from matcher.cpsat.variables import Variables
from matcher.domain import Child
from matcher.eligibility import Candidates
from matcher.instance import Instance


@dataclass(frozen=True)
class Context:
    """What every constraint family reads: the model, the instance, candidates and variables."""

    model: cp_model.CpModel
    instance: Instance
    candidates: Candidates
    v: Variables

    def occupants(self, placement: str) -> list[tuple[Child, cp_model.IntVar]]:
        """Our children who may be placed at ``placement``, with their assignment variables."""
        child_by_id = self.instance.child_by_id
        return [(child_by_id[c], var) for c, var in self.v.at_placement.get(placement, [])]


def _total(variables: list[cp_model.IntVar]) -> cp_model.LinearExprT:
    return cp_model.LinearExpr.sum(variables)


def _count(ctx: Context, name: str, variables: list[cp_model.IntVar]) -> cp_model.IntVar:
    """An integer variable equal to the number of ``variables`` that are 1 (one constraint)."""
    count = ctx.model.new_int_var(0, len(variables), name)
    ctx.model.add(count == _total(variables))
    return count


def _alone_among(
    ctx: Context, name: str, group: list[tuple[Child, cp_model.IntVar]],
    watchers: list[tuple[Child, cp_model.IntVar]],
) -> None:
    """Each watcher, when placed, shares with no member of ``group`` but itself.

    One count of the group and one short enforced constraint per watcher, instead of one
    constraint per pair: O(group + watchers) terms.
    """
    if not group or not watchers:
        return
    members = {id(child) for child, _ in group}
    if len(group) == 1 and all(id(c) in members for c, _ in watchers):
        return
    count = _count(ctx, name, [var for _, var in group])
    for child, var in watchers:
        ctx.model.add(count <= int(id(child) in members)).only_enforce_if(var)


def capacity(ctx: Context) -> None:
    """Our children plus residents never exceed a placement's beds."""
    for placement in ctx.instance.placements:
        occupants = ctx.v.at_placement.get(placement.id, [])
        free = placement.capacity - len(placement.residents)
        if len(occupants) > free:
            ctx.model.add(_total([var for _, var in occupants]) <= free)


def outreach_required(ctx: Context) -> None:
    """An option allowed only with outreach (need uplift or requires_outreach) takes a slot.

    Options are grouped by the teams that could serve them; a child takes at most one option, so
    one constraint per group says: if any option of the group is taken, one of its teams serves.
    """
    for child, options in ctx.v.options.items():
        slots = ctx.v.slots_of_child[child]
        groups: dict[tuple[str, ...], list[cp_model.IntVar]] = {}
        for option, var in options:
            if option.teams is not None:
                groups.setdefault(option.teams, []).append(var)
        for teams, variables in groups.items():
            ctx.model.add(_total(variables) <= _total([slots[t] for t in teams]))


def return_home(ctx: Context) -> None:
    """A child returned home holds a slot of a team whose radius covers home (contract 4.7)."""
    for child, var in ctx.v.home.items():
        slots = ctx.v.slots_of_child[child]
        teams = ctx.candidates.home_teams[child]
        ctx.model.add(var <= _total([slots[t] for t in teams]))


def outreach_capacity(ctx: Context) -> None:
    """A team serves at most ``capacity`` children at a time."""
    for team in ctx.instance.outreach_teams:
        slots = [var for (_, t), var in ctx.v.slot.items() if t == team.id]
        if len(slots) > team.capacity:
            ctx.model.add(_total(slots) <= team.capacity)


def ending_placement(ctx: Context) -> None:
    """A child whose placement is ending must leave it."""
    for child in ctx.instance.children:
        if child.status == "ending" and child.current_placement is not None:
            var = ctx.v.assign.get((child.id, child.current_placement))
            if var is not None:
                ctx.model.add(var == 0)


def max_moves(ctx: Context) -> None:
    """At most ``policy.max_moves`` settled or at-risk children are moved (contract 4.1)."""
    limit = ctx.instance.policy.max_moves
    if limit is None:
        return
    movable = [c for c in ctx.instance.children if c.status in ("settled", "at_risk")]
    if len(movable) > limit:
        stays = [ctx.v.stay[c.id] for c in movable if c.id in ctx.v.stay]
        ctx.model.add(len(movable) - _total(stays) <= limit)


def sole_occupancy(ctx: Context) -> None:
    """A child who requires sole occupancy shares with nobody, residents included."""
    for placement in ctx.instance.placements:
        occupants = ctx.occupants(placement.id)
        sole = [(c, var) for c, var in occupants if c.requires_sole]
        if placement.residents:
            for _, var in sole:
                ctx.model.add(var == 0)
        else:
            _alone_among(ctx, f"occupants[placement={placement.id}]", occupants, sole)


def conflicts(ctx: Context) -> None:
    """Two children in a conflict pair never share a placement."""
    for conflict in ctx.instance.conflicts:
        for option, var in ctx.v.options[conflict.a]:
            other = ctx.v.assign.get((conflict.b, option.placement))
            if other is not None:
                ctx.model.add_at_most_one([var, other])


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
                same = ctx.model.add(theirs == leader)
                if split is not None:
                    same.only_enforce_if(~split)


def hsb_no_younger(ctx: Context) -> None:
    """A child with harmful sexual behaviour never shares with a younger one (both ways, 4.6)."""
    if not ctx.instance.policy.rules.hsb_no_younger:
        return
    need = "harmful_sexual_behaviour"
    for placement in ctx.instance.placements:
        occupants = ctx.occupants(placement.id)
        oldest_hsb_resident = max(
            (r.age for r in placement.residents if r.needs.get(need, 0) >= 1), default=-1
        )
        youngest_resident = min((r.age for r in placement.residents), default=99)
        watchers: dict[int, list[tuple[Child, cp_model.IntVar]]] = {}
        for child, var in occupants:
            if child.age < oldest_hsb_resident:
                ctx.model.add(var == 0)
            elif child.needs.get(need, 0) >= 1:
                if youngest_resident < child.age:
                    ctx.model.add(var == 0)
                else:
                    watchers.setdefault(child.age, []).append((child, var))
        for age, hsb in watchers.items():
            younger = [(c, var) for c, var in occupants if c.age < age]
            _alone_among(ctx, f"younger_than_{age}[placement={placement.id}]", younger, hsb)


def max_per_placement(ctx: Context) -> None:
    """At most ``max`` occupants, residents included, with a need at ``min_level`` or above."""
    for rule in ctx.instance.policy.rules.max_per_placement:
        for placement in ctx.instance.placements:
            residents = sum(r.needs.get(rule.need, 0) >= rule.min_level for r in placement.residents)
            ours = [
                var for c, var in ctx.occupants(placement.id)
                if c.needs.get(rule.need, 0) >= rule.min_level
            ]
            room = max(rule.max - residents, 0)
            if len(ours) > room:
                ctx.model.add(_total(ours) <= room)


def incompatible_needs(ctx: Context) -> None:
    """No occupant with need ``a`` shares with a different occupant with need ``b`` (4.6)."""
    for index, rule in enumerate(ctx.instance.policy.rules.incompatible_needs):
        for placement in ctx.instance.placements:
            occupants = ctx.occupants(placement.id)

            def has(needs: dict[str, int], key: str) -> bool:
                return needs.get(key, 0) >= rule.min_level  # noqa: B023 - used inside the loop only

            resident_a = any(has(r.needs, rule.a) for r in placement.residents)
            resident_b = any(has(r.needs, rule.b) for r in placement.residents)
            with_a, with_b = [], []
            for child, var in occupants:
                child_a, child_b = has(child.needs, rule.a), has(child.needs, rule.b)
                if (child_a and resident_b) or (child_b and resident_a):
                    ctx.model.add(var == 0)
                    continue
                if child_a:
                    with_a.append((child, var))
                if child_b:
                    with_b.append((child, var))
            _alone_among(ctx, f"incompatible_{index}[placement={placement.id}]", with_b, with_a)


def weekly_budget(ctx: Context) -> None:
    """Total marginal weekly cost (fees net of block beds, uplifts, outreach) within budget."""
    budget = ctx.instance.policy.weekly_budget
    if budget is not None:
        ctx.model.add(marginal_cost(ctx.instance, ctx.v) <= budget)


def marginal_cost(instance: Instance, v: Variables) -> cp_model.LinearExprT:
    """Weekly money in whole pounds (contract 4.5): fees net of block beds, uplifts, outreach."""
    placements, teams = instance.placement_by_id, instance.team_by_id
    variables, coefficients = [], []
    for child, options in v.options.items():
        needs = instance.child_by_id[child].needs
        for option, var in options:
            placement = placements[option.placement]
            uplift = sum(placement.cost_uplift.get(n, 0) * level for n, level in needs.items())
            variables.append(var)
            coefficients.append(placement.weekly_cost + uplift)
    for placement_id, used in v.block_used.items():
        variables.append(used)
        coefficients.append(-placements[placement_id].weekly_cost)
    for (_, team), var in v.slot.items():
        variables.append(var)
        coefficients.append(teams[team].weekly_cost)
    return cp_model.LinearExpr.weighted_sum(variables, coefficients)


CONSTRAINT_FAMILIES: dict[str, Callable[[Context], None]] = {
    "capacity": capacity,
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
