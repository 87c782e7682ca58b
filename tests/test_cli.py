"""The command line as a user runs it (click's runner): outputs, files written, exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from matcher.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "instances" / "tiny.json")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_solve_prints_a_summary_and_writes_a_checkable_plan(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    code, stdout, _ = run(
        "solve",
        TINY,
        "--out",
        str(plan),
        "--csv-out",
        str(tmp_path / "csv"),
        "--mode",
        "fast",
        "--time-limit",
        "10",
    )
    assert code == 0
    assert "OPTIMAL" in stdout and "plan 1: objective £6,700.00" in stdout
    document = json.loads(plan.read_text())
    assert document["solver"]["status"] == "OPTIMAL" and document["plans"][0]["objective"] == 6700
    assert len(document["instance_sha256"]) == 64
    assert (tmp_path / "csv" / "assignments.csv").read_text().startswith("rank,child,")
    code, stdout, _ = run("check", TINY, str(plan))
    assert code == 0 and "pass every check" in stdout


def tampered_plan(tmp_path: Path) -> Path:
    """A plan file for the tiny instance with every child crammed into FC1's one bed."""
    plan = tmp_path / "plan.json"
    run("solve", TINY, "--out", str(plan), "--plans", "1", "--no-explain", "--quiet")
    document = json.loads(plan.read_text())
    for row in document["plans"][0]["assignments"]:
        row["placement"] = "FC1"
    plan.write_text(json.dumps(document))
    return plan


def test_check_reports_a_tampered_plan(tmp_path: Path) -> None:
    plan = tampered_plan(tmp_path)
    code, stdout, _ = run("check", TINY, str(plan))
    assert code == 3 and "capacity: plan 1: placement FC1: 4 occupants" in stdout


def test_bad_input_exits_2_naming_the_record_and_writes_nothing(tmp_path: Path) -> None:
    broken = json.loads(Path(TINY).read_text())
    broken["children"][0]["age"] = -3
    source = tmp_path / "broken.json"
    source.write_text(json.dumps(broken))
    out = tmp_path / "plan.json"
    code, _, stderr = run("solve", str(source), "--out", str(out))
    assert code == 2
    assert "broken.json: child A: field age" in stderr.replace("\n", " ")
    assert "Traceback" not in stderr and not out.exists()
    code, _, stderr = run("validate", str(source))
    assert code == 2 and "child A" in stderr


def test_unreadable_plan_file_exits_2(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text("{nope")
    code, _, stderr = run("check", TINY, str(plan))
    assert code == 2 and "plan.json" in stderr


def test_generate_convert_validate_schema(tmp_path: Path) -> None:
    generated = tmp_path / "g.json"
    code, stdout, _ = run(
        "generate", "--shape", "tight", "--children", "25", "--seed", "4", "--out", str(generated)
    )
    assert code == 0 and "25 children" in stdout
    code, _, _ = run("convert", str(generated), str(tmp_path / "bundle"))
    assert code == 0 and (tmp_path / "bundle" / "children.csv").exists()
    code, _, _ = run("convert", str(tmp_path / "bundle"), str(tmp_path / "back.json"))
    assert code == 0 and (tmp_path / "back.json").read_bytes() == generated.read_bytes()
    code, stdout, _ = run("validate", str(tmp_path / "bundle"))
    assert code == 0 and "valid (25 children" in stdout
    code, stdout, _ = run("schema")
    assert code == 0 and "children" in json.loads(stdout)["properties"]


def test_generation_is_reproducible(tmp_path: Path) -> None:
    for name in ("a.json", "b.json"):
        run("generate", "--children", "30", "--seed", "9", "--out", str(tmp_path / name))
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_python_cli_py_runs_from_a_checkout() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "validate", TINY],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0 and "valid" in completed.stdout


def test_infeasible_instance_reports_it_and_writes_a_plan_file_without_plans(
    tmp_path: Path,
) -> None:
    document = {
        "meta": {"name": "stuck", "as_of": "2026-11-26"},
        "policy": {"max_moves": 0},
        "children": [
            {
                "id": "A",
                "age": 12,
                "sex": "F",
                "location": {"lat": 52.6, "lon": -1.2},
                "status": "settled",
                "current_placement": "P",
            },
        ],
        "placements": [
            {
                "id": "P",
                "provider": "x",
                "type": "foster",
                "sector": "in_house",
                "location": {"lat": 52.6, "lon": -1.2},
                "in_area": True,
                "capacity": 0,
                "weekly_cost": 400,
            },
        ],
    }
    source, plan = tmp_path / "stuck.json", tmp_path / "plan.json"
    source.write_text(json.dumps(document))
    code, stdout, _ = run("solve", str(source), "--out", str(plan), "--quiet")
    assert code == 0 and "INFEASIBLE" in stdout and "cannot all hold" in stdout
    written = json.loads(plan.read_text())
    assert written["solver"]["status"] == "INFEASIBLE" and written["plans"] == []
    families = {c["family"] for c in written["infeasibility"]["constraints"]}
    assert families == {"max_moves", "capacity"}
    code, stdout, _ = run("solve", str(source))
    assert "P has 0 free bed(s)" in stdout and "Relaxing any one of them" in stdout


@pytest.mark.parametrize("mode", ["fast", "reproducible"])
def test_solve_on_the_large_path_shows_neighbourhood_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Every model counts as large: neighbourhood search improves the greedy plan and reports
    each better plan (with the capacity bound) while the command runs."""
    monkeypatch.setattr("matcher.solve.LARGE_PATH_PAIRS", 0)
    plan = tmp_path / "plan.json"
    small = str(ROOT / "instances" / "small.json")
    args = ["solve", small, "--plans", "1", "--time-limit", "8", "--no-explain", "--mode", mode]
    code, stdout, stderr = run(*args, "--out", str(plan))
    assert code == 0, stderr
    assert "plan 1: objective £139,518.4" in stdout
    assert json.loads(plan.read_text())["solver"]["mode"] == mode  # no wall-clock limit hit
    code, _, _ = run("check", small, str(plan))
    assert code == 0


def test_solve_explains_and_explain_re_explains_a_plan_file(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    code, stdout, _ = run("solve", TINY, "--out", str(plan), "--plans", "2")
    assert code == 0
    assert "placement FC1 is full (1 bed): one more bed would save £375.00 a week" in stdout
    assert "Plan 2 costs" in stdout
    written = json.loads(plan.read_text())
    assert written["plans"][0]["explanations"]["binding"][0]["record"] == "FC1"
    assert "explanations" in written["plans"][1]
    again = tmp_path / "again.json"
    code, stdout, _ = run("explain", TINY, str(plan), "--out", str(again))
    assert code == 0 and "one more bed would save £375.00" in stdout
    reread = json.loads(again.read_text())
    assert (
        reread["plans"][0]["explanations"]["binding"]
        == written["plans"][0]["explanations"]["binding"]
    )
    code, _, _ = run("solve", TINY, "--out", str(tmp_path / "bare.json"), "--no-explain")
    assert "explanations" not in json.loads((tmp_path / "bare.json").read_text())["plans"][0]


def test_explain_refuses_a_plan_that_fails_the_checker(tmp_path: Path) -> None:
    plan = tampered_plan(tmp_path)
    out = tmp_path / "out.json"
    code, _, stderr = run("explain", TINY, str(plan), "--out", str(out))
    assert code == 2 and "does not pass the checker" in stderr
    assert not out.exists()


def test_sigterm_stops_the_search_and_keeps_the_best_plan_so_far(tmp_path: Path) -> None:
    """A 60 s search on the county instance, stopped by SIGTERM: it ends within seconds, and the
    plan file it writes is marked interrupted and passes the checker."""
    plan = tmp_path / "plan.json"
    command = [sys.executable, str(ROOT / "cli.py"), "solve", str(ROOT / "instances/county.json")]
    options = ["--time-limit", "60", "--plans", "2", "--quiet", "--out", str(plan)]
    process = subprocess.Popen(command + options, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    time.sleep(12)
    signalled = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert time.perf_counter() - signalled < 5
    document = json.loads(plan.read_text())
    assert document["solver"]["interrupted"] is True
    assert document["plans"], "the greedy plan is ready within 12 s"
    assert run("check", str(ROOT / "instances/county.json"), str(plan))[0] == 0


@pytest.mark.parametrize("after_s", [10, 14])
def test_ctrl_c_during_neighbourhood_steps_keeps_the_best_plan_so_far(
    tmp_path: Path, after_s: float
) -> None:
    """SIGINT (Ctrl-C) while neighbourhood search runs several CP-SAT solves a second: CP-SAT's
    own SIGINT handler, set up and taken down by each solve, used to abort the process
    (std::bad_function_call) or leave it to die of the signal (exit 130)."""
    plan = tmp_path / "plan.json"
    command = [sys.executable, str(ROOT / "cli.py"), "solve", str(ROOT / "instances/county.json")]
    options = ["--time-limit", "60", "--plans", "1", "--quiet", "--no-explain", "--out", str(plan)]
    process = subprocess.Popen(command + options, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    time.sleep(after_s)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert json.loads(plan.read_text())["solver"]["interrupted"] is True
    assert run("check", str(ROOT / "instances/county.json"), str(plan))[0] == 0


def test_the_nightly_cycle_as_a_team_runs_it(tmp_path: Path, database: str) -> None:
    """import -> nightly -> history -> show -> reject/accept -> nightly, all from the command
    line, on SQLite and PostgreSQL."""
    db = ["--db", database]
    small = str(ROOT / "instances/small.json")
    code, stdout, _ = run("import", small, *db)
    assert code == 0 and "imported: 60 children" in stdout
    assert "unchanged" in run("import", small, *db)[1]
    reports = tmp_path / "reports"
    night = ["--time-limit", "10", "--explain-time", "5", "--report", str(reports), *db]
    code, stdout, stderr = run("nightly", *night)
    assert code == 0, stderr
    assert "run 1: saved" in stdout and (reports / "run-1" / "index.html").exists()
    assert "complete" in run("history", *db)[1]
    plan = tmp_path / "plan.json"
    code, stdout, _ = run("show", "1", "--out", str(plan), *db)
    assert code == 0 and "What shapes plan 1" in stdout
    assert run("check", small, str(plan))[0] == 0
    document = json.loads(plan.read_text())
    proposals = [r for r in document["plans"][0]["assignments"] if r["action"] in ("move", "new")]
    first, second = proposals[0], proposals[1]
    code, stdout, _ = run("reject", "1", "--plan", "1", "--children", first["child"], *db)
    assert code == 0 and "1 proposals rejected" in stdout
    code, stdout, _ = run("accept", "1", "--plan", "1", "--children", second["child"], *db)
    assert code == 0 and "1 proposals accepted" in stdout
    code, stdout, stderr = run("accept", "1", "--plan", "1", "--children", second["child"], *db)
    assert code == 2 and "already decided" in stderr
    assert run("nightly", *night)[0] == 0
    run("show", "2", "--out", str(plan), "--all-rows", *db)
    rows = {r["child"]: r for r in json.loads(plan.read_text())["plans"][0]["assignments"]}
    assert rows[first["child"]]["placement"] != first["placement"], "the rejection holds"
    assert rows[second["child"]]["action"] == "stay", "the accepted move is now the placement"
    assert json.loads(plan.read_text())["solver"]["warm_start"] is True


def test_database_commands_refuse_bad_requests_with_exit_2(tmp_path: Path) -> None:
    db = ["--db", str(tmp_path / "state.db")]
    bad = tmp_path / "bad.json"
    document = json.loads((ROOT / "instances/tiny.json").read_text())
    document["children"][0]["age"] = -3
    bad.write_text(json.dumps(document))
    code, _, stderr = run("import", str(bad), *db)
    assert code == 2 and "bad.json" in stderr and "age" in stderr
    assert not (tmp_path / "state.db").exists(), "nothing written"
    code, _, stderr = run("nightly", "--no-report", *db)
    assert code == 2 and "no state yet" in stderr
    run("import", TINY, *db)
    for command in (["show", "7"], ["accept", "7", "--plan", "1"], ["reject", "7", "--plan", "1"]):
        code, _, stderr = run(*command, *db)
        assert code == 2 and "run 7: no such run" in stderr
    code, _, stderr = run("history", "--db", "mysql://nobody@localhost/x")
    assert code == 2 and "only SQLite files and PostgreSQL" in stderr
