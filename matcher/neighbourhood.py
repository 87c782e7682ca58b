"""A plan's neighbourhood as an instance of its own: the children free to change, with everyone
else held where the plan puts them, as residents of their placements.

Neighbourhood search (``matcher.lns``) and local re-solves (``matcher.explain.whatif``) solve this
small instance instead of the whole model with most variables fixed: on the county instance
loading and presolving the whole shortlist took ~0.3 s a re-solve, a neighbourhood of 40 children
a few tens of milliseconds. Options at placements the held children fill are dropped. Held
children keep their share of every shared limit (beds, block beds, staff, outreach slots, moves,
budget) and, as residents, take part in the rules (age, sex, needs), so any plan of the
neighbourhood joined to the held children is a plan of the instance, and the two objectives
differ by a constant (the held children's own terms): differences between solutions of the
neighbourhood are exact.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from matcher.domain import Child, OutreachTeam, Placement, Policy, Resident
from matcher.eligibility import Candidates, Option
from matcher.instance import Instance
from matcher.plans import HOME, Outcome, make_plan


@dataclass(frozen=True)
class Neighbourhood:
    """The free children's instance and options, and the plan's objective and weekly money on it
    (pounds): a re-solve's saving or cost is measured against these."""

    instance: Instance
    candidates: Candidates
    outcomes: dict[str, Outcome]
    objective: float
    marginal_weekly_cost: int


def with_siblings(instance: Instance, free: set[str]) -> set[str]:
    """``free`` and every sibling of its members: a group moves as one, or not at all."""
    groups = {instance.child_by_id[c].sibling_group for c in free} - {None}
    members = instance.sibling_members
    return free | {m for group in groups for m in members.get(str(group), [])}


@dataclass(frozen=True)
class Room:
    """Room a plan leaves in the limits all children share: free outreach slots by team, moves
    left under ``max_moves``, and weekly money left under the budget (pounds); None where the
    policy sets no limit."""

    slots: dict[str, int]
    moves: int | None
    money: int | None

    def shares(self, count: int) -> list[Room]:
        """The room split into ``count`` parts that add up to it, one per neighbourhood solved
        at once, so that their plans joined still keep every shared limit."""

        def part(room: int | None, index: int) -> int | None:
            return None if room is None else room // count + (index < room % count)

        return [
            Room(
                {team: part(free, i) or 0 for team, free in self.slots.items()},
                part(self.moves, i),
                part(self.money, i),
            )
            for i in range(count)
        ]


def room(instance: Instance, plan: dict[str, Outcome], marginal_weekly_cost: int) -> Room:
    """The room ``plan`` (its weekly money ``marginal_weekly_cost``) leaves in the shared
    limits."""
    used = Counter(outcome.team for outcome in plan.values() if outcome.team)
    policy = instance.policy
    return Room(
        {team.id: max(team.capacity - used[team.id], 0) for team in instance.outreach_teams},
        None if policy.max_moves is None else policy.max_moves - _moves(instance, plan),
        None if policy.weekly_budget is None else policy.weekly_budget - marginal_weekly_cost,
    )


def _moves(instance: Instance, outcomes: dict[str, Outcome]) -> int:
    """Settled and at-risk children ``outcomes`` moves (contract 4.1)."""
    return sum(
        instance.child_by_id[c].status in ("settled", "at_risk")
        and o.placement != instance.child_by_id[c].current_placement
        for c, o in outcomes.items()
    )


def neighbourhood(
    instance: Instance,
    cands: Candidates,
    plan: dict[str, Outcome],
    free: set[str],
    marginal_weekly_cost: int,
    made: dict[tuple[str, tuple[str, ...]], Placement] | None = None,
    share: tuple[Room, Room] | None = None,
) -> Neighbourhood:
    """The instance in which only ``free`` (with their siblings) may change and everyone else is
    held where ``plan`` puts them; ``marginal_weekly_cost`` is the whole plan's weekly money.
    ``made`` keeps placements already rebuilt with their held children, by placement and held
    children, for a caller that asks for many neighbourhoods (~50 us each to rebuild). With
    ``share`` (the plan's room, and this neighbourhood's part of it) the free children may use
    only their part of the room in the shared limits, for others solved at once."""
    made = {} if made is None else made
    free = with_siblings(instance, free)
    held = {c: o for c, o in plan.items() if c not in free}
    held_at: dict[str, list[Child]] = defaultdict(list)
    for child_id, outcome in held.items():
        if outcome.placement not in (None, HOME):
            held_at[str(outcome.placement)].append(instance.child_by_id[child_id])
    children = [c for c in instance.children if c.id in free]
    full = _full(instance, held_at)
    options = {c.id: _options_beside(instance, cands, c.id, held, full) for c in children}
    wanted = {o.placement for child_options in options.values() for o in child_options}
    wanted |= {c.current_placement for c in children if c.current_placement}
    placements = []
    for placement in instance.placements:
        if placement.id in wanted:
            here = held_at.get(placement.id, [])
            key = (placement.id, tuple(c.id for c in here))
            if key not in made:
                made[key] = _with_held(placement, here)
            placements.append(made[key])
    whole, part = share if share is not None else (Room({}, 0, 0), Room({}, 0, 0))
    slots_held = Counter(o.team for o in held.values() if o.team)
    slots_held.update({t: whole.slots[t] - part.slots[t] for t in whole.slots})
    teams = [
        t.model_copy(update={"capacity": max(t.capacity - slots_held[t.id], 0)})
        for t in instance.outreach_teams
    ]
    policy = instance.policy
    if policy.max_moves is not None:
        moves_held = _moves(instance, held) + (whole.moves or 0) - (part.moves or 0)
        policy = policy.model_copy(update={"max_moves": policy.max_moves - moves_held})
    policy_without_budget = policy.model_copy(update={"weekly_budget": None})
    local = _part(instance, children, placements, teams, policy_without_budget, free)
    local_cands = Candidates(options, {c: t for c, t in cands.home_teams.items() if c in free})
    outcomes = {c: plan[c] for c in options}
    base = make_plan(local, local_cands, outcomes, rank=1)
    if policy.weekly_budget is not None:
        held_money = marginal_weekly_cost - base.marginal_weekly_cost
        held_money += (whole.money or 0) - (part.money or 0)
        budget = policy.model_copy(update={"weekly_budget": policy.weekly_budget - held_money})
        local = rebuilt(local, policy=budget)
    return Neighbourhood(local, local_cands, outcomes, base.objective, base.marginal_weekly_cost)


def _options_beside(
    instance: Instance,
    cands: Candidates,
    child_id: str,
    held: dict[str, Outcome],
    full: set[str],
) -> list[Option]:
    """The child's options, less ``full`` placements and those where a held child it must not
    meet lives."""
    partners = {
        conflict.b if conflict.a == child_id else conflict.a
        for conflict in instance.conflicts
        if child_id in (conflict.a, conflict.b)
    }
    barred = full | {str(held[p].placement) for p in partners if p in held}
    return [o for o in cands.options[child_id] if o.placement not in barred]


def _full(instance: Instance, held_at: dict[str, list[Child]]) -> set[str]:
    """Placements with no bed left beside their residents and held children (and none beside a
    held child who must live alone)."""
    full = {p.id for p in instance.placements if p.capacity <= len(p.residents)}
    for placement_id, held in held_at.items():
        placement = instance.placement_by_id[placement_id]
        beds = placement.capacity - len(placement.residents)
        if len(held) >= beds or any(c.requires_sole for c in held):
            full.add(placement_id)
    return full


def _with_held(placement: Placement, held: list[Child]) -> Placement:
    """The placement with held children as residents, their block beds used, and no room left
    beside a held child who must live alone."""
    if not held:
        return placement
    residents = [
        *placement.residents,
        *(
            Resident.model_construct(
                age=c.age, sex=c.sex, needs=c.needs, staffing=c.staff_units(placement.id)
            )
            for c in held
        ),
    ]
    update: dict[str, object] = {
        "residents": residents,
        "block_beds": max(placement.block_beds - len(held), 0),
    }
    if any(c.requires_sole for c in held):
        update["capacity"] = len(residents)
    return placement.model_copy(update=update)


def raised(instance: Instance, family: str, record: str, step: int) -> Instance:
    """``instance`` with one limit raised by ``step``: a placement's beds or staff units, or an
    outreach team's slots."""
    if family == "outreach_capacity":
        teams = [
            t.model_copy(update={"capacity": t.capacity + step}) if t.id == record else t
            for t in instance.outreach_teams
        ]
        return rebuilt(instance, outreach_teams=teams)
    placements = [
        p.model_copy(update={family: getattr(p, family) + step}) if p.id == record else p
        for p in instance.placements
    ]
    return rebuilt(instance, placements=placements)


def rebuilt(instance: Instance, **changes: object) -> Instance:
    """A new Instance with ``changes``, built without validation (every record comes from a valid
    one) and without the old one's cached lookups, which ``model_copy`` would carry over."""
    fields = {name: getattr(instance, name) for name in Instance.model_fields}
    return Instance.model_construct(**(fields | changes))


def _part(
    instance: Instance,
    children: list[Child],
    placements: list[Placement],
    teams: list[OutreachTeam],
    policy: Policy,
    free: set[str],
) -> Instance:
    """The part of ``instance`` the free children live in."""
    return rebuilt(
        instance,
        policy=policy,
        children=children,
        placements=placements,
        outreach_teams=teams,
        conflicts=[c for c in instance.conflicts if c.a in free and c.b in free],
        sibling_groups=[
            g
            for g in instance.sibling_groups
            if any(m in free for m in instance.sibling_members.get(g.id, []))
        ],
        distances=[d for d in instance.distances if d.child in free],
    )
