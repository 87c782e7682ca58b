"""Who may go where: the static eligibility tests of contract 1.5, and distances.

The tests are vectorised over children x placements with NumPy, in blocks of children so memory
stays bounded on large instances. Each test has a stable name (``TESTS``) for explanations and the
eligibility funnel. Outreach is part of eligibility too (contract 1.4, 1.5, 4.8): an option that
needs a slot lists the teams whose uplift allows it and whose radius covers the placement, and an
option no team can serve is not eligible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import compress, repeat
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from matcher.costs import fees_on_count, fixed_pence, pair_pence
from matcher.domain import SUPPORTED_MIN_AGE, Child, Placement
from matcher.instance import Instance
from matcher.resources import check_options_fit, collector_paused

EARTH_RADIUS_KM = 6371.0
HOME = "home"
"""The outcome id of returning home (contract 4.7), as ``Child.ruled_out`` names it."""
BLOCK_ROWS = 256
"""Children per block when testing pairs; bounds memory at about BLOCK_ROWS x placements x needs."""

CAPPED_ABOVE = 20_000_000
"""Children x placements above which each child keeps only some of its options
(``options_cap``): every eligible pair of a 20,000-child county instance (~76M) would need
~30 GiB. County (1.8M) and a 5,000-child county instance (14M, 5.0M pairs) keep them all."""

OPTION_BUDGET = 6_000_000
"""Options kept in all when they are capped: ``OPTION_BUDGET / children`` a child."""

MIN_CHILD_OPTIONS = 100
"""Options a child keeps however many children there are."""

TESTS = ("type", "age", "sex", "needs", "distance", "ruled_out")
"""The static tests in the order the eligibility funnel applies them."""

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def distance_cap(instance: Instance, child: Child) -> float | None:
    """The child's distance limit: its own, else the policy's; None when there is none."""
    if child.max_distance_km is not None:
        return child.max_distance_km
    return instance.policy.max_distance_km


def haversine_km(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    """Great-circle distance in km (contract 1.5: haversine, R = 6371.0 km); broadcasts."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlambda = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


class Option(NamedTuple):
    """A placement child ``child`` may take: its distance, whether it is a stay, and outreach.

    ``teams`` is None when no outreach slot is needed, otherwise the teams whose slot would make
    the option allowed (by need uplift or ``requires_outreach``) and whose radius covers it.
    """

    child: str
    placement: str
    km: float
    stay: bool
    teams: tuple[str, ...] | None


class OptionArrays(NamedTuple):
    """A child's options as arrays, in option order."""

    columns: npt.NDArray[np.int64]
    """Each option's placement as its position in ``instance.placements``."""
    km: npt.NDArray[np.float64]
    stays: npt.NDArray[np.bool_]


_new_option = partial(tuple.__new__, Option)
"""An ``Option`` from a tuple of its fields."""


@dataclass(frozen=True)
class Candidates:
    """Everything the model needs to know about who may go where."""

    options: dict[str, list[Option]]
    home_teams: dict[str, tuple[str, ...]]
    left_out: dict[str, int] = field(default_factory=dict)
    """Children whose options were capped (``options_cap``): the least objective coefficient
    (pence, outreach fees aside) of an eligible option left out, so a bound stays valid."""
    option_arrays: dict[str, OptionArrays] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    """``arrays`` by child: filled in by ``candidates``, else worked out on first use (not an
    argument, so ``dataclasses.replace`` with other options starts afresh)."""

    def arrays(self, instance: Instance, child: str) -> OptionArrays:
        """The child's options as arrays (``instance``: the one these candidates are for),
        worked out once: a 5,000-child run's bound, shortlist and costs each read all 5M of
        them, ~0.5 s a pass one option at a time."""
        arrays = self.option_arrays.get(child)
        if arrays is None:
            options = self.options[child]
            count = len(options)
            arrays = OptionArrays(
                placement_columns(instance, options),
                np.fromiter((o.km for o in options), np.float64, count),
                np.fromiter((o.stay for o in options), np.bool_, count),
            )
            self.option_arrays[child] = arrays
        return arrays


def options_cap(instance: Instance) -> int | None:
    """Options each child keeps when there are too many (see ``_thinned``), or None when the
    instance is small enough for every eligible pair (``CAPPED_ABOVE``). A function of the
    instance's size alone, so every caller sees the same options and runs repeat."""
    children = len(instance.children)
    if children * len(instance.placements) <= CAPPED_ABOVE:
        return None
    return max(MIN_CHILD_OPTIONS, OPTION_BUDGET // children)


class PairTable:
    """Arrays describing the instance for vectorised tests."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        needs = list(instance.meta.needs)
        self.need_index = {need: k for k, need in enumerate(needs)}
        children, placements = instance.children, instance.placements
        self.child_ids = [c.id for c in children]
        self.child_row = {cid: i for i, cid in enumerate(self.child_ids)}
        self.placement_ids = [p.id for p in placements]
        self.placement_index = instance.placement_index
        self.child_lat = np.array([c.location.lat for c in children], dtype=float)
        self.child_lon = np.array([c.location.lon for c in children], dtype=float)
        self.place_lat = np.array([p.location.lat for p in placements], dtype=float)
        self.place_lon = np.array([p.location.lon for p in placements], dtype=float)
        self.child_needs = self._levels([c.needs for c in children], len(needs))
        self.place_meets = self._levels([p.meets for p in placements], len(needs))
        self.child_age = np.array([c.age for c in children], dtype=np.int16)
        self.age_min = np.array([p.age_min for p in placements], dtype=np.int16)
        self.age_max = np.array([p.age_max for p in placements], dtype=np.int16)
        self.place_type = np.array([p.type for p in placements], dtype=object)
        self.type_ok = {
            kind: self.place_type == kind
            for kind in ("foster", "residential", "supported", "assessment")
        }
        self.sex_ok = {
            sex: np.array([sex in p.sexes for p in placements], dtype=bool)
            for sex in ("F", "M", "X")
        }
        caps = [distance_cap(instance, c) for c in children]
        self.cap = np.array([np.inf if cap is None else cap for cap in caps], dtype=float)
        self.overrides: dict[tuple[int, int], float] = {}
        for row in instance.distances:
            self.overrides[(self.child_row[row.child], self.placement_index[row.placement])] = (
                row.km
            )

    def _levels(self, rows: list[dict[str, int]], width: int) -> npt.NDArray[np.int8]:
        matrix = np.zeros((len(rows), width), dtype=np.int8)
        for i, levels in enumerate(rows):
            for need, level in levels.items():
                matrix[i, self.need_index[need]] = level
        return matrix

    def distances(self, rows: slice) -> FloatArray:
        """Distance km for a block of children against every placement, overrides applied."""
        km = haversine_km(
            self.child_lat[rows, None],
            self.child_lon[rows, None],
            self.place_lat[None, :],
            self.place_lon[None, :],
        )
        start = rows.start or 0
        for (i, j), value in self.overrides.items():
            if rows.start <= i < rows.stop:
                km[i - start, j] = value
        return km

    def deficits(self, rows: slice) -> npt.NDArray[np.int8]:
        """Children (rows) x placements x needs: levels a child needs beyond what a placement
        meets (0 where it meets them)."""
        return np.maximum(self.child_needs[rows, None, :] - self.place_meets[None, :, :], 0)

    def tests(
        self, rows: slice, km: FloatArray, worst: npt.NDArray[np.int8] | None = None
    ) -> dict[str, BoolArray]:
        """Each static test's pass mask for a block of children (rows) x every placement;
        ``worst`` is the greatest of ``deficits``, if already known."""
        children = self.instance.children[rows]
        age = self.child_age[rows, None]
        type_ok = np.zeros((len(children), len(self.placement_ids)), dtype=bool)
        sex_ok = np.empty_like(type_ok)
        for i, child in enumerate(children):
            for kind in child.care_plan_types():
                type_ok[i] |= self.type_ok[kind]
            sex_ok[i] = self.sex_ok[child.sex]
        type_ok &= ~(self.type_ok["supported"][None, :] & (age < SUPPORTED_MIN_AGE))
        if worst is None:
            worst = self.deficits(rows).max(axis=2, initial=0)
        allowed = np.ones_like(type_ok)
        for i, child in enumerate(children):
            for placement in child.ruled_out:
                if placement in self.placement_index:
                    allowed[i, self.placement_index[placement]] = False
        masks = (
            type_ok,
            (self.age_min[None, :] <= age) & (age <= self.age_max[None, :]),
            sex_ok,
            worst == 0,
            km <= self.cap[rows, None],
            allowed,
        )
        return dict(zip(TESTS, masks, strict=True))

    def uplift_kinds(
        self,
        kinds: list[tuple[BoolArray, int]],
        deficit: npt.NDArray[np.int8],
        worst: npt.NDArray[np.int8],
    ) -> BoolArray:
        """Kinds x children x placements: the pairs whose ``deficits`` (``worst`` their
        greatest) each kind of uplift (the needs it covers, by how many levels) makes up."""
        result = np.zeros((len(kinds), *deficit.shape[:2]), dtype=bool)
        for k, (covered, uplift) in enumerate(kinds):
            if covered.all():  # the usual kind: every need
                result[k] = worst <= uplift
                continue
            outside = deficit[:, :, ~covered].max(axis=2) == 0
            result[k] = outside & (deficit[:, :, covered].max(axis=2, initial=0) <= uplift)
        return result


class _Outreach:
    """The outreach teams by kind of uplift (teams share few kinds: options are tested once per
    kind, not per team), and which teams' radius covers each placement."""

    def __init__(
        self, instance: Instance, table: PairTable, covers: dict[str, frozenset[str]]
    ) -> None:
        self.teams = [team.id for team in instance.outreach_teams]
        kind_index: dict[tuple[tuple[bool, ...], int], int] = {}
        self.kinds: list[tuple[BoolArray, int]] = []
        kind_of = []
        for team in instance.outreach_teams:
            covered = np.zeros(len(table.need_index), dtype=bool)
            for need in team.needs or table.need_index:
                covered[table.need_index[need]] = True
            key = (tuple(covered.tolist()), team.uplift)
            if key not in kind_index:
                kind_index[key] = len(self.kinds)
                self.kinds.append((covered, team.uplift))
            kind_of.append(kind_index[key])
        self.kind_of = np.array(kind_of, dtype=np.int64)
        m = len(table.placement_ids)
        self.place_cover = np.array(
            [[pid in covers[team] for pid in table.placement_ids] for team in self.teams],
            dtype=bool,
        ).reshape(len(self.teams), m)
        self.kind_cover = np.zeros((len(self.kinds), m), dtype=bool)
        for team, kind in enumerate(kind_of):
            self.kind_cover[kind] |= self.place_cover[team]
        self.covering = [
            tuple(compress(self.teams, column)) for column in self.place_cover.T.tolist()
        ]
        self.covered = self.place_cover.any(axis=0)
        self._serving: dict[tuple[int | bytes, int], tuple[str, ...]] = {}

    def serving(self, kinds: BoolArray, columns: list[int]) -> list[tuple[str, ...]]:
        """For each of ``columns`` (placements), the teams of the kinds marked in its column of
        ``kinds`` (kinds x columns) whose radius covers the placement. Looked up by kinds and
        placement: the same few combinations recur for millions of options."""
        packed = np.packbits(kinds, axis=0)
        keys = packed[0].tolist() if len(packed) == 1 else [code.tobytes() for code in packed.T]
        found = []
        for k, (key, column) in enumerate(zip(keys, columns, strict=True)):
            teams = self._serving.get((key, column))
            if teams is None:
                mine = kinds[self.kind_of, k] & self.place_cover[:, column]
                teams = self._serving[(key, column)] = tuple(compress(self.teams, mine.tolist()))
            found.append(teams)
        return found


def _blocks(count: int) -> Iterator[slice]:
    for start in range(0, count, BLOCK_ROWS):
        yield slice(start, min(start + BLOCK_ROWS, count))


def stay_allowed(child: Child, placement: Placement) -> bool:
    """A settled or at-risk child may stay whatever the tests say, but supported is 16+ (4.2)."""
    return not (placement.type == "supported" and child.age < SUPPORTED_MIN_AGE)


def candidates(instance: Instance, *, check_eligibility: bool = True) -> Candidates:
    """Every option each child may take. ``check_eligibility=False`` skips the static tests.

    An option that needs an outreach slot lists the teams that could give it: their uplift covers
    the child's need deficits there (or the child requires outreach) and their radius covers the
    placement (contract 4.8). Without such a team the option is not eligible.
    """
    table = PairTable(instance)
    covers, covers_home = _coverage(instance, table)
    outreach = _Outreach(instance, table, covers)
    options: dict[str, list[Option]] = {}
    arrays: dict[str, OptionArrays] = {}
    left_out: dict[str, int] = {}
    cap = options_cap(instance)
    capped = None if cap is None else (cap, fixed_pence(instance, fees_on_count(instance)))
    pairs = 0
    with collector_paused():
        for rows in _blocks(len(instance.children)):
            km = table.distances(rows)
            deficit = table.deficits(rows)
            worst = deficit.max(axis=2, initial=0)
            tests = table.tests(rows, km, worst)
            without_needs = np.logical_and.reduce(
                [m for name, m in tests.items() if name != "needs"]
            )
            passed = without_needs & tests["needs"]
            # kinds x children x placements: a slot of a team of that kind, in reach, would
            # make the pair eligible
            enabling = table.uplift_kinds(outreach.kinds, deficit, worst)
            enabling &= outreach.kind_cover[:, None, :]
            enabling &= (without_needs & ~passed)[None, :, :]
            for i, child in enumerate(instance.children[rows]):
                child_options, arrays[child.id], dropped = _child_options(
                    table,
                    child,
                    km[i],
                    passed[i] if check_eligibility else np.ones_like(passed[i]),
                    enabling[:, i, :],
                    outreach,
                    capped,
                )
                options[child.id] = child_options
                if dropped is not None:
                    left_out[child.id] = dropped
                pairs += len(child_options)
            check_options_fit(instance.meta.name, len(instance.children), rows.stop, pairs)
    teams = outreach.teams
    home_teams = {
        c.id: tuple(t for t in teams if c.id in covers_home[t])
        for c in instance.children
        if c.return_home and HOME not in c.ruled_out
    }
    made = Candidates(options, {c: t for c, t in home_teams.items() if t}, left_out)
    made.option_arrays.update(arrays)
    return made


def _child_options(
    table: PairTable,
    child: Child,
    km: FloatArray,
    passed: BoolArray,
    enabling: BoolArray,
    outreach: _Outreach,
    capped: tuple[int, npt.NDArray[np.int64]] | None = None,
) -> tuple[list[Option], OptionArrays, int | None]:
    """The child's options in placement order (and as arrays): stays, plain passes, and passes
    by outreach uplift; with ``capped`` (a cap and ``fixed_pence``) only as many as ``_thinned``
    keeps, and the least coefficient left out (None when nothing was).

    ``enabling`` says, per kind of uplift, the placements a slot of that kind would make
    eligible. An option needing a slot lists the teams that could give it; with none it is not
    an option.
    """
    placements = table.instance.placements
    current = child.current_placement if child.status in ("settled", "at_risk") else None
    stay_index = table.placement_index.get(current) if current is not None else None
    by_uplift = enabling.any(axis=0)
    chosen = passed | by_uplift
    if stay_index is not None:
        chosen[stay_index] = stay_allowed(child, placements[stay_index])
        by_uplift[stay_index] = False
    if child.requires_outreach:  # only where some team reaches
        chosen &= by_uplift | outreach.covered
    indices = np.flatnonzero(chosen)
    left_out = None
    if capped is not None and len(indices) > capped[0]:
        kept, left_out = _thinned(table.instance, child, indices, km, stay_index, capped)
        indices = indices[kept]
    columns = indices.tolist()
    teams: list[tuple[str, ...] | None]
    if child.requires_outreach:
        teams = [outreach.covering[j] for j in columns]
    else:
        teams = [None] * len(columns)
    uplifted = np.flatnonzero(by_uplift[indices])
    if uplifted.size:  # only a team whose uplift covers the deficit will do (4.8)
        ks = uplifted.tolist()
        serving = outreach.serving(enabling[:, indices[uplifted]], [columns[k] for k in ks])
        for k, able in zip(ks, serving, strict=True):
            teams[k] = able
    ids, child_id = table.placement_ids, child.id
    distances = km[indices].astype(np.float64)
    stays = np.zeros(len(indices), dtype=np.bool_) if stay_index is None else indices == stay_index
    arrays = OptionArrays(indices.astype(np.int64), distances, stays)
    # tuples made in C, 5M of them on 5,000 children: 30% faster than calling Option
    fields = zip(
        repeat(child_id, len(columns)),
        map(ids.__getitem__, columns),
        distances.tolist(),
        stays.tolist(),
        teams,
        strict=True,
    )
    return list(map(_new_option, fields)), arrays, left_out


def _thinned(
    instance: Instance,
    child: Child,
    columns: npt.NDArray[np.int64],
    km: FloatArray,
    stay_index: int | None,
    capped: tuple[int, npt.NDArray[np.int64]],
) -> tuple[BoolArray, int | None]:
    """Which of the options at ``columns`` a cap keeps, and the least coefficient of those left
    out. Half the cap (rounded up) goes to the cheapest by objective coefficient, the rest to
    every k-th of the others in cost order, and the stay is kept: with the cheapest
    alone a 5,000-child county instance left 17 children unplaced against 5 (cap 1,200 a
    child), as remote and dear places were nobody's options and the cheap ones filled up."""
    cap, fixed = capped
    stays = columns == (-1 if stay_index is None else stay_index)
    pence = pair_pence(instance, child, fixed, columns, km[columns], stays)
    order = np.argsort(pence, kind="stable")
    head, spread = cap - cap // 2, cap // 2
    kept = stays.copy()
    kept[order[:head]] = True
    if spread:
        rest = order[head:]
        kept[rest[:: -(-len(rest) // spread)]] = True
    dropped = pence[~kept]  # none when the stay took the last place
    return kept, int(dropped.min()) if dropped.size else None


def _coverage(
    instance: Instance, table: PairTable
) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """Which placements and which children's homes lie within each outreach team's radius."""
    covers, covers_home = {}, {}
    for team in instance.outreach_teams:
        here = (np.float64(team.location.lat), np.float64(team.location.lon))
        to_places = haversine_km(*here, table.place_lat, table.place_lon)
        to_homes = haversine_km(*here, table.child_lat, table.child_lon)
        ids = np.array(table.placement_ids, dtype=object)
        covers[team.id] = frozenset(ids[to_places <= team.radius_km])
        children = np.array(table.child_ids, dtype=object)
        covers_home[team.id] = frozenset(children[to_homes <= team.radius_km])
    return covers, covers_home


def placement_columns(instance: Instance, options: list[Option]) -> npt.NDArray[np.int64]:
    """Each option's placement as its position in ``instance.placements``."""
    column = instance.placement_index
    return np.fromiter((column[o.placement] for o in options), np.int64, len(options))


class FailedTests(Mapping[str, str]):
    """Test name (``TESTS``) -> the reason in plain words, for the tests one pair fails. The words
    are written when read: explanations test every placement for a child but quote a few."""

    __slots__ = ("names", "describe", "placement", "km")

    def __init__(
        self,
        names: tuple[str, ...],
        describe: Callable[[Placement, str, float], str],
        placement: Placement,
        km: float,
    ) -> None:
        self.names, self.describe, self.placement, self.km = names, describe, placement, km

    def __getitem__(self, name: str) -> str:
        if name not in self.names:
            raise KeyError(name)
        return self.describe(self.placement, name, self.km)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


class PairTests(NamedTuple):
    """One child against one placement: the distance and each static test that fails, with
    what a social worker would say about it (``failed`` is empty when every test passes)."""

    placement: str
    km: float
    stay: bool
    failed: FailedTests


FAILING = tuple(
    tuple(name for bit, name in enumerate(TESTS) if pattern >> bit & 1)
    for pattern in range(1 << len(TESTS))
)
"""The failed tests' names for each bit pattern of failures (bit k: ``TESTS[k]`` fails)."""


def pair_tests(
    instance: Instance, child_id: str, table: PairTable | None = None
) -> list[PairTests]:
    """The static tests of one child against every placement, in placement order. A stay passes
    every test but the 16+ rule for supported accommodation (contract 4.2)."""
    table = table or PairTable(instance)
    row = table.child_row[child_id]
    rows = slice(row, row + 1)
    distances = table.distances(rows)
    pattern = np.zeros(len(instance.placements), dtype=np.int64)
    for bit, mask in enumerate(table.tests(rows, distances).values()):
        pattern |= (~mask[0]).astype(np.int64) << bit
    child = instance.child_by_id[child_id]
    current = child.current_placement if child.status in ("settled", "at_risk") else None
    stay = table.placement_index.get(current, -1) if current is not None else -1
    if stay >= 0:  # the only test a stay can fail; _reason words it for supported under 16
        allowed = stay_allowed(child, instance.placements[stay])
        pattern[stay] = 0 if allowed else 1 << TESTS.index("type")
    describe = partial(_reason, instance, child)
    return [
        PairTests(placement.id, km, j == stay, FailedTests(FAILING[bits], describe, placement, km))
        for j, (placement, km, bits) in enumerate(
            zip(instance.placements, distances[0].tolist(), pattern.tolist(), strict=True)
        )
    ]


def _reason(instance: Instance, child: Child, placement: Placement, test: str, km: float) -> str:
    """Why ``child`` fails ``test`` at ``placement``, in plain words with figures only."""
    if test == "type":
        if placement.type == "supported" and child.age < SUPPORTED_MIN_AGE:
            return "supported accommodation is for 16 and over"
        return f"{placement.type} is not in the care plan ({', '.join(child.care_plan_types())})"
    if test == "age":
        return f"takes ages {placement.age_min}-{placement.age_max}, the child is {child.age}"
    if test == "sex":
        return f"takes {'/'.join(placement.sexes)} only"
    if test == "needs":
        gaps = [
            f"{need} level {level} above what it meets ({placement.meets.get(need, 0)})"
            for need, level in sorted(child.needs.items())
            if level > placement.meets.get(need, 0)
        ]
        return "; ".join(gaps)
    if test == "ruled_out":
        return "the team ruled it out for this child"
    return f"{km:.1f} km away, over the {distance_cap(instance, child):g} km limit"
