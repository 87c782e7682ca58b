"""Benchmark results: the CSV, a plot of time and gap against size, a Markdown summary, and the
regression check against a baseline CSV."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from matcher.bench.runner import COLUMNS
from matcher.drawing import new_figure, save_figure
from matcher.io import write_text_atomic

QUALITY_TOLERANCE = 1e-4
"""Relative objective change counted as noise (objectives are exact to the penny)."""

TIME_TOLERANCE = 0.5
"""Relative wall-time increase counted as noise, beyond ``TIME_FLOOR_S``: one run per cell on a
shared machine varies by tens of percent. Where both runs timed the machine (``machine_s``), the
baseline's wall time is first scaled by how much slower the machine was."""

TIME_FLOOR_S = 1.0


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_results(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """``out`` (CSV), and beside it ``out``.png (plot) and ``out``.md (summary)."""
    table = frame(rows)
    write_text_atomic(out, table.to_csv(index=False))
    written = [out, out.with_suffix(".png"), out.with_suffix(".md")]
    plot(table, written[1])
    write_text_atomic(written[2], summary(table))
    return written


def plot(table: pd.DataFrame, path: Path) -> None:
    """Wall time and gap (to the bound, or to the best-known value for GAP) against size."""
    figure = new_figure(11, 4.2)
    time_axis, gap_axis = figure.subplots(1, 2)
    data = table.copy()
    for column in ("wall_s", "gap", "gap_to_best_known"):  # all-None columns are not numeric
        data[column] = pd.to_numeric(data[column], errors="coerce")
    data["quality_gap"] = data["gap_to_best_known"].fillna(data["gap"])
    for solver, rows in data.groupby("solver", sort=True):
        by_size = rows.groupby("children").median(numeric_only=True).sort_index()
        time_axis.plot(by_size.index, by_size["wall_s"], marker="o", label=solver)
        gap_axis.plot(by_size.index, 100 * by_size["quality_gap"], marker="o", label=solver)
    time_axis.set(xlabel="children (jobs)", ylabel="wall time, s (median)", xscale="log")
    gap_axis.set(xlabel="children (jobs)", ylabel="gap, % (median)", xscale="log")
    time_axis.legend(fontsize=8)
    staging = path.with_name(f".{path.name}.tmp.png")
    save_figure(figure, staging)
    staging.replace(path)


def summary(table: pd.DataFrame) -> str:
    """Per solver: runs, proven optima, median gaps and times; per GAP type for GAP runs."""
    lines = ["# Benchmark summary", ""]
    lines.append(
        "| solver | runs | optimal | median gap | median gap to best known | "
        "median wall s | median peak MiB |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for solver, rows in table.groupby("solver", sort=True):
        lines.append(
            f"| {solver} | {len(rows)} | {(rows['status'] == 'OPTIMAL').sum()} | "
            f"{_percent(rows['gap'].median())} | {_percent(rows['gap_to_best_known'].median())} | "
            f"{rows['wall_s'].median():.2f} | {rows['peak_rss_mib'].median():.0f} |"
        )
    speed = table["machine_s"].dropna() if "machine_s" in table else pd.Series(dtype=float)
    if not speed.empty:  # the same workload's seconds: how fast the machine ran, and how steadily
        lines += [
            "",
            f"Machine: the reference workload took {speed.median():.2f} s (median; "
            f"{speed.min():.2f}-{speed.max():.2f} s over the runs).",
        ]
    gap_rows = table[table["best_known"].notna()].copy()
    if not gap_rows.empty:
        gap_rows["type"] = gap_rows["instance"].map(_gap_type)
        lines += [
            "",
            "GAP: median gap to best known by type, a run that assigned not every job counting "
            "as the worst (instances at best known; runs that assigned every job)",
            "",
        ]
        types = sorted(gap_rows["type"].unique())
        lines.append("| solver | " + " | ".join(types) + " |")
        lines.append("|---|" + "---|" * len(types))
        for solver, rows in gap_rows.groupby("solver", sort=True):
            cells = []
            for kind in types:
                gaps = rows.loc[rows["type"] == kind, "gap_to_best_known"]
                hits = (gaps.fillna(1) <= 0).sum()
                median = _percent(gaps.fillna(math.inf).median(), "incomplete")
                cells.append(f"{median} ({hits}/{len(gaps)}; {gaps.notna().sum()}/{len(gaps)})")
            lines.append(f"| {solver} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _gap_type(name: str) -> str:
    return "gap1-12" if name.startswith("gap") else name[0].upper()


def _percent(value: float, unbounded: str = "n/a") -> str:
    if pd.isna(value):
        return "n/a"
    return unbounded if math.isinf(value) else f"{100 * value:.2f}%"


@dataclass(frozen=True)
class Regression:
    """A run worse than its baseline beyond noise."""

    instance: str
    solver: str
    what: str

    def __str__(self) -> str:
        return f"{self.instance} / {self.solver}: {self.what}"


def compare(table: pd.DataFrame, baseline: pd.DataFrame) -> list[Regression]:
    """Runs whose quality (objective, or a status lost) or wall time got worse than in
    ``baseline`` beyond ``QUALITY_TOLERANCE`` / ``TIME_TOLERANCE``."""
    merged = table.merge(baseline, on=["instance", "solver"], suffixes=("", "_base"))
    found = []
    for row in merged.itertuples():
        if row.status_base == "OPTIMAL" and row.status != "OPTIMAL":
            found.append(Regression(row.instance, row.solver, f"status {row.status}, was OPTIMAL"))
        worse = _worse(row.objective, row.objective_base, maximise=_maximised(row.instance))
        if worse is not None:
            found.append(Regression(row.instance, row.solver, worse))
        slower = _slower(getattr(row, "machine_s", None), getattr(row, "machine_s_base", None))
        expected = row.wall_s_base * slower
        limit = max(expected * (1 + TIME_TOLERANCE), expected + TIME_FLOOR_S)
        if pd.notna(row.wall_s) and pd.notna(row.wall_s_base) and row.wall_s > limit:
            scaled = f", x{slower:.2f} for the machine's speed" if slower != 1.0 else ""
            found.append(
                Regression(
                    row.instance,
                    row.solver,
                    f"wall {row.wall_s:.2f} s, was {row.wall_s_base:.2f} s{scaled}",
                )
            )
    return found


def _slower(machine_s: Any, machine_s_base: Any) -> float:
    """How many times slower the machine ran than in the baseline's run (1 where either did
    not time it: baselines from before ``machine_s``)."""
    if pd.isna(machine_s) or pd.isna(machine_s_base) or machine_s_base <= 0:
        return 1.0
    return float(machine_s) / float(machine_s_base)


def _maximised(instance: str) -> bool:
    """GAP gap1-gap12 are published as maximisation problems."""
    return instance.startswith("gap")


def _worse(objective: Any, base: Any, maximise: bool) -> str | None:
    if pd.isna(base):
        return None
    if pd.isna(objective):
        return f"no plan, was {base}"
    change = (base - objective) if maximise else (objective - base)
    if change > QUALITY_TOLERANCE * max(abs(base), 1.0):
        return f"objective {objective}, was {base}"
    return None
