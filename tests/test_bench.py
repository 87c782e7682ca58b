"""The benchmark suite: GAP files through the project's model, the HiGHS translation of the
model, the regression check and the ``bench`` command."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_families import CASES

from matcher.bench.gap import gap_instance, gap_value, read_gap
from matcher.bench.highs import solve_mip
from matcher.bench.report import compare, frame, summary, write_results
from matcher.bench.runner import reference_seconds, run_case, run_quality
from matcher.bench.suites import GAP_FOLDER, Case, suite_cases
from matcher.cli import main
from matcher.cpsat import build_model
from matcher.io import read_instance
from matcher.solve import SolveSettings, solve
from matcher.units import to_pounds

ROOT = Path(__file__).resolve().parents[1]
FAST = SolveSettings(time_limit=20, plans=1)


@pytest.fixture
def gap_folder() -> Path:
    if not (GAP_FOLDER / "best_known.csv").exists():
        pytest.skip("shared/benchmarks/gap is not beside this checkout")
    return GAP_FOLDER


def test_a_gap_file_with_several_problems_reads_the_first(tmp_path: Path) -> None:
    """2 agents, 3 jobs, in an OR-Library file holding two problems."""
    one = "2 3  1 2 3  4 5 6  1 1 1  1 1 1  2 2"
    (tmp_path / "two").write_text(f"2\n{one}\n{one}\n")
    problem = read_gap(tmp_path / "two", maximise=False)
    assert problem.costs == [[1, 2, 3], [4, 5, 6]] and problem.capacities == [2, 2]
    result = solve(gap_instance(problem), FAST)
    # jobs 0 and 1 at agent 0 (cost 3), job 2 at agent 1 (cost 6): 9
    assert gap_value(problem, result.plans[0].objective) == 9


@pytest.mark.parametrize(
    ("name", "maximise", "optimum"), [("gap1-0", True, 336), ("a05100", False, 1698)]
)
def test_gap_instances_reach_their_published_optimum(
    gap_folder: Path, name: str, maximise: bool, optimum: int
) -> None:
    folder = "cattrysse1994" if name.startswith("gap") else "chu1997"
    problem = read_gap(gap_folder / folder / name, maximise)
    result = solve(gap_instance(problem), FAST)
    assert result.solver.status == "OPTIMAL"
    assert all(a.action != "unplaced" for a in result.plans[0].assignments)
    assert gap_value(problem, result.plans[0].objective) == optimum


@pytest.mark.parametrize("family", sorted(CASES))
def test_highs_on_the_translated_model_agrees_with_cp_sat(family: str) -> None:
    data = CASES[family]()
    expected = solve(data, FAST)
    mip = solve_mip(build_model(data).model, 20)
    assert mip.status == expected.solver.status == "OPTIMAL"
    assert to_pounds(mip.objective) == pytest.approx(expected.solver.objective, abs=0.01)


@pytest.mark.parametrize("name", ["tiny.json", "small.json", "tight-small.json"])
def test_highs_reaches_the_shipped_optima(name: str) -> None:
    data = read_instance(ROOT / "instances" / name)
    mip = solve_mip(build_model(data).model, 60)
    assert mip.status == "OPTIMAL"
    assert mip.first_solution_s is not None and mip.best_solution_s is not None
    assert 0 < mip.first_solution_s <= mip.best_solution_s <= mip.build_s + mip.solve_s
    assert to_pounds(mip.objective) == pytest.approx(solve(data, FAST).solver.objective, abs=0.01)


def test_compare_flags_worse_quality_and_lost_optimality_but_not_time_noise() -> None:
    base = pd.DataFrame(
        [
            {
                "instance": "small",
                "solver": "s",
                "status": "OPTIMAL",
                "objective": 100.0,
                "wall_s": 1.0,
            },
            {
                "instance": "gap1-0",
                "solver": "s",
                "status": "OPTIMAL",
                "objective": 336,
                "wall_s": 0.2,
            },
            {
                "instance": "tiny",
                "solver": "s",
                "status": "OPTIMAL",
                "objective": 10.0,
                "wall_s": 10.0,
            },
        ]
    )
    now = base.copy()
    now.loc[0, "objective"] = 101.0  # minimising: worse
    now.loc[1, ["objective", "status"]] = [330, "FEASIBLE"]  # maximising: worse, and not proven
    now.loc[2, "wall_s"] = 14.0  # within noise
    found = {(r.instance, r.what.split()[0]) for r in compare(now, base)}
    assert found == {("small", "objective"), ("gap1-0", "objective"), ("gap1-0", "status")}
    now.loc[2, "wall_s"] = 16.0
    assert any(r.instance == "tiny" and r.what.startswith("wall") for r in compare(now, base))


def test_compare_scales_the_baseline_s_wall_time_by_the_machine_s_speed() -> None:
    """A run on a machine twice as slow (its reference workload twice as long) is allowed
    twice the baseline's wall time before the tolerance; a baseline without ``machine_s`` is
    compared as measured."""
    base = pd.DataFrame(
        [{"instance": "tiny", "solver": "s", "status": "OPTIMAL", "objective": 1.0,
          "wall_s": 10.0, "machine_s": 0.5}]
    )  # fmt: skip
    now = base.copy()
    now.loc[0, ["wall_s", "machine_s"]] = [25.0, 1.0]
    assert compare(now, base) == []
    now.loc[0, "wall_s"] = 31.0
    (found,) = compare(now, base)
    assert found.what == "wall 31.00 s, was 10.00 s, x2.00 for the machine's speed"
    assert [r.what.split()[0] for r in compare(now, base.drop(columns="machine_s"))] == ["wall"]
    now.loc[0, "wall_s"] = 14.0
    assert compare(now, base.drop(columns="machine_s")) == []


def test_the_reference_workload_times_the_machine_and_the_summary_says_so() -> None:
    assert 0 < reference_seconds() < 60
    rows = [
        {"solver": "s", "instance": name, "status": "OPTIMAL", "wall_s": 1.0, "machine_s": speed}
        for name, speed in (("a", 0.4), ("b", 0.5), ("c", 0.9))
    ]
    assert "reference workload took 0.50 s (median; 0.40-0.90 s" in summary(frame(rows))


def test_a_gap_run_with_no_plan_still_records_the_best_known_value(gap_folder: Path) -> None:
    """So the summary counts it (as the worst) among its type's runs."""
    case = next(c for c in suite_cases("gap", gap_folder) if c.name == "d05100")
    row = run_quality(case, None, None)
    assert row["best_known"] == 6353 and row["gap_to_best_known"] is None


def test_a_run_that_fails_before_its_instance_is_made_is_an_error_row() -> None:
    """The time-out starts once the instance is made (generating 20,000 children takes ~4
    min); a process that dies before that is seen at once, not after the build time-out."""
    case = Case("smoke", "no-such-instance", build=lambda: read_instance(Path("missing.json")))
    row = run_case(case, "greedy", 5.0)
    assert row["status"] == "ERROR" and row["instance"] == "no-such-instance"


def test_results_with_no_gap_at_all_still_plot_and_summarise(tmp_path: Path) -> None:
    """A run with no bound and no best-known value (the 20,000-child scaling case: the greedy
    plan, no bound in time) crashed the plot: its gap columns held no number at all."""
    row = {
        "suite": "scaling",
        "instance": "county-20000",
        "children": 20000,
        "solver": "cpsat-2w",
        "status": "FEASIBLE",
        "objective": 37902661.6,
        "gap": None,
        "gap_to_best_known": None,
        "wall_s": 143.3,
    }
    written = write_results([row], tmp_path / "results.csv")
    assert all(path.exists() for path in written)


def test_summary_counts_a_run_that_assigned_not_every_job_as_the_worst() -> None:
    """Medians by GAP type: a solver that leaves jobs unassigned on most runs cannot look
    better than one that assigns every job, by its failures dropping out of the median."""
    rows = [
        ("c1", "a", 0.001),
        ("c2", "a", 0.002),
        ("c3", "a", 0.003),
        ("c1", "b", 0.0),
        ("c2", "b", None),
        ("c3", "b", None),
    ]
    table = pd.DataFrame(
        {
            "instance": [r[0] for r in rows],
            "solver": [r[1] for r in rows],
            "gap_to_best_known": [r[2] for r in rows],
            "best_known": 1.0,
            "status": "FEASIBLE",
            "gap": 0.0,
            "wall_s": 1.0,
            "peak_rss_mib": 100,
        }
    )
    text = summary(table)
    assert "| a | 0.20% (0/3; 3/3) |" in text
    assert "| b | incomplete (1/3; 1/3) |" in text


def test_bench_command_writes_csv_plot_summary_and_compares(
    tmp_path: Path, gap_folder: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "r.csv"
    args = ["bench", "--suite", "smoke", "--solvers", "greedy,cpsat-2w,highs"]
    args += ["--instances", "tiny,gap1-0", "--time-limit", "5", "--out", str(out)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 6 and set(table["solver"]) == {"greedy", "cpsat-2w", "highs"}
    gap_row = table[(table["instance"] == "gap1-0") & (table["solver"] == "cpsat-2w")].iloc[0]
    assert gap_row["objective"] == 336 and gap_row["gap_to_best_known"] == 0
    for _, row in table.iterrows():  # every solver says when its first and best plans came
        assert 0 < row["first_solution_s"] <= row["time_to_best_s"] <= row["wall_s"], row
    assert out.with_suffix(".png").stat().st_size > 1000
    assert "| cpsat-2w |" in out.with_suffix(".md").read_text()
    assert (table["machine_s"] > 0).all()  # each run timed the machine around itself
    assert "reference workload took" in out.with_suffix(".md").read_text()
    again = runner.invoke(main, [*args[:-1], str(tmp_path / "again.csv"), "--compare", str(out)])
    assert again.exit_code == 0, again.output
    better = table.copy()
    better.loc[better["instance"] == "tiny", "objective"] = 1.0
    better.to_csv(tmp_path / "better.csv", index=False)
    worse = runner.invoke(
        main, [*args[:-1], str(tmp_path / "w.csv"), "--compare", str(tmp_path / "better.csv")]
    )
    assert worse.exit_code == 3 and "worse: tiny" in worse.output


def test_the_greedy_start_is_skipped_only_when_staff_limits_every_placement(
    tmp_path: Path,
) -> None:
    one = "2 3  1 2 3  4 5 6  1 1 1  1 1 1  2 2"
    (tmp_path / "one").write_text(one)
    gap = gap_instance(read_gap(tmp_path / "one", maximise=False))
    small = read_instance(ROOT / "instances" / "small.json")
    assert SolveSettings().starts_from_greedy(gap) is False
    assert SolveSettings().starts_from_greedy(small) is True
    assert SolveSettings(greedy_start=True).starts_from_greedy(gap) is True
    assert SolveSettings(greedy_start=False).starts_from_greedy(small) is False
