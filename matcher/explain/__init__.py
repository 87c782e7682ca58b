"""Explanations: why each plan is what it is, in the constraint families' own names.

``explain(instance, result)`` adds to plan 1 its binding constraints with their marginal values
(``binding``), each child's outcome against the better-looking alternatives and, for unplaced
children, the eligibility funnel and correction sets (``children``); to plans 2..K what changes
against plan 1 and what it costs; and to an infeasible result a minimal set of conflicting
constraints (``conflicts``). ``to_text`` renders it for a social worker: ids and figures only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from matcher.eligibility import Candidates, candidates
from matcher.explain.binding import PLAIN, Binding, binding_constraints
from matcher.explain.children import ChildExplainer
from matcher.explain.conflicts import conflict_set
from matcher.explain.whatif import Resolver
from matcher.instance import Instance
from matcher.plans import Plan, Result
from matcher.search import LARGE_MODEL_PAIRS
from matcher.solve import SolveSettings, shortlist

__all__ = ["ExplainSettings", "explain", "to_text"]

ACTION_ORDER = {"unplaced": 0, "return_home": 1, "move": 2, "new": 3, "stay": 4}
"""Children explained first when time is short: the unplaced, then those whose place changes."""


@dataclass(frozen=True)
class ExplainSettings:
    """How much work explanations may do: ``time_limit`` seconds in all, ``per_solve`` seconds
    per re-solve, ``alternatives`` better-looking placements per child."""

    time_limit: float = 60.0
    per_solve: float = 5.0
    alternatives: int = 3
    forced: int = 3
    """Alternatives per child that get a forced re-solve, in rounds: every child's first before
    any child's second, so time running out leaves no child without one."""
    binding_share: float = 0.3
    """Share of the time for binding constraints; the children get the rest."""


def explain(
    instance: Instance,
    result: Result,
    solve_settings: SolveSettings | None = None,
    settings: ExplainSettings | None = None,
) -> Result:
    """``result`` with explanations attached (see the module docstring)."""
    settings = settings or ExplainSettings()
    solve_settings = replace(solve_settings or SolveSettings(), plans=1)
    started = time.perf_counter()
    cands = result.candidates or candidates(instance)
    if not result.plans:
        if result.solver.status != "INFEASIBLE":
            return result
        conflicts = conflict_set(instance, cands, settings.time_limit)
        return replace(result, infeasibility=None if conflicts is None else conflicts.to_dict())
    best = result.plans[0]
    model_cands, proven = _model_scope(instance, cands, result)
    resolver = Resolver(
        instance,
        model_cands,
        best.outcomes(),
        replace(solve_settings, reproducible=False),
        settings.per_solve,
        proven,
        local=model_cands is not cands,
        eligible=cands,
    )
    bindings = binding_constraints(
        instance, best, resolver, started + settings.time_limit * settings.binding_share
    )
    explainer = ChildExplainer(
        instance,
        cands,
        best,
        resolver,
        settings.alternatives,
        started + settings.time_limit,
    )
    order = sorted(best.assignments, key=lambda a: (ACTION_ORDER[a.action], a.child))
    # Every child's alternatives and reasons first (cheap), then forced re-solves in rounds while
    # time lasts (each child's first eligible alternative, then each one's second, ...), unplaced
    # and changing children first, so on large instances no child goes unexplained, or without
    # a forced cost, for want of re-solves spent on others.
    explanations = {a.child: explainer.explain(a.child) for a in order}
    for _ in range(settings.forced):
        explanations = {child: explainer.with_forced(e) for child, e in explanations.items()}
    children = {child: e.to_dict() for child, e in explanations.items()}
    explained = {
        "scope": "whole model" if model_cands is cands else "shortlist",
        "binding": [_binding_dict(b) for b in bindings],
        "children": [children[a.child] for a in best.assignments],
        "re_solves": resolver.solves,
        "seconds": round(time.perf_counter() - started, 2),
    }
    plans = [replace(best, explanations=explained)]
    plans += [replace(plan, explanations=_difference(best, plan)) for plan in result.plans[1:]]
    return replace(result, plans=plans)


def _model_scope(instance: Instance, cands: Candidates, result: Result) -> tuple[Candidates, bool]:
    """The candidates re-solves use (the whole model, or on large instances the plans'
    shortlist) and whether plan 1 is proven optimal on that model."""
    pairs = sum(len(options) for options in cands.options.values())
    if pairs <= LARGE_MODEL_PAIRS:
        return cands, result.solver.status == "OPTIMAL"
    kept = [plan.outcomes() for plan in result.plans]
    return shortlist(instance, cands, kept), result.solver.shortlist_optimal


def _binding_dict(binding: Binding) -> dict[str, Any]:
    return {
        "family": binding.family,
        "record": binding.record,
        "limit": binding.limit,
        "step": binding.step,
        "unit": binding.unit,
        "saving": binding.saving,
        "method": binding.method,
        "text": binding.text(),
    }


def _difference(best: Plan, plan: Plan) -> dict[str, Any]:
    """What plan ``plan`` changes against plan 1 and what that costs."""
    return {
        "objective_change": round(plan.objective - best.objective, 2),
        "terms_change": {
            term: round(plan.terms[term] - best.terms[term], 2)
            for term in plan.terms
            if abs(plan.terms[term] - best.terms[term]) > 0.005
        },
        "changes": plan.changes_from_best,
    }


def to_text(result: Result, *, every_child: bool = False) -> str:
    """The explanations as plain text for a social worker (ids and figures only)."""
    lines: list[str] = []
    if result.infeasibility is not None:
        lines.append("No valid plan exists tonight. These rules cannot all hold at once:")
        for member in result.infeasibility["constraints"]:
            lines.append(f"  - {member['text']}  [{member['family']}]")
        if result.infeasibility["minimal"]:
            lines.append("Relaxing any one of them would make a plan possible.")
        else:
            lines.append("(The search ran out of time before checking this list is the smallest.)")
        return "\n".join(lines)
    if not result.plans or result.plans[0].explanations is None:
        return "No explanations: there is no plan to explain."
    explained = result.plans[0].explanations
    lines.append("What shapes plan 1 (most valuable first):")
    if not explained["binding"]:
        lines.append("  - no full place, team, move limit or budget changes the plan")
    for binding in explained["binding"]:
        lines.append(f"  - {binding['text']}  [{binding['family']}]")
    lines.append("")
    lines.append("Child by child:")
    for child in explained["children"]:
        if child["action"] == "stay" and not every_child:
            continue
        lines.append(f"  {child['child']}: {child['summary']}")
        for alt in child["alternatives"]:
            reasons = "; ".join(f"{r['text']} [{r['family']}]" for r in alt["reasons"])
            forced = ""
            if alt["forced_change"] is not None:
                forced = (
                    f" Putting the child there would add £{alt['forced_change']:,.2f} a week"
                    f" ({PLAIN[alt['forced_method']]})."
                )
            elif alt["forced_method"]:
                forced = f" ({alt['forced_method']})"
            where = f"{alt['placement']} (£{alt['pair_cost']:,.2f}, {alt['distance_km']:.1f} km)"
            lines.append(f"    - {where}: {reasons}.{forced}")
        if "funnel" in child:
            funnel = ", ".join(f"{k} {v}" for k, v in child["funnel"].items())
            lines.append(f"    places passing each check in turn: {funnel}")
            for k, corrections in enumerate(child["corrections"], start=1):
                changes = "; ".join(c["text"] for c in corrections)
                lines.append(f"    would be placed with change set {k}: {changes}")
    if not every_child:
        stays = sum(c["action"] == "stay" for c in explained["children"])
        lines.append(f"  ({stays} children stay where they are; --all-rows lists them too)")
    for plan in result.plans[1:]:
        if plan.explanations is None:
            continue
        difference = plan.explanations
        lines.append("")
        lines.append(
            f"Plan {plan.rank} costs £{difference['objective_change']:,.2f} more than plan 1 "
            f"and changes {len(difference['changes'])} child(ren):"
        )
        for change in difference["changes"]:
            lines.append(
                f"  {change['child']}: {change['best']['placement'] or 'unplaced'} -> "
                f"{change['this']['placement'] or 'unplaced'}"
            )
    return "\n".join(lines)
