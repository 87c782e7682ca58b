"""The nightly run's database: today's state and the run history (SQLite or PostgreSQL)."""

from matcher.store.db import DEFAULT_DB, database_url, open_database, run_lock, shown
from matcher.store.runs import (
    begin_run,
    decide,
    fail_run,
    history,
    latest_finished_run,
    mean_referrals,
    run_result,
    save_run,
    warm_start_plan,
)
from matcher.store.state import import_instance, load_state, state_sha256

__all__ = [
    "DEFAULT_DB",
    "begin_run",
    "database_url",
    "decide",
    "fail_run",
    "history",
    "import_instance",
    "latest_finished_run",
    "load_state",
    "mean_referrals",
    "open_database",
    "run_lock",
    "run_result",
    "save_run",
    "shown",
    "state_sha256",
    "warm_start_plan",
]
