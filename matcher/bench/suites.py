"""Benchmark suites: named lists of instances, each built on demand at a fixed seed.

- ``smoke``: the shipped small instances and three small GAP problems (seconds; runs in CI);
- ``scaling``: generated county instances from 50 to 20,000 children;
- ``gap``: every public GAP instance in ``../shared/benchmarks/gap`` (gap1-12 as published,
  maximisation; types A-E, minimisation), with its best-known value;
- ``tight``: generated ``tight`` instances (scarce places, conflicts, siblings, a budget);
- ``sparse``: generated county instances with a 25 km distance limit (few options per child).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from matcher.bench.gap import GapProblem, best_known, gap_files, gap_instance, read_gap
from matcher.generate import generate
from matcher.instance import Instance
from matcher.io import read_instance

ROOT = Path(__file__).resolve().parents[2]
GAP_FOLDER = ROOT.parent / "shared" / "benchmarks" / "gap"
"""Where the public GAP files live beside a checkout (read-only, not shipped)."""

SCALING_SIZES = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
SEED = 1


@dataclass(frozen=True)
class Case:
    """One benchmark instance: how to build it, and for GAP the problem and best-known value."""

    suite: str
    name: str
    build: Callable[[], Instance]
    gap: GapProblem | None = None
    best_known: float | None = None
    proven: bool = False


def _shipped(suite: str, name: str) -> Case:
    return Case(suite, name, lambda: read_instance(ROOT / "instances" / f"{name}.json"))


def _generated(suite: str, shape: str, size: int, max_km: float | None = None) -> Case:
    def build() -> Instance:
        instance = generate(shape, size, SEED)
        if max_km is None:
            return instance
        policy = instance.policy.model_copy(update={"max_distance_km": max_km})
        return instance.model_copy(update={"policy": policy})

    suffix = "" if max_km is None else f"-{max_km:g}km"
    return Case(suite, f"{shape}-{size}{suffix}", build)


def _gap_cases(suite: str, names: list[str] | None, folder: Path) -> list[Case]:
    if not (folder / "best_known.csv").exists():
        raise FileNotFoundError(f"{folder}: the GAP benchmark files are not there")
    known, files = best_known(folder), gap_files(folder)
    cases = []
    for name in names or sorted(files, key=_gap_order):
        value = known[name]
        problem = read_gap(files[name], value.maximise)
        cases.append(
            Case(
                suite,
                name,
                lambda p=problem: gap_instance(p),  # type: ignore[misc]
                problem,
                value.value,
                value.proven,
            )
        )
    return cases


def _gap_order(name: str) -> tuple[int, str]:
    """gap1-0 ... gap12-4 first, in numeric order, then types A-E by name."""
    if name.startswith("gap"):
        number, index = name[3:].split("-")
        return (0, f"{int(number):02d}-{index}")
    return (1, name)


def suite_cases(suite: str, gap_folder: Path = GAP_FOLDER) -> list[Case]:
    """The cases of ``suite`` (see the module docstring)."""
    if suite == "smoke":
        shipped = [_shipped(suite, name) for name in ("tiny", "small", "tight-small")]
        return shipped + _gap_cases(suite, ["gap1-0", "gap5-0", "a05100"], gap_folder)
    if suite == "scaling":
        return [_generated(suite, "county", size) for size in SCALING_SIZES]
    if suite == "gap":
        return _gap_cases(suite, None, gap_folder)
    if suite == "tight":
        return [_generated(suite, "tight", size) for size in (60, 120, 300, 600)]
    if suite == "sparse":
        return [_generated(suite, "county", size, 25) for size in (100, 300, 1000, 3000)]
    raise ValueError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")


SUITES = ("smoke", "scaling", "gap", "tight", "sparse")
