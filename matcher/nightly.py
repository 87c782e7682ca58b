"""The nightly run: load today's state, solve from last night's plan, explain, report, save.

One run at a time per database (``run_lock``). The run's row is committed as ``running`` first;
its plans are saved, and the run marked complete, only after the solve, the explanations and the
report have all succeeded, in one transaction. A crash marks it failed and removes nothing else;
SIGINT or SIGTERM stop the search and the best plans so far are saved, marked ``interrupted``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from matcher.domain import NEEDS_A_PLACE
from matcher.explain import ExplainSettings, explain
from matcher.plans import Result
from matcher.privacy import redact_instance, redact_result, redaction_map
from matcher.report import write_report
from matcher.solve import ProgressCallback, SolveSettings, solve
from matcher.stopping import stop_on_signals, stop_requested
from matcher.store import (
    begin_run,
    fail_run,
    load_state,
    open_database,
    run_lock,
    save_run,
    shown,
    state_sha256,
    warm_start_plan,
)
from matcher.store.db import database_secret, database_url

REDACTION_SECRET = "report-redaction"


@dataclass(frozen=True)
class NightlySettings:
    """How the nightly run searches, explains and reports."""

    solve: SolveSettings = SolveSettings()
    explain_time: float = 60.0
    """Seconds for explanations (0: none)."""
    report_dir: Path | None = None
    """Where the run's report folder (``run-<id>``) goes; None: no report."""
    warm_start: bool = True
    """Start from last night's plan (the one the team accepted from, else the best)."""
    redact: bool = False
    """Replace every id in the report with a stable hash (``matcher.privacy``)."""


@dataclass(frozen=True)
class NightlyRun:
    run_id: int
    result: Result
    report: Path | None


def nightly(
    db: str, settings: NightlySettings, on_progress: ProgressCallback | None = None
) -> NightlyRun:
    """Run tonight's optimisation on database ``db`` and save it; see the module docstring."""
    engine = open_database(db)
    source = f"database {shown(database_url(db))}"
    with run_lock(engine), stop_on_signals():
        instance = load_state(engine, source)
        referrals = sum(c.status in NEEDS_A_PLACE for c in instance.children)
        digest = state_sha256(instance)
        run_id = begin_run(engine, settings.solve, digest, referrals)
        report = None
        try:
            start = warm_start_plan(engine) if settings.warm_start else {}
            result = solve(
                instance,
                settings.solve,
                instance_sha256=digest,
                on_progress=on_progress,
                warm_start=start,
            )
            if settings.explain_time > 0 and not result.solver.interrupted:
                result = explain(
                    instance, result, settings.solve, ExplainSettings(settings.explain_time)
                )
            if stop_requested():
                result = replace(result, solver=replace(result.solver, interrupted=True))
            if settings.report_dir is not None:
                title = f"Placement plan, run {run_id}: {instance.meta.name}"
                shown_instance, shown_result = instance, result
                if settings.redact:
                    mapping = redaction_map(instance, database_secret(engine, REDACTION_SECRET))
                    shown_instance = redact_instance(instance, mapping)
                    shown_result = redact_result(result, mapping)
                report = write_report(
                    settings.report_dir, f"run-{run_id}", shown_instance, shown_result, title
                )
            save_run(engine, run_id, result, None if report is None else str(report.resolve()))
        except BaseException as error:
            if report is not None:
                shutil.rmtree(report, ignore_errors=True)
            fail_run(engine, run_id, f"{type(error).__name__}: {error}")
            raise
    engine.dispose()
    return NightlyRun(run_id, result, report)
