"""Privacy: keyed pseudonyms at import and real ids back only at the user's end, redacted
reports, and owner-only key files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text

from matcher.cli import main
from matcher.io import canonical_json, read_instance
from matcher.privacy import load_key, pseudonymise
from matcher.solve import SolveSettings, solve
from matcher.store import open_database

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "instances/small.json"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_pseudonyms_are_keyed_consistent_and_keep_the_problem(tmp_path: Path) -> None:
    data = read_instance(SMALL)
    key = load_key(str(tmp_path / "key"), create=True)
    assert stat.S_IMODE(os.stat(tmp_path / "key").st_mode) == 0o600
    hidden = pseudonymise(data, key)
    assert canonical_json(hidden) == canonical_json(pseudonymise(data, key))
    other = pseudonymise(data, load_key(str(tmp_path / "other"), create=True))
    assert {c.id for c in hidden.children}.isdisjoint({c.id for c in other.children})
    text_of = canonical_json(hidden)
    assert not [c.id for c in data.children if f'"{c.id}"' in text_of]
    settings = SolveSettings(time_limit=20, plans=1)
    assert solve(hidden, settings).plans[0].objective == solve(data, settings).plans[0].objective


def test_real_ids_never_reach_the_database_and_come_back_only_with_key_and_export(
    tmp_path: Path,
) -> None:
    db, key = str(tmp_path / "state.db"), str(tmp_path / "case-ids.key")
    assert run("import", str(SMALL), "--db", db, "--pseudonymise", key)[0] == 0
    assert (
        run("nightly", "--db", db, "--time-limit", "10", "--explain-time", "3", "--no-report")[0]
        == 0
    )
    real_ids = [c.id for c in read_instance(SMALL).children]
    engine = open_database(db)
    with engine.connect() as connection:
        dumped = " ".join(
            str(row)
            for table in ("children", "conflicts", "distances", "assignments", "plans", "runs")
            for row in connection.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
        )
    assert not [i for i in real_ids if i in dumped], "no real id in the database"
    plan = tmp_path / "plan.json"
    code, _, stderr = run(
        "show", "1", "--db", db, "--out", str(plan), "--reveal", key, "--ids", str(SMALL)
    )
    assert code == 0, stderr
    rows = json.loads(plan.read_text())["plans"][0]["assignments"]
    assert sorted(r["child"] for r in rows) == sorted(real_ids)
    assert run("check", str(SMALL), str(plan))[0] == 0, "the revealed plan fits the real export"
    code, _, stderr = run("show", "1", "--db", db, "--reveal", key, "--ids", str(SMALL))
    assert code == 2 and "--out" in stderr


def test_redacted_reports_hide_every_id_and_hash_it_the_same_way_each_night(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "state.db")
    run("import", str(SMALL), "--db", db)
    night = ["nightly", "--db", db, "--time-limit", "10", "--explain-time", "3", "--redact"]
    night.append("--cold-start")  # the same plan both nights, so the rows can be compared
    for _ in range(2):
        assert run(*night, "--report", str(tmp_path / "reports"))[0] == 0
    data = read_instance(SMALL)
    ids = [c.id for c in data.children] + [p.id for p in data.placements]
    actions = []
    for run_dir in ("run-1", "run-2"):
        folder = tmp_path / "reports" / run_dir
        page = "".join(p.read_text() for p in folder.iterdir() if p.suffix in (".html", ".csv"))
        assert not [i for i in ids if i in page], "no real id in the report"
        actions.append((folder / "actions.csv").read_text())
    assert actions[0] == actions[1], "the same plan, the same hashed ids, night after night"
    assert len(actions[0].splitlines()) > 2
