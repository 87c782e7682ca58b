"""The memory guard: refuse, before building it, a model that would not fit in memory.

The estimate is linear in eligible child-placement pairs, from peaks measured on the county
instance (287,465 pairs, `benchmarks/county.py`): 1.8 GiB in fast mode, where plan 1 may search
the whole model, and 730 MiB in reproducible mode, which searches shortlists only. The figures
below round those up. Available memory is the least of the kernel's MemAvailable, the cgroup's
limit and the process's address-space limit.
"""

from __future__ import annotations

import resource
from pathlib import Path

from matcher.exceptions import MatcherError

GIB = 1024**3
BASE_BYTES = 400 * 1024**2
"""Python, OR-Tools and the instance itself."""
WHOLE_MODEL_BYTES_PER_PAIR = 6_500
"""Fast mode on a large model, or any model searched whole: 1.8 GiB / 287k pairs, rounded up."""
SHORTLIST_BYTES_PER_PAIR = 2_700
"""Reproducible mode on a large model (shortlists and the capacity bound): 730 MiB / 287k."""


class ModelTooLargeError(MatcherError):
    """The model would not fit in the memory this process may use."""


def needed_bytes(pairs: int, whole_model: bool) -> int:
    """Estimated peak memory of solving a model with ``pairs`` eligible pairs."""
    per_pair = WHOLE_MODEL_BYTES_PER_PAIR if whole_model else SHORTLIST_BYTES_PER_PAIR
    return BASE_BYTES + pairs * per_pair


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


def check_memory(name: str, pairs: int, whole_model: bool) -> None:
    """Raise ModelTooLargeError, with figures and what to do, if the model would not fit."""
    available = available_bytes()
    needed = needed_bytes(pairs, whole_model)
    if available is None or needed <= available:
        return
    advice = "free memory, narrow the options (a policy or child max_distance_km), or split it"
    if whole_model:
        advice += ", or use --mode reproducible (shortlists only: about "
        advice += f"{needed_bytes(pairs, False) / GIB:.1f} GiB)"
    raise ModelTooLargeError(
        f"instance {name}: {pairs:,} eligible child-placement pairs need about "
        f"{needed / GIB:.1f} GiB of memory and {available / GIB:.1f} GiB is available: {advice}"
    )
