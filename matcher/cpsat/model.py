"""Build the CP-SAT model in order: candidates, variables, constraint families, objective."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ortools.sat.python import cp_model

from matcher.cpsat.constraints import CONSTRAINT_FAMILIES, FAMILY_NAMES, Context, Key
from matcher.cpsat.objective import minimize
from matcher.cpsat.variables import Variables, add_variables
from matcher.eligibility import Candidates, candidates
from matcher.instance import Instance
from matcher.resources import collector_paused


@dataclass
class PlacementModel:
    """A built model with the variables and terms needed to read a solution back."""

    model: cp_model.CpModel
    instance: Instance
    candidates: Candidates
    variables: Variables
    families: tuple[str, ...]
    limits: dict[Key, int]
    """The relaxable limits: (family, record) -> index of their ``<=`` constraint."""
    guards: dict[Key, cp_model.IntVar] | None = None
    """In a diagnosis model, each (family, record)'s switch literal."""


def build_model(
    instance: Instance,
    *,
    families: Collection[str] = FAMILY_NAMES,
    cands: Candidates | None = None,
    diagnose: bool = False,
) -> PlacementModel:
    """Compile ``instance`` into a CP-SAT model with the named constraint ``families``.

    Leaving a family out exists for tests and explanations ("what if this rule did not hold"); a
    plan from such a model is not a valid plan. ``diagnose`` puts every constraint under a switch
    literal per (family, record), for finding conflicting constraints (``matcher.explain``).
    """
    unknown = set(families) - set(FAMILY_NAMES)
    if unknown:
        raise ValueError(f"unknown constraint families: {sorted(unknown)}")
    with collector_paused():
        if cands is None:
            cands = candidates(instance, check_eligibility="eligibility" in families)
        model = cp_model.CpModel()
        variables = add_variables(model, instance, cands)
        context = Context(model, instance, cands, variables, guards={} if diagnose else None)
        for name, add_family in CONSTRAINT_FAMILIES.items():
            if name in families:
                add_family(context)
        minimize(model, instance, variables)
    return PlacementModel(
        model, instance, cands, variables, tuple(families), context.limits, context.guards
    )
