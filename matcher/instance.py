"""The Instance: all records together, checked against each other, with lookups by id.

Per-record rules live in ``matcher.domain``; here are the rules that need more than one record:
duplicate ids, dangling references, need keys outside ``meta.needs``, statuses without the fields
they need, and placements already over capacity with residents alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from functools import cached_property

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from matcher.domain import (
    Child,
    Conflict,
    DistanceRow,
    Meta,
    OutreachTeam,
    Placement,
    Policy,
    SiblingGroup,
)
from matcher.exceptions import Problem


class ReferenceProblems(ValueError):
    """Raised inside pydantic validation; carries the structured problems to the I/O layer."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems))


class Instance(BaseModel):
    """A whole placement instance (contract section 1)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    meta: Meta
    policy: Policy = Field(default_factory=Policy)
    children: list[Child] = Field(default_factory=list)
    placements: list[Placement] = Field(default_factory=list)
    outreach_teams: list[OutreachTeam] = Field(default_factory=list)
    conflicts: list[Conflict] = Field(default_factory=list)
    sibling_groups: list[SiblingGroup] = Field(default_factory=list)
    distances: list[DistanceRow] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self) -> Instance:
        problems = list(reference_problems(self))
        if problems:
            raise ReferenceProblems(problems)
        return self

    @cached_property
    def child_by_id(self) -> dict[str, Child]:
        return {child.id: child for child in self.children}

    @cached_property
    def placement_by_id(self) -> dict[str, Placement]:
        return {placement.id: placement for placement in self.placements}

    @cached_property
    def placement_index(self) -> dict[str, int]:
        """Placement id -> its position in ``placements``."""
        return {placement.id: k for k, placement in enumerate(self.placements)}

    @cached_property
    def cost_uplift_matrix(self) -> npt.NDArray[np.int64]:
        """Every placement's ``cost_uplift`` (pounds per level) as a needs x placements matrix,
        needs in ``meta.needs`` order: a child's uplift everywhere is its levels times it."""
        rows = [[p.cost_uplift.get(need, 0) for p in self.placements] for need in self.meta.needs]
        return np.array(rows, dtype=np.int64).reshape(len(self.meta.needs), len(self.placements))

    @cached_property
    def weekly_costs(self) -> npt.NDArray[np.int64]:
        """Every placement's fee (pounds a week), in placement order."""
        return np.array([p.weekly_cost for p in self.placements], dtype=np.int64)

    @cached_property
    def out_of_area_costs(self) -> npt.NDArray[np.float64]:
        """Every placement's out-of-area penalty (pounds; 0 in area), in placement order."""
        penalty = self.policy.weights.out_of_area
        return np.array([0 if p.in_area else penalty for p in self.placements], dtype=np.float64)

    @cached_property
    def staff_limited(self) -> bool:
        """Whether staff (``staff_capacity``) limits every placement, as in the GAP instances."""
        return bool(self.placements) and all(p.staff_capacity is not None for p in self.placements)

    @cached_property
    def team_by_id(self) -> dict[str, OutreachTeam]:
        return {team.id: team for team in self.outreach_teams}

    @cached_property
    def sibling_members(self) -> dict[str, list[str]]:
        """Sibling group id -> member child ids, in input order (groups with no member omitted)."""
        members: dict[str, list[str]] = {}
        for child in self.children:
            if child.sibling_group is not None:
                members.setdefault(child.sibling_group, []).append(child.id)
        return members

    @cached_property
    def block_fixed_cost(self) -> int:
        """Weekly price of every block bed, used or not (a constant in the objective)."""
        return sum(p.block_beds * p.block_weekly_cost for p in self.placements)


def _duplicates(ids: Iterable[str]) -> list[str]:
    return sorted(key for key, count in Counter(ids).items() if count > 1)


def reference_problems(instance: Instance) -> Iterator[Problem]:
    """Every cross-record fault of ``instance``; ``file`` is filled in by the reader."""
    children = {child.id for child in instance.children}
    placements = {placement.id for placement in instance.placements}
    groups = {group.id for group in instance.sibling_groups}
    vocabulary = set(instance.meta.needs)

    for name, ids in (
        ("child", [c.id for c in instance.children]),
        ("placement", [p.id for p in instance.placements]),
        ("outreach team", [t.id for t in instance.outreach_teams]),
        ("sibling_group", [g.id for g in instance.sibling_groups]),
        ("meta", list(instance.meta.needs)),
    ):
        for duplicate in _duplicates(ids):
            field = "needs" if name == "meta" else "id"
            yield Problem("", f"{name} {duplicate}", field, "appears more than once")

    def unknown_needs(record: str, field: str, keys: Iterable[str]) -> Iterator[Problem]:
        for key in keys:
            if key not in vocabulary:
                yield Problem("", record, field, f"need key {key!r} is not in meta.needs")

    for child in instance.children:
        record = f"child {child.id}"
        yield from unknown_needs(record, "needs", child.needs)
        if child.status != "new" and child.current_placement is None:
            yield Problem("", record, "current_placement", f"status {child.status} needs one")
        if child.status != "new" and child.current_placement is not None:
            if child.current_placement not in placements:
                yield Problem(
                    "", record, "current_placement", f"unknown placement {child.current_placement}"
                )
        if child.sibling_group is not None and child.sibling_group not in groups:
            yield Problem("", record, "sibling_group", f"unknown group {child.sibling_group}")
        for key in child.staffing_at:
            if key not in placements:
                yield Problem("", record, "staffing_at", f"unknown placement {key}")
        for key in child.ruled_out:
            if key not in placements and key != "home":
                yield Problem("", record, "ruled_out", f"unknown placement {key}")
            elif key == child.current_placement and child.status in ("settled", "at_risk"):
                yield Problem("", record, "ruled_out", f"{key} is the child's stay")

    for placement in instance.placements:
        record = f"placement {placement.id}"
        yield from unknown_needs(record, "meets", placement.meets)
        yield from unknown_needs(record, "cost_uplift", placement.cost_uplift)
        if placement.age_min > placement.age_max:
            yield Problem(
                "", record, "age_min", f"{placement.age_min} is above age_max {placement.age_max}"
            )
        resident_staff = sum(r.staffing for r in placement.residents)
        if placement.staff_capacity is not None and resident_staff > placement.staff_capacity:
            yield Problem(
                "",
                record,
                "staff_capacity",
                f"residents use {resident_staff} staff units, above {placement.staff_capacity}",
            )
        if len(placement.residents) > placement.capacity:
            yield Problem(
                "",
                record,
                "residents",
                f"{len(placement.residents)} residents exceed capacity {placement.capacity}",
            )
        for index, resident in enumerate(placement.residents):
            yield from unknown_needs(f"{record} resident {index}", "needs", resident.needs)

    for team in instance.outreach_teams:
        yield from unknown_needs(f"outreach team {team.id}", "needs", team.needs or [])

    for index, conflict in enumerate(instance.conflicts):
        record = f"conflict {index} ({conflict.a}, {conflict.b})"
        for field in ("a", "b"):
            if getattr(conflict, field) not in children:
                yield Problem("", record, field, f"unknown child {getattr(conflict, field)}")
        if conflict.a == conflict.b:
            yield Problem("", record, "b", "a child cannot conflict with itself")

    seen_pairs: set[tuple[str, str]] = set()
    for index, row in enumerate(instance.distances):
        record = f"distance {index} ({row.child}, {row.placement})"
        if row.child not in children:
            yield Problem("", record, "child", f"unknown child {row.child}")
        if row.placement not in placements:
            yield Problem("", record, "placement", f"unknown placement {row.placement}")
        if (row.child, row.placement) in seen_pairs:
            yield Problem("", record, "km", "the pair is listed more than once")
        seen_pairs.add((row.child, row.placement))

    rules = instance.policy.rules
    for index, rule in enumerate(rules.max_per_placement):
        yield from unknown_needs(f"policy.rules.max_per_placement[{index}]", "need", [rule.need])
    for index, pair_rule in enumerate(rules.incompatible_needs):
        record = f"policy.rules.incompatible_needs[{index}]"
        yield from unknown_needs(record, "a", [pair_rule.a])
        yield from unknown_needs(record, "b", [pair_rule.b])
