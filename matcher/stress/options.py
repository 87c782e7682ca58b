"""The options a commissioner compares, each applied to every scenario alike.

A block contract of ``size`` beds with ``provider`` at ``price`` a bed a week: the provider's
placements get block beds, filled in input order up to each one's beds not taken by residents, so
the first ``size`` of our children placed with the provider pay no fee and every block bed costs
``price`` a week, used or not (contract 1.3). It replaces any block the provider had. New
provision adds placements and outreach teams to every scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from matcher.domain import OutreachTeam, Placement
from matcher.exceptions import InvalidInstanceError, Problem
from matcher.instance import Instance
from matcher.io import instance_from_dict, instance_to_dict, read_json_file
from matcher.stress.demand import with_parts


def provider_beds(instance: Instance, provider: str) -> int:
    """Beds the provider has for our children (capacity less residents), over its placements."""
    return sum(
        max(p.capacity - len(p.residents), 0) for p in instance.placements if p.provider == provider
    )


@dataclass(frozen=True)
class BlockContract:
    """``size`` block beds with ``provider`` at ``price`` pounds a bed a week."""

    provider: str
    size: int
    price: int

    @property
    def label(self) -> str:
        return f"block {self.size}"

    def apply(self, scenario: Instance) -> Instance:
        left = self.size
        placements = []
        for p in scenario.placements:
            if p.provider != self.provider:
                placements.append(p)
                continue
            beds = min(left, max(p.capacity - len(p.residents), 0))
            left -= beds
            update = {"block_beds": beds, "block_weekly_cost": self.price if beds else 0}
            placements.append(p.model_copy(update=update))
        if left > 0:
            raise ValueError(f"provider {self.provider} has too few beds for {self.size}")
        return with_parts(scenario, placements=placements)

    @staticmethod
    def check(instance: Instance, provider: str, sizes: list[int], source: str) -> None:
        """Refuse an unknown provider or a size above its beds, naming the option."""
        if not any(p.provider == provider for p in instance.placements):
            known = sorted({p.provider for p in instance.placements})
            message = f"no placement has provider {provider!r} (providers: {', '.join(known)})"
            raise InvalidInstanceError([Problem(source, "", "--provider", message)])
        beds = provider_beds(instance, provider)
        if max(sizes) > beds:
            message = f"size {max(sizes)} is above the {beds} beds provider {provider} has"
            raise InvalidInstanceError([Problem(source, "", "--sizes", message)])


@dataclass(frozen=True)
class NewProvision:
    """Places and outreach teams added to every scenario (none: the baseline)."""

    placements: list[Placement] = field(default_factory=list)
    outreach_teams: list[OutreachTeam] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "with new provision" if self.placements or self.outreach_teams else "baseline"

    def apply(self, scenario: Instance) -> Instance:
        if not (self.placements or self.outreach_teams):
            return scenario
        return with_parts(
            scenario,
            placements=scenario.placements + self.placements,
            outreach_teams=scenario.outreach_teams + self.outreach_teams,
        )


Option = BlockContract | NewProvision


def read_provision(path: str, base: Instance) -> NewProvision:
    """New places from a JSON file ``{"placements": [...], "outreach_teams": [...]}`` (contract
    records), checked as part of ``base``: problems name the file, record and field."""
    raw = read_json_file(Path(path))
    if not isinstance(raw, dict) or not raw or set(raw) - {"placements", "outreach_teams"}:
        message = 'expected an object with "placements" and/or "outreach_teams" lists'
        raise InvalidInstanceError([Problem(path, "", "", message)])
    document = instance_to_dict(base)
    for key in ("placements", "outreach_teams"):
        if not isinstance(raw.get(key, []), list):
            raise InvalidInstanceError([Problem(path, "", key, "must be a list")])
        document[key] += raw.get(key, [])
    merged = instance_from_dict(document, path)
    added = len(base.placements), len(base.outreach_teams)
    return NewProvision(merged.placements[added[0] :], merged.outreach_teams[added[1] :])
