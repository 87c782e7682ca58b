"""Who may live with whom: the policy rules and sole occupancy as a plain yes/no test.

Used where plans are built one child at a time (the greedy baseline, the instance generator),
where the occupancy bound asks which sets of children may share a placement
(``matcher.occupancy_bound``), and where the bed relaxation asks where a required sibling group
could live (``matcher.bounds``). The CP-SAT model states the same rules as constraints
(``matcher.cpsat.constraints``) and the independent checker re-derives them (``matcher.verify``);
neither uses this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from matcher.domain import Child, Placement, Rules
from matcher.eligibility import Candidates
from matcher.instance import Instance

HSB = "harmful_sexual_behaviour"


class Occupant(Protocol):
    """Anything with an age and needs: one of our children or a resident."""

    @property
    def age(self) -> int: ...

    @property
    def needs(self) -> dict[str, int]: ...


def _sole(person: Occupant) -> bool:
    return bool(getattr(person, "requires_sole", False))


def may_join(person: Occupant, occupants: Sequence[Occupant], rules: Rules) -> bool:
    """Whether ``person`` may move in with ``occupants`` (contract 1.7 and 4.6)."""
    if occupants and (_sole(person) or any(_sole(o) for o in occupants)):
        return False
    if not (rules.hsb_no_younger or rules.incompatible_needs or rules.max_per_placement):
        return True
    for other in occupants:
        if rules.hsb_no_younger:
            for older, younger in ((person, other), (other, person)):
                if older.needs.get(HSB, 0) >= 1 and younger.age < older.age:
                    return False
        for pair in rules.incompatible_needs:
            low = pair.min_level
            if (person.needs.get(pair.a, 0) >= low and other.needs.get(pair.b, 0) >= low) or (
                person.needs.get(pair.b, 0) >= low and other.needs.get(pair.a, 0) >= low
            ):
                return False
    for limit in rules.max_per_placement:
        if person.needs.get(limit.need, 0) >= limit.min_level:
            alike = sum(o.needs.get(limit.need, 0) >= limit.min_level for o in occupants)
            if alike + 1 > limit.max:
                return False
    return True


def group_hosts(instance: Instance, cands: Candidates) -> dict[str, frozenset[str]]:
    """For each sibling group of two or more members, the placements that could take the whole
    group at once whoever else is placed: an option of every member (not an ending member's
    own), beds and staff units for all of them beside the residents, no conflict pair among
    them, and the household rules held with the residents and each other. A member without
    options in ``cands`` (held where it is) leaves its group none."""
    rules = instance.policy.rules
    hosts: dict[str, frozenset[str]] = {}
    for group in instance.sibling_groups:
        ids = instance.sibling_members.get(group.id, [])
        if len(ids) < 2:
            continue
        members = [instance.child_by_id[m] for m in ids]
        places = [
            {o.placement for o in cands.options.get(m.id, [])}
            - ({m.current_placement} if m.status == "ending" else set())
            for m in members
        ]
        apart = any(c.a in ids and c.b in ids for c in instance.conflicts)
        shared = set() if apart else set.intersection(*places)
        hosts[group.id] = frozenset(
            p for p in shared if _may_host(instance.placement_by_id[p], members, rules)
        )
    return hosts


def required_group_hosts(
    instance: Instance, cands: Candidates, able: dict[str, frozenset[str]] | None = None
) -> dict[str, frozenset[str]]:
    """For each member of a required sibling group (two or more members), the placements that
    could take the whole group (``group_hosts``, or ``able`` if already worked out). A group
    with none can only be unplaced or go home (contract 1.7), which a relaxation that places
    children one by one would miss."""
    if able is None:
        able = group_hosts(instance, cands)
    hosts: dict[str, frozenset[str]] = {}
    for group in instance.sibling_groups:
        if group.together == "required" and group.id in able:
            hosts.update(dict.fromkeys(instance.sibling_members[group.id], able[group.id]))
    return hosts


def _may_host(placement: Placement, members: Sequence[Child], rules: Rules) -> bool:
    """Whether ``placement`` could take every one of ``members`` beside its residents."""
    if placement.capacity - len(placement.residents) < len(members):
        return False
    if placement.staff_capacity is not None:
        staff = sum(r.staffing for r in placement.residents)
        staff += sum(m.staff_units(placement.id) for m in members)
        if staff > placement.staff_capacity:
            return False
    occupants: list[Occupant] = list(placement.residents)
    for member in members:
        if not may_join(member, occupants, rules):
            return False
        occupants.append(member)
    return True
