"""Every rounding the model makes, in one place.

CP-SAT needs integers. Money in the contract is whole pounds, but the objective also holds
``distance_per_km x km`` and weights that may be fractional, so the model works in pence: every
objective coefficient is ``round(pounds * 100)``. That is at most half a penny of error per child
and term, well inside the contract's tolerance of 1 per child (4.13). Distance caps and outreach
radii are compared with exact kilometres (4.11) before the model is built, so they are not rounded.
Budget figures (fees, uplifts, outreach fees) are whole pounds and stay exact.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PENCE_PER_POUND = 100


def to_pence(pounds: float) -> int:
    """The model's integer for an amount of pounds (round half to even, as Python does)."""
    return round(pounds * PENCE_PER_POUND)


def rounded_pence(pounds: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """``to_pence`` over an array: the same products, the same round half to even."""
    return np.rint(pounds * PENCE_PER_POUND).astype(np.int64)


def to_pounds(pence: float) -> float:
    """Back from model units to pounds, rounded to the penny for reports."""
    return round(pence / PENCE_PER_POUND, 2)
