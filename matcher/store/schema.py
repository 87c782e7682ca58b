"""SQLAlchemy tables: the instance contract (today's state) and the run history.

State tables mirror the contract's records field for field (a location becomes ``lat`` and
``lon``; maps and lists such as ``needs`` are JSON columns), so a record goes in and out by name
(``matcher.store.state``). History tables hold each nightly run, its ranked plans with their
assignment rows and explanations, and the team's decisions on the proposals.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ID = String(64)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, str: String(200)}


# -- today's state -------------------------------------------------------------------------------


class StateRow(Base):
    """The instance's meta and policy (one row), and where the current state came from."""

    __tablename__ = "state"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    as_of: Mapped[dt.date] = mapped_column(Date)
    needs: Mapped[list[Any]]
    policy: Mapped[dict[str, Any]]
    source_sha256: Mapped[str] = mapped_column(String(64))
    """Hash of the canonical JSON last imported (``import`` is a no-op when it is unchanged)."""
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ChildRow(Base):
    __tablename__ = "children"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    position: Mapped[int]
    age: Mapped[int]
    sex: Mapped[str] = mapped_column(String(1))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    needs: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    current_placement: Mapped[str | None] = mapped_column(ID)
    allowed_types: Mapped[list[Any] | None]
    return_home: Mapped[bool]
    requires_outreach: Mapped[bool]
    requires_sole: Mapped[bool]
    max_distance_km: Mapped[float | None] = mapped_column(Float)
    priority: Mapped[int]
    sibling_group: Mapped[str | None] = mapped_column(ID)
    staffing: Mapped[int]
    staffing_at: Mapped[dict[str, Any]]
    ruled_out: Mapped[list[Any]]
    in_care: Mapped[bool] = mapped_column(default=True)
    """False once an accepted plan returned the child home: no longer on tonight's list."""


class PlacementRow(Base):
    __tablename__ = "placements"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    position: Mapped[int]
    provider: Mapped[str]
    type: Mapped[str] = mapped_column(String(16))
    sector: Mapped[str] = mapped_column(String(16))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    in_area: Mapped[bool]
    capacity: Mapped[int]
    age_min: Mapped[int]
    age_max: Mapped[int]
    sexes: Mapped[list[Any]]
    meets: Mapped[dict[str, Any]]
    weekly_cost: Mapped[int]
    cost_uplift: Mapped[dict[str, Any]]
    block_beds: Mapped[int]
    block_weekly_cost: Mapped[int]
    staff_capacity: Mapped[int | None]
    residents: Mapped[list[ResidentRow]] = relationship(
        order_by="ResidentRow.position", cascade="all, delete-orphan"
    )


class ResidentRow(Base):
    __tablename__ = "residents"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    placement: Mapped[str] = mapped_column(ID, ForeignKey("placements.id", ondelete="CASCADE"))
    position: Mapped[int]
    age: Mapped[int]
    sex: Mapped[str] = mapped_column(String(1))
    needs: Mapped[dict[str, Any]]
    staffing: Mapped[int]


class OutreachTeamRow(Base):
    __tablename__ = "outreach_teams"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    position: Mapped[int]
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_km: Mapped[float] = mapped_column(Float)
    capacity: Mapped[int]
    weekly_cost: Mapped[int]
    uplift: Mapped[int]
    needs: Mapped[list[Any] | None]


class ConflictRow(Base):
    __tablename__ = "conflicts"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    a: Mapped[str] = mapped_column(ID)
    b: Mapped[str] = mapped_column(ID)
    reason: Mapped[str | None] = mapped_column(String(500))


class SiblingGroupRow(Base):
    __tablename__ = "sibling_groups"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    position: Mapped[int]
    together: Mapped[str] = mapped_column(String(16))


class DistanceRow(Base):
    __tablename__ = "distances"
    position: Mapped[int]
    child: Mapped[str] = mapped_column(ID, primary_key=True)
    placement: Mapped[str] = mapped_column(ID, primary_key=True)
    km: Mapped[float] = mapped_column(Float)


STATE_TABLES = (
    StateRow,
    ChildRow,
    ResidentRow,
    PlacementRow,
    OutreachTeamRow,
    ConflictRow,
    SiblingGroupRow,
    DistanceRow,
)
"""Every table ``import`` replaces, children of foreign keys first."""


# -- history -------------------------------------------------------------------------------------


class RunRow(Base):
    """One nightly run. ``status``: running, complete, interrupted (stopped by a signal, best
    plans so far saved), failed (an error; nothing saved) or abandoned (the process died)."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    state_sha256: Mapped[str] = mapped_column(String(64))
    instance: Mapped[str | None]
    referrals: Mapped[int | None]
    """Children who needed a place that night (new and ending): the history's arrival rate."""
    time_limit_s: Mapped[float] = mapped_column(Float)
    workers: Mapped[int]
    seed: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    solver_status: Mapped[str | None] = mapped_column(String(16))
    objective: Mapped[float | None] = mapped_column(Float)
    best_bound: Mapped[float | None] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float)
    warm_start: Mapped[bool] = mapped_column(default=False)
    best_solution_s: Mapped[float | None] = mapped_column(Float)
    wall_time_s: Mapped[float | None] = mapped_column(Float)
    solver: Mapped[dict[str, Any] | None]
    """The plan JSON's ``solver`` block."""
    infeasibility: Mapped[dict[str, Any] | None]
    report_dir: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    plans: Mapped[list[PlanRow]] = relationship(
        order_by="PlanRow.rank", cascade="all, delete-orphan"
    )


class PlanRow(Base):
    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    rank: Mapped[int]
    objective: Mapped[float] = mapped_column(Float)
    weekly_cost: Mapped[int]
    marginal_weekly_cost: Mapped[int]
    terms: Mapped[dict[str, Any]]
    changes_from_best: Mapped[list[Any]]
    explanations: Mapped[dict[str, Any] | None]
    assignments: Mapped[list[AssignmentRow]] = relationship(
        order_by="AssignmentRow.position", cascade="all, delete-orphan"
    )


class AssignmentRow(Base):
    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    position: Mapped[int]
    child: Mapped[str] = mapped_column(ID)
    placement: Mapped[str | None] = mapped_column(ID)
    outreach: Mapped[str | None] = mapped_column(ID)
    action: Mapped[str] = mapped_column(String(16))
    weekly_cost: Mapped[int]
    distance_km: Mapped[float] = mapped_column(Float)


class DecisionRow(Base):
    """A team's decision on one proposed action: accepted moves change the child's current
    placement; a rejected one rules the proposal out for later nights."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    plan_rank: Mapped[int]
    child: Mapped[str] = mapped_column(ID)
    placement: Mapped[str | None] = mapped_column(ID)
    outreach: Mapped[str | None] = mapped_column(ID)
    action: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime)


class SecretRow(Base):
    """Secrets the database keeps for itself, such as the key that redacts reports (stable
    across runs and imports)."""

    __tablename__ = "secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
