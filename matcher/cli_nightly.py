"""The database commands: import, nightly, history, show, accept, reject.

``--db`` takes a SQLite file path (the default, created with owner-only permissions) or a
``postgresql://`` URL; the environment variable PLACEMENT_MATCHER_DB sets it for every command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from matcher.console import MODES, err, out, print_summary, reports_errors, search_options
from matcher.explain import to_text
from matcher.io import read_instance, write_json
from matcher.nightly import NightlySettings, nightly
from matcher.privacy import load_key, pseudonymise, replace_ids, reveal_map
from matcher.solve import SolveSettings
from matcher.store import (
    DEFAULT_DB,
    decide,
    history,
    import_instance,
    open_database,
    run_lock,
    run_result,
)

F = TypeVar("F", bound=Callable[..., Any])


def db_option(command: F) -> F:
    return click.option(
        "--db",
        default=DEFAULT_DB,
        show_default=True,
        envvar="PLACEMENT_MATCHER_DB",
        help="SQLite file or postgresql:// URL (env PLACEMENT_MATCHER_DB).",
    )(command)


@click.command("import")
@click.argument("source", type=click.Path(exists=True))
@db_option
@click.option(
    "--pseudonymise",
    "key_file",
    type=click.Path(dir_okay=False),
    help="Replace child and sibling-group ids with keyed hashes (HMAC) under the key in this "
    "file, created if missing; keep it away from the database.",
)
@reports_errors
def import_command(source: str, db: str, key_file: str | None) -> None:
    """Make SOURCE (a JSON instance or CSV bundle) the database's current state.

    One transaction: a bad record refuses the whole import and changes nothing. Importing the
    same state again changes nothing (decisions taken since are kept)."""
    instance = read_instance(source)
    if key_file is not None:
        instance = pseudonymise(instance, load_key(key_file, create=True))
    engine = open_database(db)
    with run_lock(engine):
        changed = import_instance(engine, instance)
    engine.dispose()
    what = "imported" if changed else "unchanged (already the current state)"
    out.print(
        f"{source}: {what}: {len(instance.children)} children, "
        f"{len(instance.placements)} placements, {len(instance.outreach_teams)} outreach teams",
        markup=False,
    )


@click.command("nightly")
@db_option
@click.option("--time-limit", default=60.0, show_default=True, type=click.FloatRange(0.01))
@click.option("--explain-time", default=30.0, show_default=True, type=click.FloatRange(0))
@click.option("--plans", default=3, show_default=True, type=click.IntRange(1, 50))
@search_options
@click.option(
    "--report",
    "report_dir",
    default="reports",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the run's report (run-<id>/index.html, CSV, PNG).",
)
@click.option("--no-report", is_flag=True, help="Skip the report.")
@click.option("--redact", is_flag=True, help="Stable hashes in place of every id in the report.")
@click.option(
    "--warm-start/--cold-start",
    default=True,
    show_default=True,
    help="Start from last night's plan (the one accepted from, else the best).",
)
@click.option("--quiet", is_flag=True, help="Just the one-line summary.")
@reports_errors
def nightly_command(
    db: str,
    time_limit: float,
    explain_time: float,
    plans: int,
    workers: int,
    seed: int,
    mode: str,
    report_dir: str,
    no_report: bool,
    warm_start: bool,
    redact: bool,
    quiet: bool,
) -> None:
    """Tonight's run: solve the database's state, explain, report and save the ranked plans."""
    settings = NightlySettings(
        solve=SolveSettings(
            time_limit=time_limit,
            workers=workers,
            seed=seed,
            plans=plans,
            reproducible=MODES[mode],
        ),
        explain_time=explain_time,
        report_dir=None if no_report else Path(report_dir),
        warm_start=warm_start,
        redact=redact,
    )
    status = err.status("nightly run: loading, solving, explaining, reporting")
    if not quiet:
        status.start()
    try:
        run = nightly(db, settings)
    finally:
        status.stop()
    out.print(f"run {run.run_id}: saved", markup=False)
    print_summary(run.result, all_rows=False, quiet=True)
    if run.report is not None:
        out.print(f"report: {run.report / 'index.html'}", markup=False)


@click.command("history")
@db_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@reports_errors
def history_command(db: str, limit: int) -> None:
    """The latest runs, newest first."""
    engine = open_database(db)
    rows = history(engine, limit)
    engine.dispose()
    if not rows:
        out.print("no runs yet", markup=False)
        return
    table = Table(title=f"latest {len(rows)} runs")
    for column in ("run", "started", "status", "solver", "objective", "gap", "s", "warm"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["started_at"].isoformat(sep=" "),
            row["status"],
            row["solver_status"] or "-",
            "-" if row["objective"] is None else f"£{row['objective']:,.2f}",
            "-" if row["gap"] is None else f"{100 * row['gap']:.2f}%",
            "-" if row["wall_time_s"] is None else f"{row['wall_time_s']:.1f}",
            "yes" if row["warm_start"] else "no",
        )
    out.print(table)


@click.command("show")
@click.argument("run_id", metavar="RUN", type=int)
@db_option
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write the plan JSON.")
@click.option("--all-rows", is_flag=True, help="List every child, stays included.")
@click.option(
    "--reveal",
    "key_file",
    type=click.Path(exists=True, dir_okay=False),
    help="With --ids: write real child ids into the --out file (the import's key file).",
)
@click.option(
    "--ids",
    "ids_source",
    type=click.Path(exists=True),
    help="The export with real ids that was imported with --pseudonymise.",
)
@reports_errors
def show_command(
    run_id: int,
    db: str,
    out_path: str | None,
    all_rows: bool,
    key_file: str | None,
    ids_source: str | None,
) -> None:
    """A run's ranked plans and their explanations."""
    if (key_file is None) != (ids_source is None) or (key_file and not out_path):
        raise click.UsageError("--reveal and --ids go together, with --out")
    engine = open_database(db)
    result = run_result(engine, run_id)
    engine.dispose()
    if out_path:
        document = result.to_dict()
        if key_file is not None and ids_source is not None:
            real = reveal_map(read_instance(ids_source), load_key(key_file, create=False))
            document = replace_ids(document, real)
        write_json(out_path, document)
    print_summary(result, all_rows=all_rows, quiet=False)
    if result.plans and result.plans[0].explanations is not None:
        out.print("")
        out.print(to_text(result, every_child=all_rows), markup=False)


def _decision_command(decision: str) -> click.Command:
    verb = "accept" if decision == "accepted" else "reject"
    effect = (
        "Accepted moves become the children's current placements (status settled); a return "
        "home takes the child off the list."
        if decision == "accepted"
        else "Rejected proposals are ruled out on later nights."
    )

    @click.command(verb, help=f"{verb.capitalize()} plan K's proposals in RUN. {effect}")
    @click.argument("run_id", metavar="RUN", type=int)
    @click.option("--plan", "rank", required=True, type=click.IntRange(1), help="Plan rank K.")
    @click.option(
        "--children",
        multiple=True,
        help="Child ids (repeat or comma-separate); default: every proposal in the plan.",
    )
    @db_option
    @reports_errors
    def command(run_id: int, rank: int, children: tuple[str, ...], db: str) -> None:
        chosen = [c.strip() for group in children for c in group.split(",") if c.strip()]
        engine = open_database(db)
        with run_lock(engine):
            rows = decide(engine, run_id, rank, chosen or None, decision)
        engine.dispose()
        for row in rows:
            out.print(f"{verb}ed: {row.child} {row.action} {row.placement}", markup=False)
        out.print(f"run {run_id} plan {rank}: {len(rows)} proposals {decision}", markup=False)

    return command


DB_COMMANDS = (
    import_command,
    nightly_command,
    history_command,
    show_command,
    _decision_command("accepted"),
    _decision_command("rejected"),
)
