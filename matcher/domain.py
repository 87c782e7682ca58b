"""Pydantic records for the instance contract (shared/spec/instance-format.md, section 1).

Each record validates itself (types, ranges, finite numbers); cross-references between records are
checked in ``matcher.instance``. Need levels of 0 are dropped on load, because the contract says a
level 0 means the same as an absent need: that keeps JSON -> CSV -> JSON exact.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PlacementType = Literal["foster", "residential", "supported", "assessment"]
Sex = Literal["F", "M", "X"]
Status = Literal["new", "settled", "at_risk", "ending"]
Sector = Literal["in_house", "external"]
Together = Literal["required", "preferred"]
NEEDS_A_PLACE: tuple[str, ...] = ("new", "ending")
"""Statuses of children who must find a placement tonight: tonight's referrals."""

PLACEMENT_TYPES: tuple[str, ...] = ("foster", "residential", "supported", "assessment")
SEXES: tuple[str, ...] = ("F", "M", "X")
SUPPORTED_MIN_AGE = 16
ADULT_AGE = 18

DEFAULT_NEEDS: tuple[str, ...] = (
    "aggression",
    "emotional_wellbeing",
    "harmful_sexual_behaviour",
    "exploitation_risk",
    "missing_risk",
    "offending",
    "substance_misuse",
    "self_harm",
    "complex_health",
    "disability",
    "autism",
    "young_parent",
)

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Level = Annotated[int, Field(ge=0, le=3)]
Money = Annotated[int, Field(ge=0, le=10_000_000)]
Km = Annotated[float, Field(ge=0, le=20_000)]
Age = Annotated[int, Field(ge=0, le=25)]
StaffUnits = Annotated[int, Field(ge=0, le=1000)]


class Record(BaseModel):
    """Common settings: unknown fields are errors (typo protection), NaN and inf are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


def _drop_zero_levels(levels: dict[str, int]) -> dict[str, int]:
    """A level of 0 means absent (contract 4.10); drop it so equal instances compare equal."""
    return {need: level for need, level in levels.items() if level != 0}


class Location(Record):
    """A WGS84 point."""

    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class Child(Record):
    """A child who needs a home tonight, or who may keep the one they have."""

    id: Id
    age: Age
    sex: Sex
    location: Location
    needs: dict[str, Level] = Field(default_factory=dict)
    status: Status
    current_placement: Id | None = None
    allowed_types: Annotated[list[PlacementType], Field(min_length=1)] | None = None
    return_home: bool = False
    requires_outreach: bool = False
    requires_sole: bool = False
    max_distance_km: Km | None = None
    priority: Annotated[int, Field(ge=1, le=3)] = 1
    sibling_group: Id | None = None
    staffing: StaffUnits = 1
    """Extension: staff units the child uses where a placement has ``staff_capacity`` (2 for a
    child needing 2:1 staffing)."""
    staffing_at: dict[Id, StaffUnits] = Field(default_factory=dict)
    """Extension: staff units at particular placements, overriding ``staffing`` there."""
    ruled_out: list[Id] = Field(default_factory=list)
    """Extension: placements the team has ruled out for this child (a proposal it rejected);
    ``home`` rules out returning home. A stay cannot be ruled out."""

    _levels = field_validator("needs")(_drop_zero_levels)

    def staff_units(self, placement: str) -> int:
        """Staff units the child would use at ``placement``."""
        return self.staffing_at.get(placement, self.staffing)

    def care_plan_types(self) -> tuple[str, ...]:
        """Placement types the care plan allows; the legal default by age when none is given."""
        if self.allowed_types is not None:
            return tuple(self.allowed_types)
        if self.age >= ADULT_AGE:
            return ("supported",)
        if self.age >= SUPPORTED_MIN_AGE:
            return PLACEMENT_TYPES
        return ("foster", "residential", "assessment")


class Resident(Record):
    """Someone already living in a placement whom the matcher must not move."""

    age: Age
    sex: Sex
    needs: dict[str, Level] = Field(default_factory=dict)
    staffing: StaffUnits = 1
    """Extension: staff units the resident uses (see ``Placement.staff_capacity``)."""

    _levels = field_validator("needs")(_drop_zero_levels)


class Placement(Record):
    """A children's home, foster household, supported accommodation or assessment bed."""

    id: Id
    provider: Annotated[str, Field(min_length=1, max_length=200)]
    type: PlacementType
    sector: Sector
    location: Location
    in_area: bool
    capacity: Annotated[int, Field(ge=0, le=1000)]
    residents: list[Resident] = Field(default_factory=list)
    age_min: Age = 0
    age_max: Age = 25
    sexes: Annotated[list[Sex], Field(min_length=1)] = Field(default_factory=lambda: list(SEXES))
    meets: dict[str, Level] = Field(default_factory=dict)
    weekly_cost: Money
    cost_uplift: dict[str, Money] = Field(default_factory=dict)
    block_beds: Annotated[int, Field(ge=0, le=1000)] = 0
    block_weekly_cost: Money = 0
    staff_capacity: Annotated[int, Field(ge=0, le=100_000)] | None = None
    """Extension: staff units on hand; children and residents use their ``staffing`` of it.
    None: staffing does not limit this placement."""

    _levels = field_validator("meets", "cost_uplift")(_drop_zero_levels)

    def uplift_cost(self, needs: dict[str, int]) -> int:
        """Weekly uplift for a child with ``needs``: cost_uplift[need] per level (contract 1.3)."""
        if not self.cost_uplift:
            return 0
        return sum(self.cost_uplift.get(need, 0) * level for need, level in needs.items())


class OutreachTeam(Record):
    """An outreach team that supports children where they live or lets them return home."""

    id: Id
    location: Location
    radius_km: Km
    capacity: Annotated[int, Field(ge=0, le=10_000)]
    weekly_cost: Money
    uplift: Annotated[int, Field(ge=0, le=3)] = 1
    needs: Annotated[list[str], Field(min_length=1)] | None = None


class Conflict(Record):
    """Two children who must never share a placement."""

    a: Id
    b: Id
    reason: Annotated[str, Field(max_length=500)] | None = None


class SiblingGroup(Record):
    """Siblings who must (required) or should (preferred) be placed together."""

    id: Id
    together: Together = "preferred"


class DistanceRow(Record):
    """A child-placement distance that overrides the great-circle one."""

    child: Id
    placement: Id
    km: Km


class Weights(Record):
    """Objective weights (contract section 2); defaults in the contract's brackets."""

    distance_per_km: Annotated[float, Field(ge=0, le=1e6)] = 5
    out_of_area: Annotated[float, Field(ge=0, le=1e7)] = 250
    move_settled: Annotated[float, Field(ge=0, le=1e7)] = 3000
    move_at_risk: Annotated[float, Field(ge=0, le=1e7)] = 250
    unplaced: Annotated[float, Field(ge=0, le=1e8)] = 50000
    sibling_split: Annotated[float, Field(ge=0, le=1e7)] = 5000


class MaxPerPlacement(Record):
    """At most ``max`` occupants with ``need`` at ``min_level`` or above share a placement."""

    need: str
    min_level: Annotated[int, Field(ge=1, le=3)]
    max: Annotated[int, Field(ge=0, le=1000)]


class IncompatibleNeeds(Record):
    """No occupant with need ``a`` >= min_level shares with another with ``b`` >= min_level."""

    a: str
    b: str
    min_level: Annotated[int, Field(ge=1, le=3)]


class Rules(Record):
    """Compatibility rules that hold for our children and residents alike."""

    hsb_no_younger: bool = True
    max_per_placement: list[MaxPerPlacement] = Field(default_factory=list)
    incompatible_needs: list[IncompatibleNeeds] = Field(default_factory=list)


class Policy(Record):
    """The authority's weights, rules and limits."""

    weights: Weights = Field(default_factory=Weights)
    rules: Rules = Field(default_factory=Rules)
    max_moves: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    weekly_budget: Annotated[int, Field(ge=0, le=10_000_000_000)] | None = None
    max_distance_km: Km | None = None


class Meta(Record):
    """Instance name, the date ages are taken on, and the need vocabulary."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    as_of: dt.date
    needs: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: list(DEFAULT_NEEDS)
    )
