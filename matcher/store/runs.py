"""Run history: a run's row, its ranked plans, and the team's decisions on them.

A run is written in two steps. ``begin_run`` commits a row marked ``running``; ``save_run`` then
writes the plans and marks the run ``complete`` (or ``interrupted``) in one transaction, so a run
that crashes or is killed leaves no plans and is never marked complete. The next run, holding the
lock, marks such leftovers ``abandoned``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, fields
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from matcher.eligibility import HOME
from matcher.exceptions import StoreError
from matcher.plans import Assignment, Outcome, Plan, Result, SolverReport
from matcher.solve import SolveSettings
from matcher.store.schema import AssignmentRow, ChildRow, DecisionRow, PlanRow, RunRow

DECIDABLE = ("move", "new", "return_home")
"""Actions a team accepts or rejects; stays and unplaced children change nothing."""
FINISHED = ("complete", "interrupted")
PLAN_FIELDS = tuple(f.name for f in fields(Plan) if f.name != "assignments")
"""Plan fields stored as PlanRow columns of the same name (the rows go to AssignmentRow)."""


def _assignment(row: AssignmentRow) -> Assignment:
    return Assignment(*(getattr(row, f.name) for f in fields(Assignment)))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def begin_run(engine: Engine, settings: SolveSettings, state_sha256: str, referrals: int) -> int:
    """Record a run as started (committed at once); earlier runs left running are abandoned."""
    with Session(engine) as session, session.begin():
        session.execute(
            update(RunRow)
            .where(RunRow.status == "running")
            .values(status="abandoned", message="the process ended before the run finished")
        )
        run = RunRow(
            started_at=_now(),
            state_sha256=state_sha256,
            referrals=referrals,
            time_limit_s=settings.time_limit,
            workers=settings.workers,
            seed=settings.seed,
            status="running",
        )
        session.add(run)
        session.flush()
        return run.id


def save_run(engine: Engine, run_id: int, result: Result, report_dir: str | None) -> None:
    """Write the run's plans and outcome, and mark it complete or interrupted, atomically."""
    s = result.solver
    with Session(engine) as session, session.begin():
        run = session.get_one(RunRow, run_id)
        run.plans = [
            PlanRow(
                **{name: getattr(plan, name) for name in PLAN_FIELDS},
                assignments=[
                    AssignmentRow(position=k, **asdict(a)) for k, a in enumerate(plan.assignments)
                ],
            )
            for plan in result.plans
        ]
        run.instance = result.instance
        run.status = "interrupted" if s.interrupted else "complete"
        run.finished_at = _now()
        run.solver_status, run.objective, run.best_bound, run.gap = (
            s.status,
            s.objective,
            s.best_bound,
            s.gap,
        )
        run.warm_start, run.best_solution_s, run.wall_time_s = (
            s.warm_start,
            s.best_solution_s,
            s.wall_time_s,
        )
        run.solver = asdict(s)
        run.infeasibility = result.infeasibility
        run.report_dir = report_dir


def fail_run(engine: Engine, run_id: int, message: str) -> None:
    """Mark a run failed (no plans are saved)."""
    with Session(engine) as session, session.begin():
        run = session.get_one(RunRow, run_id)
        run.status, run.finished_at, run.message = "failed", _now(), message[:2000]


def history(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs, newest first, with the figures a team looks at."""
    columns = (
        RunRow.id,
        RunRow.started_at,
        RunRow.finished_at,
        RunRow.status,
        RunRow.solver_status,
        RunRow.objective,
        RunRow.gap,
        RunRow.wall_time_s,
        RunRow.warm_start,
        RunRow.seed,
        RunRow.workers,
    )
    with engine.connect() as connection:
        rows = connection.execute(select(*columns).order_by(RunRow.id.desc()).limit(limit))
        return [dict(row) for row in rows.mappings()]


def _finished_run(session: Session, run_id: int) -> RunRow:
    run = session.get(RunRow, run_id)
    if run is None:
        raise StoreError(f"run {run_id}: no such run (`placement-matcher history` lists them)")
    if run.status not in FINISHED:
        raise StoreError(f"run {run_id}: status {run.status}, it has no plans")
    return run


def run_result(engine: Engine, run_id: int) -> Result:
    """A finished run's result as ``solve`` returned it (explanations included)."""
    with Session(engine) as session:
        run = _finished_run(session, run_id)
        known = {f.name for f in fields(SolverReport)}
        report = SolverReport(**{k: v for k, v in (run.solver or {}).items() if k in known})
        plans = [
            Plan(
                **{name: getattr(plan, name) for name in PLAN_FIELDS},
                assignments=[_assignment(a) for a in plan.assignments],
            )
            for plan in run.plans
        ]
        return Result(run.instance or "", run.state_sha256, report, plans, run.infeasibility)


def mean_referrals(engine: Engine) -> float | None:
    """Mean referrals a night over the finished runs (None before the first): the arrival rate
    the history shows, for the stress tests' demand model."""
    with engine.connect() as connection:
        query = select(func.avg(RunRow.referrals)).where(RunRow.status.in_(FINISHED))
        value = connection.execute(query).scalar()
    return None if value is None else float(value)


def _latest_finished(session: Session) -> int | None:
    query = select(RunRow.id).where(RunRow.status.in_(FINISHED)).order_by(RunRow.id.desc())
    return session.execute(query.limit(1)).scalar()


def latest_finished_run(engine: Engine) -> int | None:
    """The id of the latest complete or interrupted run, None before the first."""
    with Session(engine) as session:
        return _latest_finished(session)


def warm_start_plan(engine: Engine) -> dict[str, Outcome]:
    """Last night's plan to start from: the plan of the latest finished run the team accepted
    from (its latest accepted decision's plan), else that run's best plan; empty if none."""
    with Session(engine) as session:
        run_id = _latest_finished(session)
        if run_id is None:
            return {}
        accepted_rank = session.execute(
            select(DecisionRow.plan_rank)
            .where(DecisionRow.run_id == run_id, DecisionRow.decision == "accepted")
            .order_by(DecisionRow.id.desc())
            .limit(1)
        ).scalar()
        query = select(PlanRow).where(
            PlanRow.run_id == run_id, PlanRow.rank == (accepted_rank or 1)
        )
        plan = session.execute(query).scalar()
        if plan is None:
            return {}
        return {a.child: Outcome(a.placement, a.outreach) for a in plan.assignments}


def decide(
    engine: Engine, run_id: int, rank: int, children: list[str] | None, decision: str
) -> list[Assignment]:
    """Accept or reject plan ``rank``'s proposals for ``children`` (default: every proposal).

    Only the latest finished run can be decided on; each proposal once. Accepting a move makes
    the placement the child's current one (status settled); accepting a return home takes the
    child off the list. Rejecting rules the proposal out for later runs. All or nothing.
    """
    if decision not in ("accepted", "rejected"):
        raise ValueError(decision)
    with Session(engine) as session, session.begin():
        run = _finished_run(session, run_id)
        latest = _latest_finished(session)
        if latest != run_id:
            raise StoreError(f"run {run_id} is superseded by run {latest}: decide on that one")
        plan = next((p for p in run.plans if p.rank == rank), None)
        if plan is None:
            raise StoreError(f"run {run_id}: no plan {rank} (it has {len(run.plans)})")
        chosen = _proposals(session, run_id, plan, children)
        for row in chosen:
            session.add(
                DecisionRow(
                    run_id=run_id,
                    plan_rank=rank,
                    child=row.child,
                    placement=row.placement,
                    outreach=row.outreach,
                    action=row.action,
                    decision=decision,
                    decided_at=_now(),
                )
            )
            if decision == "accepted":
                _apply(session, row)
        return [_assignment(a) for a in chosen]


def _proposals(
    session: Session, run_id: int, plan: PlanRow, children: list[str] | None
) -> list[AssignmentRow]:
    """The plan's rows for ``children`` (all proposals when None), each checked decidable."""
    rows = {a.child: a for a in plan.assignments}
    decided = set(
        session.execute(select(DecisionRow.child).where(DecisionRow.run_id == run_id)).scalars()
    )
    if children is None:
        chosen = [a for a in plan.assignments if a.action in DECIDABLE and a.child not in decided]
        if not chosen:
            raise StoreError(f"run {run_id} plan {plan.rank}: no proposals left to decide on")
        return chosen
    result = []
    for child in children:
        row = rows.get(child)
        if row is None:
            raise StoreError(f"run {run_id} plan {plan.rank}: child {child} is not in the plan")
        if row.action not in DECIDABLE:
            raise StoreError(
                f"run {run_id} plan {plan.rank}: child {child}: action {row.action} "
                f"proposes no change"
            )
        if child in decided:
            raise StoreError(f"run {run_id}: child {child}: already decided")
        result.append(row)
    return result


def _apply(session: Session, row: AssignmentRow) -> None:
    """An accepted proposal becomes the child's state."""
    child = session.get(ChildRow, row.child)
    if child is None or not child.in_care:
        raise StoreError(f"child {row.child}: no longer in the state (a newer import?)")
    if row.placement == HOME:
        child.in_care = False
        return
    child.current_placement = row.placement
    child.status = "settled"
