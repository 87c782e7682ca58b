"""The memory guard: refuse, before building it, a model that would not fit in memory; and
``collector_paused`` for building millions of long-lived objects.

The estimate has three parts, fitted to peaks measured on generated county instances (see
``benchmarks/README.md``): the options themselves (every eligible child-placement pair), and
either the whole CP-SAT model (every pair a variable with its share of the constraints) or, for
large instances, the shortlist models (about ``SHORTLIST_OPTIONS`` pairs a child). Available
memory is the least of the kernel's MemAvailable (plus what this process holds), the cgroup's
limit and the process's address-space limit.

A large instance in fast mode searches the whole model only when it fits
(``fits_in_memory``); otherwise it keeps to shortlists, as reproducible mode always does. An
instance is refused only when even that would not fit.
"""

from __future__ import annotations

import gc
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from matcher.exceptions import MatcherError

GIB = 1024**3
BASE_BYTES = 650 * 1024**2
"""Python, OR-Tools, pandas, the instance, and the models' fixed parts (fitted so the county
instance's shortlist peak, 730 MiB, is covered)."""
OPTION_BYTES = 400
"""One eligible pair as an option, with its share of the arrays built beside it (5,000-child
county instance: 1.15 GiB after building 5.0M options, 2.0-3.4 GiB peak solving; 20,000
children: 6.9 GiB after 12M of ~80M options, and 24 GiB, the machine's all, at 200 a pair)."""
MODEL_BYTES_PER_PAIR = 5_500
"""One pair in a CP-SAT model with its constraints (county, whole model, fast mode: 1.8 GiB
peak for 287,465 pairs)."""
SHORTLIST_OPTIONS = 15
"""Pairs a child keeps in a shortlist model: its cheapest, its stay, and earlier plans' choices."""


class ModelTooLargeError(MatcherError):
    """The model would not fit in the memory this process may use."""


def needed_bytes(children: int, pairs: int, whole_model: bool) -> int:
    """Estimated peak memory of solving ``pairs`` options of ``children`` children, searching
    the whole model or shortlists only."""
    in_model = pairs if whole_model else min(pairs, children * SHORTLIST_OPTIONS)
    return BASE_BYTES + pairs * OPTION_BYTES + in_model * MODEL_BYTES_PER_PAIR


def available_bytes() -> int | None:
    """Memory this process may use in all, what it holds already included (the estimates are
    of whole-process peaks), or None if nothing says: the kernel's MemAvailable plus this
    process's resident memory, the cgroup's limit, the address-space limit."""
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024 + _resident_bytes())
    except OSError:
        pass
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if text != "max":
            limits.append(int(text))
    except (OSError, ValueError):
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(soft)
    return min(limits) if limits else None


def _resident_bytes() -> int:
    """This process's resident memory now (0 where /proc does not say)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def peak_rss_mib() -> int:
    """Peak resident memory (MiB) of this process plus its largest finished child (the
    occupancy bound's process beside the search): an upper bound on the run's peak, since the
    forked child shares most of its pages with this process."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + children) / 1024)


def fits_in_memory(children: int, pairs: int, whole_model: bool) -> bool:
    available = available_bytes()
    return available is None or needed_bytes(children, pairs, whole_model) <= available


def check_memory(
    name: str, children: int, pairs: int, whole_model: bool, done: int | None = None
) -> None:
    """Raise ModelTooLargeError, with figures and what to do, if the model would not fit.
    ``pairs`` may be projected from the first ``done`` children (``check_options_fit``)."""
    available = available_bytes()
    needed = needed_bytes(children, pairs, whole_model)
    if available is None or needed <= available:
        return
    projected = "" if done is None else f" (projected from the first {done:,} of {children:,})"
    raise ModelTooLargeError(
        f"instance {name}: {pairs:,} eligible child-placement pairs{projected} need about "
        f"{needed / GIB:.1f} GiB of memory and {available / GIB:.1f} GiB is available: free "
        "memory, narrow the options (a policy or child max_distance_km), or split the instance"
    )


PROJECTION_SLACK = 0.25
"""How far projected needs may exceed the memory available before options are refused: pairs
per child in the first block can be ~10% off the whole (county-300: 17.8k pairs projected from
its first 256 children, 16.5k in all). The slack shrinks to none as the projection becomes a
count."""


def check_options_fit(name: str, children: int, done: int, pairs: int) -> None:
    """``check_memory`` while options are built: ``pairs`` found for the first ``done`` of
    ``children`` children, projected to all of them, must fit with the smallest models they
    need (shortlists). So a 20,000-child instance (~76M pairs) is refused after its first
    block of children instead of filling memory with options."""
    if done >= children:
        check_memory(name, children, pairs, whole_model=False)
        return
    projected = pairs * children // max(done, 1)
    available = available_bytes()
    slack = 1 + PROJECTION_SLACK * (1 - done / children)
    if available is None or needed_bytes(children, projected, False) <= available * slack:
        return
    check_memory(name, children, projected, False, done)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while many objects that stay alive are made: its
    repeated full scans of the growing heap would free nothing (options for 5,000 children:
    31.5 s with it, 23 s without; ~0.8 s of an 8 s county model build)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
