"""What every command shares: the consoles, error handling (exit codes) and the plan summary.

Exit codes: 0 ok, 2 bad input or a refused request (a message naming file, record and field, or
the run and child; nothing written), 1 internal error.
"""

from __future__ import annotations

import functools
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from matcher.exceptions import MatcherError
from matcher.plans import Result

F = TypeVar("F", bound=Callable[..., Any])
MODES = {"auto": True, "reproducible": True, "fast": False}
"""``--mode`` values and the ``SolveSettings.reproducible`` each stands for (``auto`` chose by
model size until reproducible runs repeated on large models too; kept for existing scripts)."""


def search_options(command: F) -> F:
    """``--workers``, ``--seed`` and ``--mode``, shared by the commands that search."""
    command = click.option(
        "--mode",
        type=click.Choice(list(MODES)),
        default="auto",
        show_default=True,
        help="reproducible: same seed and workers, same plans; fast: the wall-clock "
        "portfolio; auto: reproducible.",
    )(command)
    command = click.option(
        "--seed", default=0, show_default=True, type=click.IntRange(0, 2**31 - 1)
    )(command)
    return click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))(
        command
    )


out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def reports_errors(command: F) -> F:
    """Turn deliberate errors into exit code 2 and anything else into exit code 1, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MatcherError as error:
            err.print(f"[red]error:[/red] {error}", markup=True, soft_wrap=True)
            sys.exit(2)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - the last line of defence for users
            err.print(f"internal error ({type(error).__name__}): {error}", markup=False)
            err.print("Please report this with the command you ran.", markup=False)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def print_summary(result: Result, *, all_rows: bool, quiet: bool) -> None:
    """Status, gap, cost, moves, unplaced, then a table of assignments per plan."""
    s = result.solver
    gap = "n/a" if s.gap is None else f"{100 * s.gap:.3f}%"
    out.print(
        f"{result.instance}: {s.status}, objective {s.objective}, bound {s.best_bound}, "
        f"gap {gap}, {s.wall_time_s:.2f} s ({s.mode}, {s.workers} workers, seed {s.seed})"
        + (", stopped by a signal: best found so far" if s.interrupted else ""),
        markup=False,
    )
    if not result.plans:
        out.print(
            "No plan: "
            + (
                "the hard constraints cannot all hold."
                if s.status == "INFEASIBLE"
                else "no plan was found within the time limit."
            ),
            markup=False,
        )
    for plan in result.plans:
        actions = Counter(a.action for a in plan.assignments)
        out.print(
            f"plan {plan.rank}: objective £{plan.objective:,.2f}, "
            f"weekly cost £{plan.weekly_cost:,} "
            f"(marginal £{plan.marginal_weekly_cost:,}), stays {actions['stay']}, "
            f"moves {actions['move']}, new {actions['new']}, home {actions['return_home']}, "
            f"unplaced {actions['unplaced']}",
            markup=False,
        )
        if quiet:
            continue
        rows = [a for a in plan.assignments if all_rows or a.action != "stay"]
        table = Table(
            title=f"plan {plan.rank}: {len(rows)} of {len(plan.assignments)} children"
            + ("" if all_rows else " (stays hidden; --all-rows shows them)")
        )
        for column in ("child", "action", "placement", "outreach", "£/week", "km"):
            table.add_column(column, justify="right" if column in ("£/week", "km") else "left")
        for a in rows:
            table.add_row(
                a.child,
                a.action,
                a.placement or "-",
                a.outreach or "-",
                f"{a.weekly_cost:,}",
                f"{a.distance_km:.1f}",
            )
        out.print(table)
