"""The nightly run's database, on SQLite and on a real PostgreSQL server: import, the run,
decisions, warm starts, the lock, and what a crash leaves behind."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import child, instance, place, team
from sqlalchemy import select

from matcher.exceptions import StoreError
from matcher.instance import Instance
from matcher.io import canonical_json, read_instance
from matcher.nightly import NightlySettings, nightly
from matcher.solve import SolveSettings
from matcher.store import (
    begin_run,
    decide,
    history,
    import_instance,
    load_state,
    open_database,
    run_lock,
    run_result,
)
from matcher.store import state as state_module
from matcher.store.schema import RunRow

ROOT = Path(__file__).resolve().parents[1]
QUICK = NightlySettings(SolveSettings(time_limit=10, plans=1), explain_time=0)


def two_places() -> Instance:
    """A new child whose cheapest place is P (£500), then Q (£800); a settled child at Q."""
    return instance(
        [child("A"), child("S", status="settled", current_placement="Q")],
        [place("P"), place("Q", capacity=2, cost=800)],
    )


def outcome(run_result_plan: object, child_id: str) -> str | None:
    rows = {a.child: a for a in run_result_plan.assignments}  # type: ignore[attr-defined]
    return rows[child_id].placement


def test_import_round_trips_and_is_idempotent(database: str) -> None:
    small = read_instance(ROOT / "instances/small.json")
    engine = open_database(database)
    assert import_instance(engine, small) is True
    assert import_instance(engine, small) is False
    assert canonical_json(load_state(engine, "db")) == canonical_json(small)
    assert import_instance(engine, two_places()) is True
    assert canonical_json(load_state(engine, "db")) == canonical_json(two_places())


def test_an_import_that_fails_midway_changes_nothing(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = open_database(database)
    import_instance(engine, two_places())
    before = canonical_json(load_state(engine, "db"))
    calls = {"n": 0}
    real_row = state_module._row

    def failing_row(*args: object) -> object:
        calls["n"] += 1
        if calls["n"] > 30:
            raise RuntimeError("disk full")
        return real_row(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(state_module, "_row", failing_row)
    with pytest.raises(RuntimeError):
        import_instance(engine, read_instance(ROOT / "instances/small.json"))
    assert canonical_json(load_state(engine, "db")) == before


def test_nightly_reject_then_accept_changes_the_next_night(database: str) -> None:
    engine = open_database(database)
    import_instance(engine, two_places())
    first = nightly(database, QUICK)
    assert outcome(first.result.plans[0], "A") == "P"
    assert first.result.solver.warm_start is False
    decide(engine, first.run_id, 1, ["A"], "rejected")
    second = nightly(database, QUICK)
    assert outcome(second.result.plans[0], "A") == "Q", "P was ruled out"
    assert second.result.solver.warm_start is True
    with pytest.raises(StoreError, match="superseded"):
        decide(engine, first.run_id, 1, ["A"], "accepted")
    decide(engine, second.run_id, 1, None, "accepted")
    state = load_state(engine, "db")
    a = state.child_by_id["A"]
    assert (a.status, a.current_placement, a.ruled_out) == ("settled", "Q", ["P"])
    third = nightly(database, QUICK)
    assert [r.action for r in third.result.plans[0].assignments] == ["stay", "stay"]
    with pytest.raises(StoreError, match="no proposals left"):
        decide(engine, third.run_id, 1, None, "accepted")
    with pytest.raises(StoreError, match="action stay proposes no change"):
        decide(engine, third.run_id, 1, ["A"], "rejected")
    assert [row["status"] for row in history(engine)] == ["complete"] * 3


def test_accepting_a_return_home_takes_the_child_off_the_list(database: str) -> None:
    engine = open_database(database)
    import_instance(
        engine,
        instance(
            [child("H", return_home=True), child("B", sibling_group="G")],
            [place("P", cost=5000)],
            outreach_teams=[team("T")],
            sibling_groups=[{"id": "G"}],
            conflicts=[{"a": "H", "b": "B"}],
        ),
    )
    run = nightly(database, QUICK)
    assert outcome(run.result.plans[0], "H") == "home"
    with pytest.raises(StoreError, match="NOBODY is not in the plan"):
        decide(engine, run.run_id, 1, ["NOBODY"], "accepted")
    decide(engine, run.run_id, 1, ["H"], "accepted")
    assert [c.id for c in load_state(engine, "db").children] == ["B"]


def test_a_failed_run_saves_no_plans_and_is_not_complete(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = open_database(database)
    import_instance(engine, two_places())

    def broken_report(*args: object) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr("matcher.nightly.write_report", broken_report)
    settings = NightlySettings(QUICK.solve, explain_time=0, report_dir=tmp_path / "reports")
    with pytest.raises(OSError):
        nightly(database, settings)
    [row] = history(engine)
    assert row["status"] == "failed" and row["objective"] is None
    with pytest.raises(StoreError, match="status failed"):
        run_result(engine, row["id"])
    assert not (tmp_path / "reports" / f"run-{row['id']}").exists()


def test_a_run_left_running_by_a_dead_process_is_marked_abandoned(database: str) -> None:
    engine = open_database(database)
    import_instance(engine, two_places())
    dead = begin_run(engine, QUICK.solve, "x" * 64, referrals=1)
    alive = nightly(database, QUICK)
    with engine.connect() as connection:
        statuses = dict(connection.execute(select(RunRow.id, RunRow.status)).all())
    assert statuses == {dead: "abandoned", alive.run_id: "complete"}


def test_only_one_run_at_a_time(database: str) -> None:
    engine = open_database(database)
    import_instance(engine, two_places())
    with run_lock(engine):
        with pytest.raises(StoreError, match="another run"):
            nightly(database, QUICK)
    assert nightly(database, QUICK).run_id > 0


def test_same_state_seed_and_workers_give_the_same_plan(database: str) -> None:
    engine = open_database(database)
    import_instance(engine, read_instance(ROOT / "instances/small.json"))
    settings = NightlySettings(
        SolveSettings(time_limit=20, plans=2, seed=3, reproducible=True),
        explain_time=0,
        warm_start=False,
    )
    first, second = nightly(database, settings), nightly(database, settings)
    assert [p.assignments for p in first.result.plans] == [
        p.assignments for p in second.result.plans
    ]
    assert run_result(engine, first.run_id).plans == first.result.plans


def test_sqlite_files_are_private_and_bad_urls_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    open_database(str(path)).dispose()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(StoreError, match="only SQLite files and PostgreSQL"):
        open_database("mysql://user@localhost/db")
    with pytest.raises(StoreError, match="does not exist"):
        open_database(str(tmp_path / "missing" / "x.db"))
    with pytest.raises(StoreError, match="no state yet"):
        load_state(open_database(str(tmp_path / "empty.db")), "empty")


def test_sigterm_during_a_nightly_run_saves_the_best_plans_so_far(tmp_path: Path) -> None:
    """SIGTERM 12 s into a 60 s nightly run on the county instance: the run ends at once, saved
    as ``interrupted`` with its best plan so far."""
    db = str(tmp_path / "state.db")
    engine = open_database(db)
    import_instance(engine, read_instance(ROOT / "instances/county.json"))
    command = [sys.executable, str(ROOT / "cli.py"), "nightly", "--db", db, "--no-report"]
    process = subprocess.Popen(
        [*command, "--time-limit", "60", "--quiet"], stderr=subprocess.PIPE, text=True
    )
    time.sleep(12)
    signalled = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert time.perf_counter() - signalled < 8
    [row] = history(engine)
    assert row["status"] == "interrupted"
    result = run_result(engine, row["id"])
    assert result.solver.interrupted and result.plans
