"""The memory guard: refuse, before building it, a model that would not fit in memory; and
``collector_paused`` for building millions of long-lived objects.

The estimate has three parts, fitted to peaks measured on generated county instances (see
``benchmarks/README.md``): the options themselves (every eligible child-placement pair), and
either the whole CP-SAT model (every pair a variable with its share of the constraints) or, for
large instances, the shortlist models (about ``SHORTLIST_OPTIONS`` pairs a child). Available
memory is the least of the kernel's MemAvailable, the cgroup's limit and the process's
address-space limit.

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
OPTION_BYTES = 200
"""One eligible pair as an option, and its share of the capacity bound's arrays (5,000-child
county instance: 1.15 GiB after building 5.0M options; 1.43 GiB peak in reproducible mode)."""
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
    """Memory this process may still use, or None if nothing says."""
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024)
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


def fits_in_memory(children: int, pairs: int, whole_model: bool) -> bool:
    available = available_bytes()
    return available is None or needed_bytes(children, pairs, whole_model) <= available


def check_memory(name: str, children: int, pairs: int, whole_model: bool) -> None:
    """Raise ModelTooLargeError, with figures and what to do, if the model would not fit."""
    available = available_bytes()
    needed = needed_bytes(children, pairs, whole_model)
    if available is None or needed <= available:
        return
    raise ModelTooLargeError(
        f"instance {name}: {pairs:,} eligible child-placement pairs need about "
        f"{needed / GIB:.1f} GiB of memory and {available / GIB:.1f} GiB is available: free "
        "memory, narrow the options (a policy or child max_distance_km), or split the instance"
    )


def check_options_fit(name: str, children: int, done: int, pairs: int) -> None:
    """Raise ModelTooLargeError if the options alone would not fit: ``pairs`` found for the
    first ``done`` of ``children`` children, projected to all of them. Called while options are
    built, so a 20,000-child instance (~225M pairs) is refused instead of exhausting memory."""
    available = available_bytes()
    projected = pairs * children // max(done, 1)
    needed = BASE_BYTES + projected * OPTION_BYTES
    if available is None or needed <= available:
        return
    raise ModelTooLargeError(
        f"instance {name}: {projected:,} eligible child-placement pairs (projected from the "
        f"first {done:,} of {children:,} children) need about {needed / GIB:.1f} GiB of memory "
        f"for their options alone and {available / GIB:.1f} GiB is available: free memory, "
        "narrow the options (a policy or child max_distance_km), or split the instance"
    )


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
