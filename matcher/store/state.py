"""Today's state in the database: import an instance, and load it back for tonight's run.

``import_instance`` replaces the whole state in one transaction, so a bad file changes nothing
(it is validated in full before the database is touched) and importing the same file twice is a
no-op. ``load_state`` rebuilds the instance in the imported order, leaves out children an accepted
plan returned home, and adds each rejected proposal to its child's ``ruled_out``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.orm import DeclarativeBase

from matcher.eligibility import HOME
from matcher.exceptions import StoreError
from matcher.instance import Instance
from matcher.io import canonical_json, instance_from_dict, instance_to_dict
from matcher.store.schema import (
    STATE_TABLES,
    ChildRow,
    ConflictRow,
    DecisionRow,
    DistanceRow,
    OutreachTeamRow,
    PlacementRow,
    ResidentRow,
    SiblingGroupRow,
    StateRow,
)

RECORD_TABLES: dict[str, type[DeclarativeBase]] = {
    "children": ChildRow,
    "placements": PlacementRow,
    "outreach_teams": OutreachTeamRow,
    "conflicts": ConflictRow,
    "sibling_groups": SiblingGroupRow,
    "distances": DistanceRow,
}
"""The instance's record lists and the table each is stored in."""


def state_sha256(instance: Instance) -> str:
    """Hash of an instance's canonical JSON: equal states hash equal."""
    return hashlib.sha256(canonical_json(instance).encode()).hexdigest()


def _row(table: type[DeclarativeBase], record: dict[str, Any], position: int) -> dict[str, Any]:
    """A record as a table row: its location split into lat and lon, its position kept."""
    row = dict(record)
    location = row.pop("location", None)
    if location is not None:
        row["lat"], row["lon"] = location["lat"], location["lon"]
    if "position" in table.__table__.columns:
        row["position"] = position
    return row


def _record(row: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A table row as a contract record: lat and lon joined into a location."""
    record = {key: value for key, value in row.items() if key not in drop}
    if "lat" in record:
        record["location"] = {"lat": record.pop("lat"), "lon": record.pop("lon")}
    return record


def import_instance(engine: Engine, instance: Instance) -> bool:
    """Make ``instance`` the database's state in one transaction; False if it already was."""
    digest = state_sha256(instance)
    document = instance_to_dict(instance)
    with engine.begin() as connection:
        current = connection.execute(select(StateRow.source_sha256)).scalar()
        if current == digest:
            return False
        for table in STATE_TABLES:
            connection.execute(delete(table))
        meta = document["meta"]
        connection.execute(
            insert(StateRow),
            [
                {
                    "id": 1,
                    "name": meta["name"],
                    "as_of": dt.date.fromisoformat(meta["as_of"]),
                    "needs": meta["needs"],
                    "policy": document["policy"],
                    "source_sha256": digest,
                    "imported_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                }
            ],
        )
        residents = []
        for placement in document["placements"]:
            for k, resident in enumerate(placement.pop("residents")):
                residents.append({**resident, "placement": placement["id"], "position": k})
        for key, table in RECORD_TABLES.items():
            rows = [_row(table, record, k) for k, record in enumerate(document[key])]
            if rows:
                connection.execute(insert(table), rows)
        if residents:
            connection.execute(insert(ResidentRow), residents)
    return True


def load_state(engine: Engine, source: str) -> Instance:
    """Tonight's instance: the imported state, accepted decisions applied (they changed the
    children's rows), children returned home left out, rejected proposals ruled out."""
    with engine.connect() as connection:
        state = connection.execute(select(StateRow)).mappings().first()
        if state is None:
            raise StoreError(f"{source} holds no state yet: run `placement-matcher import` first")
        meta = {"name": state["name"], "as_of": state["as_of"].isoformat(), "needs": state["needs"]}
        document: dict[str, Any] = {"meta": meta, "policy": state["policy"]}
        for key, table in RECORD_TABLES.items():
            document[key] = _records(connection, table)
        residents = defaultdict(list)
        for row in _rows(connection, ResidentRow):
            residents[row["placement"]].append(_record(row, ("id", "placement", "position")))
        for placement in document["placements"]:
            placement["residents"] = residents[placement["id"]]
        _leave_out_children_not_in_care(document)
        _rule_out_rejections(connection, document)
    return instance_from_dict(document, source)


def _rows(connection: Connection, table: type[DeclarativeBase]) -> list[dict[str, Any]]:
    columns = table.__table__.columns
    order = columns["position"] if "position" in columns else columns["id"]
    return [dict(row) for row in connection.execute(select(table).order_by(order)).mappings()]


def _records(connection: Connection, table: type[DeclarativeBase]) -> list[dict[str, Any]]:
    drop = ("position",) + (("id",) if table is ConflictRow else ())
    return [_record(row, drop) for row in _rows(connection, table)]


def _leave_out_children_not_in_care(document: dict[str, Any]) -> None:
    children = [c for c in document["children"] if c.pop("in_care")]
    present = {c["id"] for c in children}
    document["children"] = children
    document["conflicts"] = [
        c for c in document["conflicts"] if c["a"] in present and c["b"] in present
    ]
    document["distances"] = [d for d in document["distances"] if d["child"] in present]


def _rule_out_rejections(connection: Connection, document: dict[str, Any]) -> None:
    """Add each rejected proposal to its child's ``ruled_out``, while it still means something:
    the child is here, the placement exists, and it is not (now) the child's stay."""
    children = {c["id"]: c for c in document["children"]}
    placements = {p["id"] for p in document["placements"]}
    rejected = connection.execute(
        select(DecisionRow.child, DecisionRow.placement)
        .where(DecisionRow.decision == "rejected")
        .order_by(DecisionRow.id)
    )
    for child_id, placement in rejected:
        child = children.get(child_id)
        if child is None or (placement not in placements and placement != HOME):
            continue
        staying = child["status"] in ("settled", "at_risk") and (
            child["current_placement"] == placement
        )
        if not staying and placement not in child["ruled_out"]:
            child["ruled_out"].append(placement)
