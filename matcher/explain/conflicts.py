"""Why an instance has no valid plan: a minimal set of constraints that cannot all hold.

The instance is built as a diagnosis model (``build_model(diagnose=True)``): every constraint
sits under a switch literal per (family, record). CP-SAT, on one worker, is asked to solve with
every switch assumed on; when it proves that impossible it names a sufficient subset of switches
(``sufficient_assumptions_for_infeasibility``), which need not be minimal. Deletion then shrinks
it: drop one member, and if the rest is still infeasible, it was not needed. What is left is
minimal: dropping any one member makes the remaining constraints satisfiable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

from matcher.cpsat import build_model
from matcher.cpsat.constraints import Key
from matcher.eligibility import Candidates
from matcher.instance import Instance
from matcher.stopping import run_solver


@dataclass(frozen=True)
class ConflictSet:
    """The conflicting constraints, each as (family, record) and in plain words.
    ``minimal`` is False if time ran out before every member was tested."""

    members: list[Key]
    texts: list[str]
    minimal: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "minimal": self.minimal,
            "constraints": [
                {"family": family, "record": record, "text": text}
                for (family, record), text in zip(self.members, self.texts, strict=True)
            ],
        }


def conflict_set(instance: Instance, cands: Candidates, time_limit: float) -> ConflictSet | None:
    """A minimal conflicting set of constraints, or None if the instance is feasible."""
    deadline = time.perf_counter() + time_limit
    pm = build_model(instance, cands=cands, diagnose=True)
    guards = pm.guards
    assert guards is not None
    keys = sorted(guards)
    status, core = _solve(pm.model, [guards[k] for k in keys], deadline)
    if status != cp_model.INFEASIBLE:
        return None
    members = [keys[i] for i in core]
    minimal = True
    for key in list(members):
        if time.perf_counter() >= deadline:
            minimal = False
            break
        rest = [k for k in members if k != key]
        status, smaller = _solve(pm.model, [guards[k] for k in rest], deadline)
        if status == cp_model.INFEASIBLE:
            members = [rest[i] for i in smaller] if smaller else rest
    return ConflictSet(members, [describe(instance, key) for key in members], minimal)


def _solve(
    model: cp_model.CpModel, assumed: list[cp_model.IntVar], deadline: float
) -> tuple[int, list[int]]:
    """Solve assuming ``assumed``; when infeasible, the positions in ``assumed`` of a
    sufficient subset of them."""
    model.clear_assumptions()
    model.add_assumptions(assumed)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = max(deadline - time.perf_counter(), 0.01)
    status = run_solver(solver, model)
    if status != cp_model.INFEASIBLE:
        return status, []
    position = {var.index: k for k, var in enumerate(assumed)}
    core = solver.sufficient_assumptions_for_infeasibility()
    return status, sorted(position[index] for index in core if index in position)


def describe(instance: Instance, key: Key) -> str:
    """One constraint in plain words, ids only."""
    family, record = key
    if family == "capacity":
        placement = instance.placement_by_id[record]
        free = placement.capacity - len(placement.residents)
        return f"{record} has {free} free bed(s)"
    if family == "staff_capacity":
        return f"{record} has {instance.placement_by_id[record].staff_capacity} staff units"
    if family == "outreach_capacity":
        return f"outreach team {record} has {instance.team_by_id[record].capacity} slot(s)"
    if family == "max_moves":
        return f"at most {instance.policy.max_moves} settled or at-risk children may move tonight"
    if family == "weekly_budget":
        return f"the weekly budget is £{instance.policy.weekly_budget:,}"
    if family == "ending_placement":
        child = instance.child_by_id[record]
        return f"{record}'s placement {child.current_placement} is ending"
    if family == "sibling_groups":
        members = ", ".join(instance.sibling_members.get(record, []))
        return f"siblings {members} must live together (group {record})"
    if family == "conflicts":
        a, b = record.split("|")
        return f"{a} and {b} must not live together"
    if family == "sole_occupancy":
        return f"a child who must live alone cannot share {record}"
    if family == "hsb_no_younger":
        return (
            f"at {record}, a child with harmful sexual behaviour may not live with a younger child"
        )
    if family == "max_per_placement":
        index, placement = record.split("|")
        limit = instance.policy.rules.max_per_placement[int(index)]
        return f"at most {limit.max} occupant(s) with {limit.need} at {placement}"
    if family == "incompatible_needs":
        index, placement = record.split("|")
        rule = instance.policy.rules.incompatible_needs[int(index)]
        return f"children with {rule.a} and with {rule.b} may not live together at {placement}"
    if family == "outreach_required":
        return f"{record} needs an outreach slot wherever placed there"
    if family == "return_home":
        return f"{record} can go home only with an outreach slot"
    return f"{family}: {record}"
