"""Synthetic instances calibrated on public figures (never real children).

Shapes:

- ``county``: a shire county of towns with in-area and out-of-area providers, ~70% foster places,
  children's homes of 2-6 beds holding other authorities' residents, supported accommodation, an
  assessment hub, outreach teams and block beds at one provider. Most children are settled.
- ``tight``: scarce capacity, many conflicts and sibling groups, a weekly budget, a move limit and a
  road-distance table: a hard night for a placement team.

Sources (see shared/data/calibration.md and shared/seeds/ for the full references):

- [DfE22] DfE, Children looked after in England, ages on 31 March 2022 (EES data set).
- [DfE24] DfE, Children looked after in England 2024: 57% male; starts by age.
- [HfG24] Home for Good, quoting DfE 2024: 67% of children in care live with foster families.
- [OfF24] Ofsted, Fostering in England 2023-24: 1.65 approved places per household.
- [OfH23] Ofsted, children's social care 2023: 2,880 homes, 10,818 places, 3.8 places a home.
- [Of17] Ofsted via CYP Now, 2017: children's homes 72% private, 20% LA, 8% voluntary.
- [CMA21] CMA interim report 2021: largest providers' homes £3,830/wk; IFA fostering ~£820/wk.
- [NAO24] NAO, Managing children's residential care 2024: £318,400 a place a year (~£6,120/wk).
- [LincFOI] Lincolnshire FOI 2022-23: IFA weekly fee £550-£971.85, mean £814.22.
- [VC18] Valuing Care, ~2018: in-house fostering £396/wk against £759 with IFAs.
- [Leics20] Leicestershire investment plan 2020 (seed 001): outreach team of 12 at £660/wk;
  3 assessment beds at £5,200/wk; 16+ provision £2,438/wk, under-16 £5,477/wk.
- [Northants17] Northamptonshire block proposal 2017 (seed 004): 25-place block at £210/wk below
  framework price; out-of-county placement at £4,387.50/wk; 25% of 1,038 children out of county.
- [Geo25] shared/data/england_geo: Leicestershire (E10000018) centroid 52.65425, -1.19749, RMS
  spread of postcodes 16.18 km.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from matcher.compatibility import may_join
from matcher.domain import DEFAULT_NEEDS, Rules
from matcher.exceptions import MatcherError
from matcher.instance import Instance

CENTRE = (52.65425, -1.19749)  # [Geo25] Leicestershire
SPREAD_KM = 16.18  # [Geo25]
KM_PER_DEG_LAT = 111.2


@dataclass(frozen=True)
class Shape:
    """The knobs that distinguish one kind of night from another."""

    beds_per_child: float
    status_mix: dict[str, float]
    conflict_rate: float
    sibling_rate: float
    budget_factor: float | None
    max_moves_per_100: float | None
    distance_table: bool


SHAPES: dict[str, Shape] = {
    "county": Shape(
        1.25,
        {"settled": 0.82, "at_risk": 0.05, "ending": 0.05, "new": 0.08},
        0.01,
        0.25,
        None,
        5.0,
        False,
    ),
    "tight": Shape(
        0.85,
        {"settled": 0.50, "at_risk": 0.08, "ending": 0.07, "new": 0.35},
        0.06,
        0.6,
        0.9,
        3.0,
        True,
    ),
}

AGE_BANDS_IN_CARE = [
    ((0, 0), 0.05),
    ((1, 4), 0.14),
    ((5, 9), 0.18),
    ((10, 15), 0.39),
    ((16, 17), 0.21),
    ((18, 20), 0.03),
]  # [DfE22]; 18+ care leavers in supported accommodation
AGE_BANDS_STARTING = [
    ((0, 0), 0.16),
    ((1, 4), 0.15),
    ((5, 9), 0.15),
    ((10, 15), 0.26),
    ((16, 17), 0.28),
    ((18, 18), 0.01),
]  # [DfE24] starts by age
NEED_RATE = {  # share of children aged 10+ with each need (generator parameters, wide ranges)
    "aggression": 0.18,
    "emotional_wellbeing": 0.45,
    "harmful_sexual_behaviour": 0.04,
    "exploitation_risk": 0.15,
    "missing_risk": 0.14,
    "offending": 0.08,
    "substance_misuse": 0.07,
    "self_harm": 0.10,
    "complex_health": 0.06,
    "disability": 0.07,
    "autism": 0.10,
    "young_parent": 0.02,
}


RULES: dict[str, Any] = {
    "hsb_no_younger": True,
    "max_per_placement": [
        {"need": "exploitation_risk", "min_level": 2, "max": 2},
        {"need": "aggression", "min_level": 3, "max": 1},
    ],
    "incompatible_needs": [
        {"a": "harmful_sexual_behaviour", "b": "young_parent", "min_level": 1},
        {"a": "aggression", "b": "disability", "min_level": 3},
    ],
}
GENERATOR_RULES = Rules.model_validate(RULES)


class _Person:
    """A generated child or resident seen by ``may_join`` (dictionaries have no attributes)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.age = record["age"]
        self.needs = record.get("needs", {})
        self.requires_sole = record.get("requires_sole", False)


def _may_join(person: _Person, occupants: list[_Person]) -> bool:
    """Seat today's children only where their stay is allowed, so that a generated instance never
    forces more moves than its ``max_moves`` allows."""
    return may_join(person, occupants, GENERATOR_RULES)


class _Builder:
    """Holds the random generator and the lists being filled for one instance."""

    def __init__(self, shape: Shape, n: int, seed: int) -> None:
        self.shape, self.n = shape, n
        self.rng = np.random.default_rng(seed)
        self.towns = [
            self.point(CENTRE, SPREAD_KM * 1.2) for _ in range(max(3, min(12, n // 100 + 3)))
        ]
        self.placements: list[dict[str, Any]] = []
        self.children: list[dict[str, Any]] = []
        self.free: dict[str, int] = {}
        self.occupants: dict[str, list[_Person]] = {}

    def point(self, centre: tuple[float, float], sd_km: float) -> tuple[float, float]:
        lat = centre[0] + self.rng.normal(0, sd_km) / KM_PER_DEG_LAT
        lon = centre[1] + self.rng.normal(0, sd_km) / (
            KM_PER_DEG_LAT * math.cos(math.radians(centre[0]))
        )
        return (round(lat, 5), round(lon, 5))

    def ring_point(self, inner_km: float, outer_km: float) -> tuple[float, float]:
        """A point out of the county, between ``inner_km`` and ``outer_km`` from its centre."""
        bearing, km = self.rng.uniform(0, 2 * math.pi), self.rng.uniform(inner_km, outer_km)
        lat = CENTRE[0] + km * math.cos(bearing) / KM_PER_DEG_LAT
        lon = CENTRE[1] + km * math.sin(bearing) / (
            KM_PER_DEG_LAT * math.cos(math.radians(CENTRE[0]))
        )
        return (round(lat, 5), round(lon, 5))

    def town_point(self, sd_km: float = 4.0) -> tuple[float, float]:
        return self.point(self.towns[self.rng.integers(len(self.towns))], sd_km)

    def levels(self, age: int, scale: float) -> dict[str, int]:
        factor = scale * (0.35 if age < 10 else 1.0)
        return {
            need: int(self.rng.choice([1, 1, 2, 2, 3]))
            for need, rate in NEED_RATE.items()
            if self.rng.random() < rate * factor and (need != "young_parent" or age >= 15)
        }

    def age(self, bands: list[tuple[tuple[int, int], float]]) -> int:
        weights = np.array([w for _, w in bands])
        low, high = bands[self.rng.choice(len(bands), p=weights / weights.sum())][0]
        return int(self.rng.integers(low, high + 1))

    # -- places ------------------------------------------------------------------------------------

    def add_placement(self, kind: str, **fields: Any) -> None:
        prefix = {"foster": "FC", "residential": "RH", "supported": "SA", "assessment": "AH"}[kind]
        pid = f"{prefix}{len(self.placements) + 1:04d}"
        where = fields.pop("where")
        record = {"id": pid, "type": kind, "location": {"lat": where[0], "lon": where[1]}, **fields}
        self.placements.append(record)
        self.free[pid] = record["capacity"] - len(record.get("residents", []))
        self.occupants[pid] = [_Person(r) for r in record.get("residents", [])]

    def resident(self, age_low: int, age_high: int) -> dict[str, Any]:
        age = int(self.rng.integers(age_low, age_high + 1))
        return {
            "age": age,
            "sex": str(self.rng.choice(["F", "M"], p=[0.43, 0.57])),
            "needs": self.levels(age, 1.4),
        }

    def add_places(self) -> None:
        beds = self.shape.beds_per_child * self.n
        foster_beds = 0.70 * beds  # [HfG24] 67% fostered; ~70% of places are foster places
        while foster_beds > 0:
            in_house = self.rng.random() < 0.55  # [OfF24] LA carers; IFAs 45% of new approvals
            capacity = int(self.rng.choice([1, 1, 2, 2, 2, 3]))  # [OfF24] 1.65 places a household
            band = [(0, 4), (0, 11), (5, 17), (11, 17), (0, 17)][self.rng.integers(5)]
            own_children = (
                [self.resident(0, 15)] if capacity > 1 and self.rng.random() < 0.15 else []
            )
            fee = 396 if in_house else 814  # [VC18] in-house; [LincFOI] IFA mean
            self.add_placement(
                "foster",
                provider="LA fostering" if in_house else f"IFA {self.rng.integers(1, 9)}",
                sector="in_house" if in_house else "external",
                where=self.town_point(6)
                if in_house or self.rng.random() < 0.7
                else self.ring_point(35, 80),
                capacity=capacity + len(own_children),
                residents=own_children,
                age_min=band[0],
                age_max=band[1],
                meets={
                    n: int(self.rng.choice([1, 1, 2])) for n in NEED_RATE if self.rng.random() < 0.5
                },
                weekly_cost=int(fee * self.rng.uniform(0.85, 1.2)),  # [LincFOI] £550-£972 range
            )
            foster_beds -= capacity
        residential_beds = 0.17 * beds  # [HfG24]/CommunityCare: homes and semi-independent ~17%
        while residential_beds > 0:
            external = self.rng.random() < 0.80  # [Of17] 72% private + 8% voluntary
            capacity = int(self.rng.integers(2, 7))  # [OfH23] 3.8 places a home; issue: 2-6 beds
            others = (
                [self.resident(10, 17) for _ in range(int(self.rng.binomial(capacity - 1, 0.4)))]
                if external
                else []
            )
            out_of_area = (
                external and self.rng.random() < 0.67
            )  # [NAO24] 67% of home children placed outside their LA
            self.add_placement(
                "residential",
                provider=f"Care group {self.rng.integers(1, 7)}" if external else "LA homes",
                sector="external" if external else "in_house",
                where=self.ring_point(30, 110) if out_of_area else self.town_point(8),
                capacity=capacity,
                residents=others,
                age_min=8,
                age_max=17,
                sexes=["F", "M", "X"]
                if self.rng.random() < 0.8
                else [str(self.rng.choice(["F", "M"]))],
                meets={
                    n: int(self.rng.choice([2, 3, 3]))
                    for n in NEED_RATE
                    if self.rng.random() < 0.75
                },
                # [CMA21] £3,830 average; [NAO24] ~£6,120; [Leics20] in-house under-16 £5,477
                weekly_cost=int(self.rng.uniform(3830, 6120)) if external else 5477,
                cost_uplift={"complex_health": 150, "disability": 120}
                if external and self.rng.random() < 0.3
                else {},
            )
            residential_beds -= capacity
        supported_beds = 0.13 * beds * 0.5
        while supported_beds > 0:
            capacity = int(self.rng.integers(1, 5))
            self.add_placement(
                "supported",
                provider=f"Supported {self.rng.integers(1, 5)}",
                sector="external",
                where=self.town_point(8),
                capacity=capacity,
                age_min=16,
                age_max=21,
                meets={
                    n: int(self.rng.choice([1, 2])) for n in NEED_RATE if self.rng.random() < 0.6
                },
                weekly_cost=int(2438 * self.rng.uniform(0.8, 1.15)),  # [Leics20] 16+ £2,438
            )
            supported_beds -= capacity
        # [Leics20] a hub of three assessment beds at £5,200 a week, with the ART's support
        self.add_placement(
            "assessment",
            provider="LA assessment hub",
            sector="in_house",
            where=self.town_point(2),
            capacity=3,
            age_min=8,
            age_max=17,
            meets=dict.fromkeys(NEED_RATE, 2),
            weekly_cost=5200,
        )
        self.add_block_contract()

    def add_block_contract(self) -> None:
        """[Northants17] one provider holds block beds at £210 below its framework price."""
        homes = [
            p for p in self.placements if p["type"] == "residential" and p["sector"] == "external"
        ]
        if not homes:
            return
        home = homes[int(self.rng.integers(len(homes)))]
        beds = min(self.free[home["id"]], max(1, round(self.n * 25 / 1038 / 2)))
        home.update(block_beds=beds, block_weekly_cost=home["weekly_cost"] - 210)

    # -- children ----------------------------------------------------------------------------------

    def add_children(self) -> None:
        statuses = list(self.shape.status_mix)
        weights = np.array(list(self.shape.status_mix.values()))
        for index in range(self.n):
            status = str(self.rng.choice(statuses, p=weights / weights.sum()))
            age = self.age(AGE_BANDS_STARTING if status == "new" else AGE_BANDS_IN_CARE)
            child: dict[str, Any] = {
                "id": f"C{index + 1:05d}",
                "age": age,
                "sex": str(self.rng.choice(["F", "M", "X"], p=[0.425, 0.57, 0.005])),  # [DfE24]
                "location": dict(zip(("lat", "lon"), self.town_point(5), strict=True)),
                "needs": self.levels(age, 1.0),
                "status": status,
            }
            if sum(child["needs"].values()) >= 6 and self.rng.random() < 0.3:
                child["requires_sole"] = True
            if status != "new" and not self.seat(child):
                child["status"] = "new"
            self.add_options(child)
            self.children.append(child)

    @cached_property
    def _seats(self) -> dict[str, npt.NDArray[Any]]:
        """The placements as arrays for ``seat`` (built once the places are all made; ``free``
        is kept in step with ``self.free``): each child in care used to test every placement
        in Python, ~600 s for 20,000 children."""
        places = self.placements
        table = {
            "free": np.array([self.free[p["id"]] for p in places], dtype=np.int64),
            "type": np.array([p["type"] for p in places], dtype=object),
            "age_min": np.array([p["age_min"] for p in places], dtype=np.int64),
            "age_max": np.array([p["age_max"] for p in places], dtype=np.int64),
            "residential": np.array([p["type"] == "residential" for p in places], dtype=bool),
        }
        for sex in ("F", "M", "X"):
            table["takes_" + sex] = np.array([sex in p.get("sexes", "FMX") for p in places])
        return table

    def seat(self, child: dict[str, Any]) -> bool:
        """Give a settled, at-risk or ending child a current placement with a free bed."""
        kinds = (
            {"supported"}
            if child["age"] >= 18
            else {"foster", "residential", "supported"}
            if child["age"] >= 16
            else {"foster", "residential"}
        )
        heavy = sum(child["needs"].values()) >= 5
        residential = heavy and 10 <= child["age"] < 18
        table, age, person = self._seats, child["age"], _Person(child)
        open_kind = (table["free"] > 0) & np.isin(table["type"], sorted(kinds))
        suits = open_kind & (table["age_min"] <= age) & (age <= table["age_max"])
        suits &= table["takes_" + child["sex"]] & (table["residential"] == residential)
        # the same places, in the same order, as testing each placement in turn: the rules
        # check (_may_join, the dear one) only where the rest pass
        fits = [
            j
            for j in np.flatnonzero(suits).tolist()
            if _may_join(person, self.occupants[self.placements[j]["id"]])
        ] or [
            j
            for j in np.flatnonzero(open_kind).tolist()
            if _may_join(person, self.occupants[self.placements[j]["id"]])
        ]
        if not fits:
            return False
        picked = fits[int(self.rng.integers(len(fits)))]
        chosen = self.placements[picked]
        self.free[chosen["id"]] -= 1
        table["free"][picked] -= 1
        self.occupants[chosen["id"]].append(person)
        child["current_placement"] = chosen["id"]
        return True

    def add_options(self, child: dict[str, Any]) -> None:
        roll = self.rng.random()
        if roll < 0.08:
            child["max_distance_km"] = float(self.rng.choice([20, 30, 40]))  # school stability
        if (
            child["status"] in ("new", "at_risk")
            and child["age"] >= 10
            and self.rng.random() < 0.12
        ):
            child["return_home"] = True
        if child["status"] == "new":
            child["priority"] = int(self.rng.choice([1, 1, 2, 3]))
            if self.rng.random() < 0.05:
                child["requires_outreach"] = True  # e.g. a care plan that keeps the ART involved
        if child["age"] >= 16 and self.rng.random() < 0.3:
            child["allowed_types"] = ["supported", "foster"]

    def add_groups(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Sibling groups among new children, and conflicts between children of the same town."""
        groups: list[dict[str, Any]] = []
        fresh = [c for c in self.children if c["status"] == "new" and c["age"] < 16]
        self.rng.shuffle(fresh)
        while len(fresh) >= 2 and len(groups) < self.shape.sibling_rate * self.n * 0.08 + 1:
            size = min(len(fresh), int(self.rng.choice([2, 2, 3])))
            members, fresh = fresh[:size], fresh[size:]
            gid = f"G{len(groups) + 1:04d}"
            groups.append(
                {"id": gid, "together": "required" if self.rng.random() < 0.4 else "preferred"}
            )
            for member in members:
                member["sibling_group"] = gid
                member["location"] = members[0]["location"]
                member.pop("return_home", None)
        conflicts = []
        for _ in range(int(self.shape.conflict_rate * self.n)):
            a, b = (
                self.children[k] for k in self.rng.choice(len(self.children), size=2, replace=False)
            )
            if a.get("current_placement") and a.get("current_placement") == b.get(
                "current_placement"
            ):
                continue  # two children living together today are not a conflict pair
            conflicts.append({"a": a["id"], "b": b["id"], "reason": "known risk between the two"})
        return groups, conflicts

    def teams(self) -> list[dict[str, Any]]:
        """[Leics20] outreach teams of 12 children at £660 a week."""
        return [
            {
                "id": f"OT{k + 1}",
                "location": dict(zip(("lat", "lon"), self.towns[k % len(self.towns)], strict=True)),
                "radius_km": 25.0,
                "capacity": 12,
                "weekly_cost": 660,
                "uplift": 1,
                **(
                    {
                        "needs": [
                            "aggression",
                            "emotional_wellbeing",
                            "missing_risk",
                            "exploitation_risk",
                            "offending",
                            "substance_misuse",
                            "self_harm",
                        ]
                    }
                    if k % 2
                    else {}
                ),
            }
            for k in range(max(2, round(self.n / 100)))
        ]

    def distance_table(self) -> list[dict[str, Any]]:
        """Road distances for new children to in-area places: straight line x 1.3 (the data README
        notes road distance runs 1.2-1.4x the straight line)."""
        rows = []
        for child in self.children:
            if child["status"] != "new":
                continue
            for p in self.placements[:: max(1, len(self.placements) // 8)]:
                km = _km(child["location"], p["location"]) * 1.3
                rows.append({"child": child["id"], "placement": p["id"], "km": round(km, 3)})
        return rows


def _km(a: dict[str, float], b: dict[str, float]) -> float:
    dlat = (a["lat"] - b["lat"]) * KM_PER_DEG_LAT
    dlon = (a["lon"] - b["lon"]) * KM_PER_DEG_LAT * math.cos(math.radians(a["lat"]))
    return math.hypot(dlat, dlon)


def generate(shape: str, children: int, seed: int) -> Instance:
    """A synthetic instance of ``shape`` with ``children`` children; same arguments, same file."""
    if shape not in SHAPES:
        raise MatcherError(f"unknown shape {shape!r}; choose from {sorted(SHAPES)}")
    spec = SHAPES[shape]
    builder = _Builder(spec, children, seed)
    builder.add_places()
    builder.add_children()
    groups, conflicts = builder.add_groups()
    for p in builder.placements:
        p["in_area"] = _km(p["location"], {"lat": CENTRE[0], "lon": CENTRE[1]}) <= 2.2 * SPREAD_KM
    movable = sum(c["status"] in ("settled", "at_risk") for c in builder.children)
    policy: dict[str, Any] = {"max_distance_km": 80.0, "rules": RULES}
    if spec.max_moves_per_100 is not None:
        policy["max_moves"] = max(1, round(movable * spec.max_moves_per_100 / 100))
    if spec.budget_factor is not None:
        policy["weekly_budget"] = _budget(builder, spec.budget_factor)
        policy["weights"] = {"unplaced": 40000, "sibling_split": 8000}
    document = {
        "meta": {
            "name": f"{shape}-{children}-s{seed}",
            "as_of": dt.date(2026, 11, 26).isoformat(),
            "needs": list(DEFAULT_NEEDS),
        },
        "policy": policy,
        "children": builder.children,
        "placements": builder.placements,
        "outreach_teams": builder.teams(),
        "conflicts": conflicts,
        "sibling_groups": groups,
        "distances": builder.distance_table() if spec.distance_table else [],
    }
    return Instance.model_validate(document)


def _budget(builder: _Builder, factor: float) -> int:
    """``factor`` x (today's fees for children already placed + a foster fee for each new one)."""
    fee = {p["id"]: p["weekly_cost"] for p in builder.placements}
    today = sum(fee[c["current_placement"]] for c in builder.children if c.get("current_placement"))
    fresh = sum(c["status"] != "settled" for c in builder.children) * 814
    return int(factor * (today + fresh))
