"""Who may live with whom: the policy rules and sole occupancy as a plain yes/no test.

Used where plans are built one child at a time (the greedy baseline, the instance generator) and
where the occupancy bound asks which sets of children may share a placement
(``matcher.occupancy_bound``). The CP-SAT model states the same rules as constraints
(``matcher.cpsat.constraints``) and the independent checker re-derives them (``matcher.verify``);
neither uses this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from matcher.domain import Rules

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
