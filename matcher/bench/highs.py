"""The generic-solver baseline: the project's own CP-SAT model, read as a MIP and solved by HiGHS.

Every constraint the model builder writes is linear or Boolean, so the translation is exact:
linear rows as they are; ``bool_or`` as sum >= 1; ``bool_and`` as one row per literal;
``at_most_one`` / ``exactly_one`` as sums; a negated literal ``~x`` as ``1 - x``. Enforcement
literals become big-M terms computed from the variables' bounds (tight, not a guessed M).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

INF = float("inf")


@dataclass(frozen=True)
class MipResult:
    """What HiGHS found: status, objective and bound (model units), the solution, timing. The
    solution times count from the start of ``solve_mip`` (translation included), as ``build_s``
    and ``solve_s`` together do; None when HiGHS found no solution."""

    status: str
    objective: float | None
    bound: float | None
    values: list[int] | None
    build_s: float
    solve_s: float
    first_solution_s: float | None = None
    best_solution_s: float | None = None


class _Rows:
    """Rows in compressed form for one ``addRows`` call."""

    def __init__(self) -> None:
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.starts: list[int] = []
        self.index: list[int] = []
        self.value: list[float] = []

    def add(self, terms: dict[int, float], lower: float, upper: float) -> None:
        self.starts.append(len(self.index))
        for var, coef in terms.items():
            if coef:
                self.index.append(var)
                self.value.append(coef)
        self.lower.append(lower)
        self.upper.append(upper)


def _literal(lit: int) -> tuple[int, float, float]:
    """A literal as (variable, coefficient, constant): ``x`` is x, ``~x`` is 1 - x."""
    return (lit, 1.0, 0.0) if lit >= 0 else (-lit - 1, -1.0, 1.0)


def _linear_terms(variables: list[int], coeffs: list[int]) -> dict[int, float]:
    terms: dict[int, float] = {}
    for var, coef in zip(variables, coeffs, strict=True):
        terms[var] = terms.get(var, 0.0) + coef
    return terms


def _enforced(
    rows: _Rows,
    terms: dict[int, float],
    constant: float,
    lower: float,
    upper: float,
    enforcement: list[int],
    bounds: list[tuple[int, int]],
) -> None:
    """``lower <= terms + constant <= upper`` when every enforcement literal holds."""
    low = constant + sum(c * (bounds[v][0] if c > 0 else bounds[v][1]) for v, c in terms.items())
    high = constant + sum(c * (bounds[v][1] if c > 0 else bounds[v][0]) for v, c in terms.items())
    if not enforcement:
        rows.add(terms, lower - constant, upper - constant)
        return
    # each false enforcement literal relaxes the row by the slack it could need
    off: dict[int, float] = {}
    off_constant = 0.0
    for lit in enforcement:
        var, coef, const = _literal(lit)
        # (1 - lit) = 1 - (const + coef * x)
        off[var] = off.get(var, 0.0) - coef
        off_constant += 1 - const
    if upper < INF and high > upper:
        slack = high - upper
        row = dict(terms)
        for var, coef in off.items():
            row[var] = row.get(var, 0.0) - slack * coef
        rows.add(row, -INF, upper - constant + slack * off_constant)
    if lower > -INF and low < lower:
        slack = lower - low
        row = dict(terms)
        for var, coef in off.items():
            row[var] = row.get(var, 0.0) + slack * coef
        rows.add(row, lower - constant - slack * off_constant, INF)


def solve_mip(model: cp_model.CpModel, time_limit: float, threads: int = 1) -> MipResult:
    """Translate ``model`` and solve it with HiGHS within ``time_limit`` seconds."""
    import highspy

    started = time.perf_counter()
    proto = model.proto
    bounds = []
    for var in proto.variables:
        domain = list(var.domain)
        bounds.append((domain[0], domain[-1]))
    rows = _Rows()
    for constraint in proto.constraints:
        enforcement = list(constraint.enforcement_literal)
        if constraint.has_linear():
            linear = constraint.linear
            domain = list(linear.domain)
            lower = -INF if domain[0] <= -(2**62) else float(domain[0])
            upper = INF if domain[-1] >= 2**62 else float(domain[-1])
            terms = _linear_terms(list(linear.vars), list(linear.coeffs))
            _enforced(rows, terms, 0.0, lower, upper, enforcement, bounds)
        elif constraint.has_bool_or() or constraint.has_bool_and():
            literals = list(
                constraint.bool_or.literals
                if constraint.has_bool_or()
                else constraint.bool_and.literals
            )
            groups = [literals] if constraint.has_bool_or() else [[lit] for lit in literals]
            for group in groups:
                terms: dict[int, float] = {}
                constant = 0.0
                for lit in group:
                    var, coef, const = _literal(lit)
                    terms[var] = terms.get(var, 0.0) + coef
                    constant += const
                _enforced(rows, terms, constant, 1.0, INF, enforcement, bounds)
        elif constraint.has_at_most_one() or constraint.has_exactly_one():
            exact = constraint.has_exactly_one()
            literals = list(
                constraint.exactly_one.literals if exact else constraint.at_most_one.literals
            )
            terms, constant = {}, 0.0
            for lit in literals:
                var, coef, const = _literal(lit)
                terms[var] = terms.get(var, 0.0) + coef
                constant += const
            _enforced(rows, terms, constant, 1.0 if exact else -INF, 1.0, enforcement, bounds)
        else:
            raise ValueError(f"constraint {constraint.name or '?'} has no MIP translation")
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", max(time_limit - (time.perf_counter() - started), 0.1))
    highs.setOptionValue("threads", threads)
    highs.setOptionValue("random_seed", 0)
    count = len(bounds)
    objective = [0.0] * count
    for var, coef in zip(list(proto.objective.vars), list(proto.objective.coeffs), strict=True):
        objective[var] += coef
    highs.addVars(count, [float(lo) for lo, _ in bounds], [float(hi) for _, hi in bounds])
    highs.changeColsCost(count, list(range(count)), objective)
    highs.changeColsIntegrality(count, list(range(count)), [highspy.HighsVarType.kInteger] * count)
    highs.addRows(
        len(rows.lower),
        rows.lower,
        rows.upper,
        len(rows.index),
        rows.starts,
        rows.index,
        rows.value,
    )
    build_s = time.perf_counter() - started
    improved: list[float] = []  # when each improving solution came
    highs.cbMipImprovingSolution.subscribe(lambda _: improved.append(time.perf_counter()))
    highs.run()
    solve_s = time.perf_counter() - started - build_s
    info = highs.getInfo()
    offset = float(proto.objective.offset)
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    values = [round(x) for x in highs.getSolution().col_value] if has_solution else None
    status = highs.modelStatusToString(highs.getModelStatus())
    return MipResult(
        status=_status(status, has_solution),
        objective=info.objective_function_value + offset if has_solution else None,
        bound=info.mip_dual_bound + offset if has_solution else None,
        values=values,
        build_s=build_s,
        solve_s=solve_s,
        first_solution_s=improved[0] - started if has_solution and improved else None,
        best_solution_s=improved[-1] - started if has_solution and improved else None,
    )


def _status(highs_status: str, has_solution: bool) -> str:
    """HiGHS's model status in the contract's words."""
    if highs_status == "Optimal":
        return "OPTIMAL"
    if highs_status == "Infeasible":
        return "INFEASIBLE"
    return "FEASIBLE" if has_solution else "UNKNOWN"
