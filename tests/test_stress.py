"""Commissioners' stress tests: scenarios, known-answer block and provision costs, the local pool
and a real Dask cluster giving the same numbers, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import child, instance, place

from matcher.cli import main
from matcher.eligibility import candidates
from matcher.stress.demand import DemandModel
from matcher.stress.options import BlockContract, NewProvision, provider_beds
from matcher.stress.runner import StressJob, run_stress
from matcher.stress.summary import block_advice, option_summary, provision_effect

FAR = {"lat": 53.0, "lon": -1.2}


def held_pair():
    """Two children settled at B1 (provider B, £1,000 a week spot); one referral profile."""
    return instance(
        [
            child("S1", status="settled", current_placement="B1"),
            child("S2", status="settled", current_placement="B1"),
            child("N", status="new"),
        ],
        [place("B1", capacity=3, cost=1000, provider="B", sector="external"), place("LA")],
    )


def test_scenarios_are_seeded_hold_settled_children_and_draw_poisson_cohorts() -> None:
    demand = DemandModel.from_instance(held_pair(), arrivals=3, seed=5)
    first = demand.scenario(7)
    assert first == demand.scenario(7), "the same scenario every time it is drawn"
    counts = [sum(c.status == "new" for c in demand.scenario(k).children) for k in range(300)]
    assert 2.6 < sum(counts) / len(counts) < 3.4
    cands = candidates(first)
    assert [o.placement for o in cands.options["S1"]] == ["B1"], "held: the stay is the option"
    assert demand.scenario(8) != first or counts[7] == counts[8]


def test_block_sizes_have_known_costs_occupancy_and_voids() -> None:
    """No referrals: S1 and S2 stay at B1. Size s costs 600 s fixed + 1,000 per child outside
    the block: 2,000, 1,600, 1,200, 1,800; size 3 leaves a void."""
    demand = DemandModel(held_pair(), arrivals=0)
    options = tuple(BlockContract("B", size, 600) for size in range(4))
    rows = run_stress(StressJob(demand, options), 3, processes=1)
    summary = option_summary(rows)
    assert summary["weekly_cost_mean"].tolist() == [2000, 1600, 1200, 1800]
    assert summary["voids_mean"].tolist() == [0, 0, 0, 1]
    assert summary["occupancy_mean"].tolist()[1:] == [1.0, 1.0, round(2 / 3, 3)]
    advice = block_advice(summary, p90_limit=1700)
    assert advice["best_size_by_mean"] == 2
    assert advice["smallest_size_within_p90_limit"] == 1
    assert provider_beds(held_pair(), "B") == 3


def test_new_provision_avoids_the_fee_difference_for_every_referral() -> None:
    """Referrals can only go out of area at £4,000 until a £1,000 in-area home opens."""
    base = instance(
        [child("N", status="new")],
        [place("OUT", capacity=50, cost=4000, in_area=False, sector="external")],
    )
    home = place("NEW", capacity=50, cost=1000)
    added = NewProvision([type(base.placements[0]).model_validate(home)])
    rows = run_stress(
        StressJob(DemandModel(base, arrivals=4), (NewProvision(), added)), 20, processes=1
    )
    effect = provision_effect(rows)
    referrals = rows[rows["option"] == "baseline"]["referrals"]
    assert effect["avoided_weekly_cost_mean"] == pytest.approx(3000 * referrals.mean())
    assert effect["out_of_area_change_mean"] == pytest.approx(-referrals.mean())
    assert effect["unplaced_change_mean"] == 0


def test_local_pool_serial_and_dask_cluster_give_the_same_numbers() -> None:
    distributed = pytest.importorskip("distributed")
    demand = DemandModel.from_instance(held_pair(), arrivals=2, seed=1)
    job = StressJob(demand, tuple(BlockContract("B", size, 600) for size in range(3)))
    serial = run_stress(job, 6, processes=1)
    pooled = run_stress(job, 6, processes=2)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        on_dask = run_stress(job, 6, dask_address=cluster.scheduler_address)
    assert serial.equals(pooled)
    assert serial.equals(on_dask)


def test_stress_commands_write_results_and_refuse_bad_options(tmp_path: Path) -> None:
    source = tmp_path / "held.json"
    source.write_text(held_pair().model_dump_json())
    runner = CliRunner()
    common = ["--instance", str(source), "--scenarios", "4", "--processes", "1", "--quiet"]
    result = runner.invoke(
        main,
        ["stress", "block", *common, "--provider", "B", "--sizes", "0:3", "--block-price", "600"]
        + ["--out", str(tmp_path / "block"), "--p90-limit", "5000"],
    )
    assert result.exit_code == 0, result.output
    assert "lowest expected cost" in result.stdout
    summary = json.loads((tmp_path / "block" / "summary.json").read_text())
    assert [row["size"] for row in summary["sizes"]] == [0, 1, 2, 3]
    for name in ("scenarios.csv", "summary.csv", "block.png"):
        assert (tmp_path / "block" / name).stat().st_size > 0
    for options, message in (
        (["--provider", "NOPE", "--block-price", "600"], "--provider"),
        (["--provider", "B", "--sizes", "0:9", "--block-price", "600"], "--sizes"),
        (["--provider", "B", "--sizes", "x", "--block-price", "600"], "--sizes"),
    ):
        result = runner.invoke(main, ["stress", "block", *common, *options])
        assert result.exit_code == 2 and message in result.stderr
    additions = tmp_path / "new.json"
    additions.write_text(json.dumps({"placements": [place("NEW", capacity=-1)]}))
    result = runner.invoke(main, ["stress", "provision", *common, "--add", str(additions)])
    assert result.exit_code == 2
    assert "new.json" in result.stderr and "placement NEW" in result.stderr
    assert "capacity" in result.stderr
    additions.write_text(json.dumps({"placements": [place("NEW", capacity=5, cost=100)]}))
    out = str(tmp_path / "provision")
    result = runner.invoke(
        main, ["stress", "provision", *common, "--add", str(additions), "--out", out]
    )
    assert result.exit_code == 0, result.output
    assert "avoided cost" in result.stdout
    assert json.loads((tmp_path / "provision" / "summary.json").read_text())["effect"]


def test_the_demand_model_can_come_from_a_databases_history(tmp_path: Path) -> None:
    """Two nightly runs with one referral each: `stress --db` draws from the database's state
    at the history's mean of one referral a night."""
    from matcher.nightly import NightlySettings, nightly
    from matcher.solve import SolveSettings
    from matcher.store import import_instance, mean_referrals, open_database

    db = str(tmp_path / "state.db")
    engine = open_database(db)
    import_instance(engine, held_pair())
    assert mean_referrals(engine) is None
    for _ in range(2):
        nightly(db, NightlySettings(SolveSettings(time_limit=5, plans=1), explain_time=0))
    assert mean_referrals(engine) == 1.0
    out = tmp_path / "block"
    common = ["--scenarios", "3", "--processes", "1", "--quiet", "--out", str(out)]
    block = ["stress", "block", "--provider", "B", "--sizes", "0:2", "--block-price", "600"]
    result = CliRunner().invoke(main, [*block, "--db", db, *common])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["arrivals"] == 1.0
    both = CliRunner().invoke(main, [*block, "--db", db, "--instance", db, *common])
    assert both.exit_code == 2 and "one of --instance and --db" in both.output
