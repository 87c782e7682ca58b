"""The command line: a thin front end over the library (``placement-matcher`` or ``python cli.py``).

Exit codes: 0 ok, 2 bad input (a message naming file, record and field; nothing written),
1 internal error.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich.progress import Progress
from rich.table import Table

from matcher.bench.report import compare, frame, write_results
from matcher.bench.runner import SOLVERS, run_suite
from matcher.bench.suites import GAP_FOLDER, SUITES, suite_cases
from matcher.cli_nightly import DB_COMMANDS
from matcher.cli_stress import stress
from matcher.console import MODES, err, out, print_summary, reports_errors, search_options
from matcher.eligibility import candidates
from matcher.exceptions import InvalidPlanError
from matcher.explain import ExplainSettings, to_text
from matcher.explain import explain as explain_result
from matcher.generate import SHAPES, generate
from matcher.instance import Instance
from matcher.io import (
    instance_schema,
    instance_sha256,
    read_instance,
    write_instance,
    write_json,
    write_text_atomic,
)
from matcher.plans import Result, result_from_dict
from matcher.solve import SolveSettings, solve
from matcher.stopping import stop_on_signals, stop_requested
from matcher.verify import check_result


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="placement-matcher")
def main() -> None:
    """Ranked, explained placement plans for children's social care."""


@main.command("solve")
@click.argument("instance", type=click.Path(exists=True))
@click.option(
    "--out", "out_path", type=click.Path(dir_okay=False), help="Write the plan JSON here."
)
@click.option("--csv-out", type=click.Path(file_okay=False), help="Write plans as CSV here.")
@click.option("--plans", default=3, show_default=True, type=click.IntRange(1, 50))
@click.option("--min-difference", default=1, show_default=True, type=click.IntRange(1))
@click.option(
    "--time-limit",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Seconds for the whole search, all plans included.",
)
@search_options
@click.option("--all-rows", is_flag=True, help="List every child, not only those who change.")
@click.option("--quiet", is_flag=True, help="No progress or tables; just the one-line summary.")
@click.option(
    "--explain/--no-explain",
    default=True,
    show_default=True,
    help="Explain the plans (binding limits, each child's alternatives, conflicts) in the JSON "
    "and as text.",
)
@click.option(
    "--explain-time",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Seconds for explanations, on top of --time-limit.",
)
@reports_errors
def solve_command(
    instance: str,
    out_path: str | None,
    csv_out: str | None,
    plans: int,
    min_difference: int,
    time_limit: float,
    workers: int,
    seed: int,
    mode: str,
    all_rows: bool,
    quiet: bool,
    explain: bool,
    explain_time: float,
) -> None:
    """Solve INSTANCE (a JSON file or a CSV bundle folder) and print the ranked plans."""
    with stop_on_signals():  # a signal stops the search and keeps the best plan so far
        data = read_instance(instance)
        settings = SolveSettings(
            time_limit=time_limit,
            workers=workers,
            seed=seed,
            plans=plans,
            min_difference=min_difference,
            reproducible=MODES[mode],
        )
        status = err.status("building the model and searching")
        if not quiet:
            status.start()

        def progress(event: dict[str, Any]) -> None:
            bound = "not known yet" if event["bound"] is None else f"£{event['bound']:,.2f}"
            status.update(
                f"plan {event['plan']}: objective £{event['objective']:,.2f}, "
                f"bound {bound}, {event['wall_time_s']:.1f} s"
            )

        try:
            result = solve(
                data,
                settings,
                instance_sha256=instance_sha256(instance),
                on_progress=None if quiet else progress,
            )
        finally:
            status.stop()
        if result.solver.interrupted:
            err.print("stopped by a signal: these are the best plans found so far", markup=False)
        elif explain:
            result = _explained(data, result, settings, explain_time, quiet)
        if out_path:
            write_json(out_path, result.to_dict())
        if csv_out:
            write_plan_csv(result, Path(csv_out))
        print_summary(result, all_rows=all_rows, quiet=quiet)
        if explain and not quiet:
            out.print("")
            out.print(to_text(result, every_child=all_rows), markup=False)


def _explained(
    data: Instance, result: Result, settings: SolveSettings, seconds: float, quiet: bool
) -> Result:
    """``result`` with explanations, showing a status line while they are computed."""
    status = err.status("explaining the plans")
    if not quiet:
        status.start()
    try:
        explained = explain_result(data, result, settings, ExplainSettings(time_limit=seconds))
    finally:
        status.stop()
    if stop_requested():  # explanations were cut short
        return replace(explained, solver=replace(explained.solver, interrupted=True))
    return explained


def write_plan_csv(result: Result, folder: Path) -> None:
    """``assignments.csv`` (one row per plan and child) and ``plans.csv`` (terms per plan)."""
    assignments = pd.DataFrame(
        [{"rank": plan.rank, **a.__dict__} for plan in result.plans for a in plan.assignments],
        columns=["rank", "child", "placement", "outreach", "action", "weekly_cost", "distance_km"],
    )
    summary = pd.DataFrame(
        [
            {
                "rank": p.rank,
                "objective": p.objective,
                "weekly_cost": p.weekly_cost,
                "marginal_weekly_cost": p.marginal_weekly_cost,
                **p.terms,
            }
            for p in result.plans
        ]
    )
    write_text_atomic(folder / "assignments.csv", assignments.to_csv(index=False))
    write_text_atomic(folder / "plans.csv", summary.to_csv(index=False))


@main.command("validate")
@click.argument("instance", type=click.Path(exists=True))
@reports_errors
def validate_command(instance: str) -> None:
    """Check INSTANCE against the contract; exit 2 with every problem found."""
    out.print(f"{instance}: valid ({_describe(read_instance(instance))})", markup=False)


def _describe(instance: Instance) -> str:
    """'60 children, 35 placements, 2 outreach teams': what an instance holds, ids only."""
    return (
        f"{len(instance.children)} children, {len(instance.placements)} placements, "
        f"{len(instance.outreach_teams)} outreach teams"
    )


def _read_plan(plan: str) -> dict[str, Any]:
    """A plan file's JSON, or InvalidPlanError naming the file and what is wrong."""
    try:
        document = json.loads(Path(plan).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidPlanError(f"{plan}: not a readable plan JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("plans"), list):
        raise InvalidPlanError(f"{plan}: field plans: missing or not a list")
    if not isinstance(document.get("solver"), dict):
        raise InvalidPlanError(f"{plan}: field solver: missing or not an object")
    return document


@main.command("check")
@click.argument("instance", type=click.Path(exists=True))
@click.argument("plan", type=click.Path(exists=True, dir_okay=False))
@reports_errors
def check_command(instance: str, plan: str) -> None:
    """Re-check every plan in PLAN against INSTANCE with the independent checker."""
    data = read_instance(instance)
    document = _read_plan(plan)
    violations = check_result(data, document)
    for violation in violations:
        out.print(str(violation), markup=False)
    if violations:
        out.print(f"{plan}: {len(violations)} violations", markup=False)
        sys.exit(3)
    out.print(f"{plan}: {len(document['plans'])} plans pass every check", markup=False)


@main.command("explain")
@click.argument("instance", type=click.Path(exists=True))
@click.argument("plan", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="Write the plan JSON with explanations here.",
)
@click.option("--explain-time", default=60.0, show_default=True, type=click.FloatRange(0.01))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**31 - 1))
@click.option("--all-rows", is_flag=True, help="Explain every child, stays included.")
@reports_errors
def explain_command(
    instance: str,
    plan: str,
    out_path: str | None,
    explain_time: float,
    workers: int,
    seed: int,
    all_rows: bool,
) -> None:
    """Explain the plans in PLAN (a plan file for INSTANCE that passes every check)."""
    data = read_instance(instance)
    document = _read_plan(plan)
    violations = check_result(data, document)
    if violations:
        raise InvalidPlanError(
            f"{plan}: does not pass the checker ({violations[0]}); run `check` for the full list"
        )
    result = result_from_dict(data, candidates(data), document)
    settings = SolveSettings(workers=workers, seed=seed)
    result = _explained(data, result, settings, explain_time, quiet=False)
    if out_path:
        write_json(out_path, result.to_dict())
    out.print(to_text(result, every_child=all_rows), markup=False)


@main.command("bench")
@click.option("--suite", type=click.Choice(SUITES), default="smoke", show_default=True)
@click.option(
    "--solvers",
    default=",".join(SOLVERS),
    show_default=True,
    help="Comma-separated: " + ", ".join(SOLVERS) + ".",
)
@click.option("--time-limit", default=10.0, show_default=True, type=click.FloatRange(0.1))
@click.option("--instances", default=None, help="Comma-separated instance names: run only these.")
@click.option(
    "--out",
    "out_path",
    default="benchmarks/results/results.csv",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Results CSV; the plot (.png) and summary (.md) are written beside it.",
)
@click.option(
    "--compare",
    "baseline",
    type=click.Path(exists=True, dir_okay=False),
    help="A results CSV to compare with; exit 3 if any run got worse beyond noise.",
)
@click.option(
    "--gap-folder",
    type=click.Path(exists=True, file_okay=False),
    default=str(GAP_FOLDER),
    show_default=True,
    help="Where the public GAP files are.",
)
@reports_errors
def bench_command(
    suite: str,
    solvers: str,
    time_limit: float,
    instances: str | None,
    out_path: str,
    baseline: str | None,
    gap_folder: str,
) -> None:
    """Run a benchmark suite with each solver; write CSV, plot and summary."""
    chosen = [name.strip() for name in solvers.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SOLVERS))
    if unknown:
        raise click.BadParameter(f"unknown solvers {unknown}", param_hint="--solvers")
    cases = suite_cases(suite, Path(gap_folder))
    if instances:
        wanted = {name.strip() for name in instances.split(",")}
        cases = [case for case in cases if case.name in wanted]
        if not cases:
            raise click.BadParameter("no such instance in the suite", param_hint="--instances")
    table = Table(title=f"bench {suite}: {len(cases)} instances x {len(chosen)} solvers")
    for column in ("instance", "solver", "status", "objective", "gap", "to best", "wall s"):
        table.add_column(column)
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("benchmarking", total=len(cases) * len(chosen))

        def on_row(row: dict[str, Any]) -> None:
            progress.advance(task)
            table.add_row(
                str(row["instance"]),
                str(row["solver"]),
                str(row.get("status")),
                _figure(row.get("objective")),
                _figure(row.get("gap")),
                _figure(row.get("gap_to_best_known")),
                _figure(row.get("wall_s")),
            )

        rows = run_suite(cases, chosen, time_limit, Path(gap_folder), on_row=on_row)
    out.print(table)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    for path in write_results(rows, Path(out_path)):
        out.print(f"wrote {path}", markup=False)
    if baseline:
        regressions = compare(frame(rows), pd.read_csv(baseline))
        for regression in regressions:
            out.print(f"worse: {regression}", markup=False)
        if regressions:
            sys.exit(3)
        out.print(f"no run worse than {baseline} beyond noise", markup=False)


def _figure(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:g}"


@main.command("generate")
@click.option("--shape", type=click.Choice(sorted(SHAPES)), default="county", show_default=True)
@click.option("--children", default=60, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**31 - 1))
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(),
    help="A .json file, or a folder for a CSV bundle.",
)
@reports_errors
def generate_command(shape: str, children: int, seed: int, out_path: str) -> None:
    """Generate a synthetic instance calibrated on public figures."""
    instance = generate(shape, children, seed)
    write_instance(instance, out_path)
    out.print(f"{out_path}: {_describe(instance)} ({shape}, seed {seed})", markup=False)


@main.command("convert")
@click.argument("source", type=click.Path(exists=True))
@click.argument("target", type=click.Path())
@reports_errors
def convert_command(source: str, target: str) -> None:
    """Convert between a JSON instance and a CSV bundle (TARGET ending in .json, or a folder)."""
    write_instance(read_instance(source), target)
    out.print(f"{source} -> {target}", markup=False)


@main.command("schema")
@click.option("--out", "out_path", type=click.Path(dir_okay=False))
@reports_errors
def schema_command(out_path: str | None) -> None:
    """Print (or write) the JSON Schema of an instance."""
    if out_path:
        write_json(out_path, instance_schema())
    else:
        click.echo(json.dumps(instance_schema(), indent=1))


for _command in DB_COMMANDS:
    main.add_command(_command)
main.add_command(stress)
