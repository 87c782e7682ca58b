"""Faults and limits: the time limit on the largest instance, the memory guard, identical plans
for a fixed seed, files that survive a killed process, and SQL built only with parameters."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from matcher import resources
from matcher.cli import main
from matcher.eligibility import candidates
from matcher.io import read_instance
from matcher.resources import ModelTooLargeError, needed_bytes
from matcher.solve import SolveSettings, solve

ROOT = Path(__file__).resolve().parents[1]
COUNTY = str(ROOT / "instances/county.json")
CLI = [sys.executable, str(ROOT / "cli.py")]


def timed(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)
    return time.perf_counter() - started, done


@pytest.mark.parametrize("limit", [2, 5])
def test_the_time_limit_holds_within_2_s_on_the_largest_instance(
    tmp_path: Path, limit: int
) -> None:
    """Three plans asked for in 2 s and 5 s on the county instance (1,200 children): the solver
    reports at most limit + 2 s, and so does the whole command beyond start-up and reading
    (measured by `validate` in the same test); a valid plan is always returned. (Before any
    search, the options and the greedy plan take ~1.9 s on this instance: the floor.)"""
    start_up, done = timed("validate", COUNTY)
    assert done.returncode == 0
    plan = tmp_path / "plan.json"
    elapsed, done = timed(
        "solve",
        COUNTY,
        "--time-limit",
        str(limit),
        "--plans",
        "3",
        "--no-explain",
        "--quiet",
        "--out",
        str(plan),
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(plan.read_text())
    assert document["solver"]["wall_time_s"] <= limit + 2
    assert elapsed - start_up <= limit + 2, (elapsed, start_up)
    assert document["plans"], "the greedy plan stands in when the search has no time"
    assert timed("check", COUNTY, str(plan))[1].returncode == 0


def test_the_memory_guard_refuses_a_model_that_would_not_fit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # peaks measured on generated county instances (benchmarks/README.md)
    assert needed_bytes(1200, 287_465, whole_model=True) >= 1.8 * resources.GIB
    assert needed_bytes(1200, 287_465, whole_model=False) >= 730 * 1024**2
    assert needed_bytes(5000, 4_992_848, whole_model=False) >= 1428 * 1024**2
    # small.json's 814 options and model need ~654.4 MiB
    monkeypatch.setattr(resources, "available_bytes", lambda: 654 * 1024**2)
    assert not resources.fits_in_memory(60, 1000, whole_model=True)
    small = read_instance(ROOT / "instances/small.json")
    with pytest.raises(ModelTooLargeError, match="GiB of memory and 0.6 GiB is available"):
        solve(small, SolveSettings(time_limit=5))
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(
        main, ["solve", str(ROOT / "instances/small.json"), "--out", str(out)]
    )
    assert result.exit_code == 2 and "eligible child-placement pairs need about" in result.stderr
    assert not out.exists()


def test_options_that_would_not_fit_are_refused_while_they_are_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With 10 MiB to spare, county's 287k options are refused after the first block of 256
    children, from the pairs found so far (a 20,000-child instance, ~80M pairs, used to fill
    9 GiB with options before the model's own check)."""
    monkeypatch.setattr(resources, "available_bytes", lambda: resources.BASE_BYTES + 10 * 1024**2)
    county = read_instance(COUNTY)
    with pytest.raises(ModelTooLargeError, match="projected from the first 256 of 1,200"):
        candidates(county)
    assert sum(map(len, candidates(read_instance(ROOT / "instances/small.json")).options.values()))


@pytest.mark.parametrize(("instance", "limit"), [("small.json", "20"), ("tight-small.json", "3")])
def test_a_fixed_seed_and_worker_count_give_identical_plans_5_times_in_5(
    tmp_path: Path, instance: str, limit: str
) -> None:
    """Reproducible mode: the same plans every time, also when the time limit stops the search
    (tight-small in 3 s), because the limit is deterministic time."""
    seen = set()
    for k in range(5):
        out = tmp_path / f"plan{k}.json"
        result = CliRunner().invoke(
            main,
            ["solve", str(ROOT / "instances" / instance), "--seed", "11", "--workers", "2"]
            + ["--mode", "reproducible", "--time-limit", limit, "--no-explain", "--quiet"]
            + ["--out", str(out)],
        )
        assert result.exit_code == 0, result.output
        plans = json.loads(out.read_text())["plans"]
        seen.add(json.dumps([(p["objective"], p["assignments"]) for p in plans]))
    assert len(seen) == 1


def test_a_killed_solve_leaves_the_old_plan_file_whole(tmp_path: Path) -> None:
    """SIGKILL (no chance to clean up) in the middle of a county solve: the plan file it was to
    replace is still the old one, byte for byte; a run left alone replaces it whole."""
    plan = tmp_path / "plan.json"
    old = json.dumps({"old": True})
    plan.write_text(old)
    process = subprocess.Popen(
        [*CLI, "solve", COUNTY, "--time-limit", "60", "--quiet", "--out", str(plan)],
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    time.sleep(8)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert plan.read_text() == old
    done = subprocess.run(
        [*CLI, "solve", str(ROOT / "instances/tiny.json"), "--quiet", "--out", str(plan)],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0
    assert json.loads(plan.read_text())["plans"][0]["objective"] == 6700


def test_sql_is_never_built_from_strings() -> None:
    """Every statement goes through SQLAlchemy with bound parameters: no f-string, % or
    .format() SQL anywhere in the package."""
    built = re.compile(
        r"""(text|execute|exec_driver_sql)\(\s*(f["']|["'][^"']*["']\s*(%|\.format))"""
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "matcher").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if built.search(line)
    ]
    assert offenders == []


def test_a_large_model_keeps_to_shortlists_when_the_whole_model_would_not_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fast mode on a large model is refused only if even shortlists would not fit."""
    import matcher.solve as solve_module

    data = read_instance(ROOT / "instances/county-300.json")
    pairs = sum(len(options) for options in candidates(data).options.values())
    monkeypatch.setattr(solve_module, "LARGE_PATH_PAIRS", 1000)
    shortlist_only = needed_bytes(300, pairs, whole_model=False)
    assert shortlist_only < needed_bytes(300, pairs, whole_model=True)
    monkeypatch.setattr(resources, "available_bytes", lambda: shortlist_only)
    settings = SolveSettings(time_limit=10, plans=1, reproducible=False)
    assert solve(data, settings).plans
    monkeypatch.setattr(resources, "available_bytes", lambda: shortlist_only - 1)
    with pytest.raises(ModelTooLargeError):
        solve(data, settings)
