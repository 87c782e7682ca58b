"""``stress block`` and ``stress provision``: commissioners' questions under uncertain demand."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from matcher.console import err, out, reports_errors
from matcher.exceptions import InvalidInstanceError, Problem
from matcher.io import read_instance
from matcher.store import load_state, mean_referrals, open_database, shown
from matcher.store.db import database_url
from matcher.stress.demand import DemandModel
from matcher.stress.options import BlockContract, NewProvision, read_provision
from matcher.stress.runner import StressJob, run_stress
from matcher.stress.summary import (
    block_advice,
    block_plot,
    option_summary,
    provision_effect,
    provision_plot,
)

F = TypeVar("F", bound=Callable[..., Any])


def scenario_options(command: F) -> F:
    """The options every stress question shares: the instance, demand, and how to run."""
    for option in reversed(
        [
            click.option(
                "--instance",
                "instance_path",
                type=click.Path(exists=True),
                help="The instance to draw scenarios from (or --db).",
            ),
            click.option(
                "--db",
                help="Draw scenarios from a database's state, at the mean referrals a night of "
                "its finished runs (unless --arrivals).",
            ),
            click.option("--scenarios", default=100, show_default=True, type=click.IntRange(1)),
            click.option(
                "--arrivals",
                type=click.FloatRange(0),
                help="Mean referrals per scenario (Poisson); default: the instance's new and "
                "ending children, or with --db the history's mean.",
            ),
            click.option(
                "--spot-unavailable",
                default=0.0,
                show_default=True,
                type=click.FloatRange(0, 1),
                help="Probability that a spot place takes no new child in a scenario.",
            ),
            click.option("--seed", default=0, show_default=True, type=click.IntRange(0)),
            click.option(
                "--time-limit",
                default=10.0,
                show_default=True,
                type=click.FloatRange(0.01),
                help="Seconds per solve (deterministic time).",
            ),
            click.option(
                "--processes",
                type=click.IntRange(1),
                help="Local worker processes (default: one per core).",
            ),
            click.option("--dask", "dask_address", help="Run on this Dask scheduler instead."),
            click.option(
                "--out",
                "out_dir",
                default="stress-results",
                show_default=True,
                type=click.Path(file_okay=False),
            ),
            click.option("--quiet", is_flag=True, help="No progress bar."),
        ]
    ):
        command = option(command)
    return command


@click.group("stress")
def stress() -> None:
    """Cost and risk of block contracts and new provision over demand scenarios."""


def _sizes(text: str) -> list[int]:
    """``0:12`` (inclusive), ``0:12:2`` or ``0,4,8``."""
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            start, stop, step = parts[0], parts[1], parts[2] if len(parts) == 3 else 1
            sizes = list(range(start, stop + 1, step))
        else:
            sizes = [int(p) for p in text.split(",")]
    except (ValueError, IndexError):
        sizes = []
    if not sizes or min(sizes) < 0:
        raise InvalidInstanceError(
            [Problem("", "", "--sizes", f"{text!r}: give START:STOP[:STEP] or a list, >= 0")]
        )
    return sizes


def _run(job: StressJob, params: dict[str, Any]) -> pd.DataFrame:
    """Run the job with a progress bar over scenarios (unless --quiet)."""
    total = len(job.options) * params["scenarios"]
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=params["quiet"]) as progress:
        bar = progress.add_task("solving scenarios", total=total)
        return run_stress(
            job,
            params["scenarios"],
            processes=params["processes"],
            dask_address=params["dask_address"],
            on_done=lambda done, _: progress.update(bar, completed=done),
        )


def _write(out_dir: str, files: dict[str, Callable[[Path], None]]) -> None:
    """Write every output file into a temporary folder, then move each into ``out_dir`` with an
    atomic rename: a killed run leaves the old files or the new ones, never half a file."""
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".stress.", dir=target))
    try:
        for name, write in files.items():
            write(work / name)
        for name in files:
            os.replace(work / name, target / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _json_writer(document: dict[str, Any]) -> Callable[[Path], None]:
    return lambda path: path.write_text(json.dumps(document, indent=1, default=str) + "\n")


def _demand(params: dict[str, Any]) -> tuple[DemandModel, str]:
    """The demand model and the name of its source (the instance file, or the database)."""
    if (params["instance_path"] is None) == (params["db"] is None):
        raise click.UsageError("give one of --instance and --db")
    arrivals = params["arrivals"]
    if params["db"] is not None:
        source = f"database {shown(database_url(params['db']))}"
        engine = open_database(params["db"])
        base = load_state(engine, source)
        arrivals = mean_referrals(engine) if arrivals is None else arrivals
        engine.dispose()
    else:
        source = params["instance_path"]
        base = read_instance(source)
    try:
        model = DemandModel.from_instance(
            base, arrivals, params["spot_unavailable"], params["seed"]
        )
    except ValueError as error:
        raise InvalidInstanceError([Problem(source, "", "", str(error))]) from None
    return model, source


@stress.command("block")
@scenario_options
@click.option("--provider", required=True, help="The provider offering the block.")
@click.option("--sizes", "sizes_text", default="0:12", show_default=True, help="Block sizes.")
@click.option("--block-price", required=True, type=click.IntRange(0), help="£ per bed per week.")
@click.option("--p90-limit", type=click.FloatRange(0), help="Weekly P90 cost not to exceed (£).")
@reports_errors
def block_command(provider: str, sizes_text: str, block_price: int, p90_limit: float | None,
                  **params: Any) -> None:  # fmt: skip
    """For each block size: cost bands, occupancy, voids, unplaced and out-of-area children."""
    sizes = _sizes(sizes_text)
    demand, source = _demand(params)
    BlockContract.check(demand.base, provider, sizes, source)
    options = tuple(BlockContract(provider, size, block_price) for size in sizes)
    rows = _run(StressJob(demand, options, params["time_limit"]), params)
    summary = option_summary(rows)
    advice = block_advice(summary, p90_limit)
    document = {
        "question": "block",
        "provider": provider,
        "block_price": block_price,
        "scenarios": params["scenarios"],
        "arrivals": demand.arrivals,
        "seed": params["seed"],
        "advice": advice,
        "sizes": summary.to_dict(orient="records"),
    }
    title = f"Block with {provider} at £{block_price}/bed/week"
    _write(
        params["out_dir"],
        {
            "scenarios.csv": lambda p: rows.to_csv(p, index=False),
            "summary.csv": lambda p: summary.to_csv(p, index=False),
            "summary.json": _json_writer(document),
            "block.png": lambda p: block_plot(summary, p, title),
        },
    )
    _print_block(summary, advice, params["out_dir"])


def _print_block(summary: pd.DataFrame, advice: dict[str, Any], out_dir: str) -> None:
    for row in summary.itertuples():
        occupancy = "-" if pd.isna(row.occupancy_mean) else f"{100 * row.occupancy_mean:.0f}%"
        out.print(
            f"size {int(row.size):>3}: weekly £{row.weekly_cost_mean:,.0f} "
            f"(P10 £{row.weekly_cost_p10:,.0f}, P90 £{row.weekly_cost_p90:,.0f}), "
            f"annual £{row.annual_cost_mean:,.0f}, occupancy {occupancy}, "
            f"voids {row.voids_mean:.1f}, unplaced {row.unplaced_mean:.2f}, "
            f"out of area {row.out_of_area_mean:.1f}",
            markup=False,
        )
    out.print(
        f"lowest expected cost: {advice['best_size_by_mean']} beds "
        f"(£{advice['best_mean_weekly_cost']:,.0f} a week)",
        markup=False,
    )
    if advice["p90_limit"] is not None:
        size = advice["smallest_size_within_p90_limit"]
        out.print(
            f"smallest size with P90 <= £{advice['p90_limit']:,.0f}: "
            + ("none" if size is None else str(size)),
            markup=False,
        )
    out.print(f"written: {out_dir}/scenarios.csv, summary.csv, summary.json, block.png")


@stress.command("provision")
@scenario_options
@click.option("--add", "add_path", required=True, type=click.Path(exists=True, dir_okay=False))
@reports_errors
def provision_command(add_path: str, **params: Any) -> None:
    """Avoided cost, and change in out-of-area and unplaced children, from new places."""
    demand, _ = _demand(params)
    added = read_provision(add_path, demand.base)
    options = (NewProvision(), added)
    rows = _run(StressJob(demand, options, params["time_limit"]), params)
    summary = option_summary(rows)
    effect = provision_effect(rows)
    document = {
        "question": "provision",
        "added": {
            "placements": [p.id for p in added.placements],
            "outreach_teams": [t.id for t in added.outreach_teams],
        },
        "scenarios": params["scenarios"],
        "arrivals": demand.arrivals,
        "seed": params["seed"],
        "effect": effect,
        "options": summary.to_dict(orient="records"),
    }
    _write(
        params["out_dir"],
        {
            "scenarios.csv": lambda p: rows.to_csv(p, index=False),
            "summary.csv": lambda p: summary.to_csv(p, index=False),
            "summary.json": _json_writer(document),
            "provision.png": lambda p: provision_plot(rows, p),
        },
    )
    out.print(
        f"avoided cost: £{effect['avoided_weekly_cost_mean']:,.0f} a week on average "
        f"(P10 £{effect['avoided_weekly_cost_p10']:,.0f}, "
        f"P90 £{effect['avoided_weekly_cost_p90']:,.0f}), "
        f"£{effect['avoided_annual_cost_mean']:,.0f} a year; out of area "
        f"{effect['out_of_area_change_mean']:+.2f}, unplaced {effect['unplaced_change_mean']:+.2f} "
        f"children per scenario",
        markup=False,
    )
    out.print(
        f"written: {params['out_dir']}/scenarios.csv, summary.csv, summary.json, provision.png"
    )
