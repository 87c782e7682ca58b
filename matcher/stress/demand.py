"""Uncertain demand and supply: scenarios drawn from an instance, the same for every option.

The demand model is read off an instance. Children who need a place tonight (``new`` and
``ending``) are the referral profiles; each scenario draws a cohort of Poisson(``arrivals``)
referrals by bootstrap from those profiles (age, sex, location, needs, care plan, outreach and
distance needs, priority, all kept together), replacing tonight's own referrals. Settled and
at-risk children are held where they are (every other placement, and home, in their
``ruled_out``): commissioning asks where new demand goes, not whether to move settled children.
A supply shock makes each spot place (an external placement with no block beds) full to new
children with probability ``spot_unavailable``.

Scenario ``k`` of seed ``s`` is drawn from ``numpy.random.default_rng([s, k])`` and does not depend
on the option being costed: every option meets the same scenarios (common random numbers).
Sibling groups, conflicts and the distance table are left out of scenarios.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.domain import NEEDS_A_PLACE, Child, Placement
from matcher.eligibility import HOME
from matcher.instance import Instance


@dataclass(frozen=True)
class DemandModel:
    """How scenarios are drawn from ``base``; see the module docstring."""

    base: Instance
    arrivals: float
    """Mean referrals per scenario (Poisson)."""
    spot_unavailable: float = 0.0
    """Probability that a spot place takes no new child in a scenario."""
    seed: int = 0

    @classmethod
    def from_instance(
        cls,
        base: Instance,
        arrivals: float | None = None,
        spot_unavailable: float = 0.0,
        seed: int = 0,
    ) -> DemandModel:
        """Arrivals default to tonight's referrals in ``base``."""
        profiles = [c for c in base.children if c.status in NEEDS_A_PLACE]
        if not profiles:
            raise ValueError("the instance has no new or ending children to draw referrals from")
        mean = float(len(profiles)) if arrivals is None else arrivals
        return cls(base, mean, spot_unavailable, seed)

    @property
    def profiles(self) -> list[Child]:
        return [c for c in self.base.children if c.status in NEEDS_A_PLACE]

    def scenario(self, k: int) -> Instance:
        """Scenario ``k``: held children, a drawn cohort of referrals, spot places shocked."""
        rng = np.random.default_rng([self.seed, k])
        profiles = self.profiles
        count = int(rng.poisson(self.arrivals))
        drawn = rng.integers(len(profiles), size=count)
        everywhere = [p.id for p in self.base.placements] + [HOME]
        held = [
            _held(c, everywhere) for c in self.base.children if c.status in ("settled", "at_risk")
        ]
        cohort = [
            profiles[j].model_copy(
                update={
                    "id": f"R{k:04d}-{n:04d}",
                    "status": "new",
                    "current_placement": None,
                    "sibling_group": None,
                    "staffing_at": {},
                    "ruled_out": [],
                }
            )
            for n, j in enumerate(drawn.tolist())
        ]
        shocked = rng.random(len(self.base.placements)) < self.spot_unavailable
        occupancy = _occupancy(held)
        placements = [
            _full(p, occupancy.get(p.id, 0)) if shock and _is_spot(p) else p
            for p, shock in zip(self.base.placements, shocked.tolist(), strict=True)
        ]
        return with_parts(
            self.base,
            children=held + cohort,
            placements=placements,
            conflicts=[],
            sibling_groups=[],
            distances=[],
        )


def with_parts(base: Instance, **parts: object) -> Instance:
    """``base`` with some record lists replaced, validated as a new instance (``model_copy``
    would carry over ``base``'s cached lookups)."""
    fields = {name: getattr(base, name) for name in Instance.model_fields}
    return Instance(**{**fields, **parts})


def _held(child: Child, everywhere: list[str]) -> Child:
    """The child with every other outcome ruled out: the stay (or unplaced) is all that is left."""
    others = [place for place in everywhere if place != child.current_placement]
    return child.model_copy(update={"ruled_out": others, "sibling_group": None})


def _occupancy(children: list[Child]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for child in children:
        if child.current_placement is not None:
            counts[child.current_placement] = counts.get(child.current_placement, 0) + 1
    return counts


def _is_spot(placement: Placement) -> bool:
    return placement.sector == "external" and placement.block_beds == 0


def _full(placement: Placement, ours: int) -> Placement:
    """The placement with no bed left for a new child (residents and held children keep theirs)."""
    return placement.model_copy(update={"capacity": len(placement.residents) + ours})
