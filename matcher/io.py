"""Reading and writing instances: one JSON file or a folder of CSV tables (contract 1.8).

Every fault becomes an ``InvalidInstanceError`` whose problems name the file, the record and the
field. Writers are atomic (temporary file, then rename): a killed process never leaves half a
file.
This module imports no solver code.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from matcher.exceptions import InvalidInstanceError, Problem
from matcher.instance import Instance, ReferenceProblems

MAX_INPUT_BYTES = 200 * 1024 * 1024
"""Files larger than this are refused before parsing (a county instance is a few MB)."""

MAX_JSON_DEPTH = 32
"""The contract nests at most five levels; anything much deeper is malformed or hostile."""

TABLES = ("children", "placements", "outreach_teams", "conflicts", "sibling_groups", "residents")
LIST_SEPARATOR = ";"
SINGULAR = {
    "children": "child",
    "placements": "placement",
    "outreach_teams": "outreach team",
    "conflicts": "conflict",
    "sibling_groups": "sibling_group",
    "distances": "distance",
}


# --------------------------------------------------------------------------------------------------
# Errors


def _record_label(raw: Any, loc: tuple[Any, ...]) -> tuple[str, str]:
    """Turn a pydantic error location into (record, field), using ids where the record has one."""
    if not loc:
        return "", ""
    if len(loc) >= 2 and isinstance(loc[1], int):
        section, index = str(loc[0]), loc[1]
        record = f"{section}[{index}]"
        rows = raw.get(section) if isinstance(raw, dict) else None
        if isinstance(rows, list) and index < len(rows) and isinstance(rows[index], dict):
            record_id = rows[index].get("id")
            if isinstance(record_id, str):
                record = f"{SINGULAR.get(section, section)} {record_id}"
        return record, ".".join(str(part) for part in loc[2:])
    return str(loc[0]), ".".join(str(part) for part in loc[1:])


def _problems_from(error: ValidationError, raw: Any, file: str) -> list[Problem]:
    problems: list[Problem] = []
    for detail in error.errors():
        cause = detail.get("ctx", {}).get("error")
        if isinstance(cause, ReferenceProblems):
            problems.extend(Problem(file, p.record, p.field, p.message) for p in cause.problems)
            continue
        record, field = _record_label(raw, tuple(detail["loc"]))
        problems.append(Problem(file, record, field, detail["msg"]))
    return problems


def instance_from_dict(raw: Any, file: str = "<instance>") -> Instance:
    """Validate a parsed JSON document as an Instance, naming ``file`` in every problem."""
    if not isinstance(raw, dict):
        raise InvalidInstanceError([Problem(file, "", "", "the document must be a JSON object")])
    try:
        return Instance.model_validate(raw)
    except ValidationError as error:
        raise InvalidInstanceError(_problems_from(error, raw, file)) from None


# --------------------------------------------------------------------------------------------------
# Bytes in


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InvalidInstanceError(
            [Problem(str(path), "", "", f"cannot read: {error.strerror}")]
        ) from None
    if size > MAX_INPUT_BYTES:
        raise InvalidInstanceError(
            [Problem(str(path), "", "", f"file is {size} bytes, over the {MAX_INPUT_BYTES} limit")]
        )
    if size == 0:
        raise InvalidInstanceError([Problem(str(path), "", "", "file is empty")])
    return path.read_bytes()


def _decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInstanceError(
            [Problem(file, "", "", f"not UTF-8 text (byte {error.start}): re-save as UTF-8")]
        ) from None


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value, stopping once past ``limit``."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _parse_json(text: str, file: str) -> Any:
    """Parse JSON text. NaN and Infinity literals parse here and are refused by the records,
    so the message can name the record and field that holds them."""
    try:
        raw = json.loads(text)
    except RecursionError:
        raise InvalidInstanceError([Problem(file, "", "", "JSON is nested too deeply")]) from None
    except json.JSONDecodeError as error:
        where = f" (line {error.lineno}, column {error.colno})"
        raise InvalidInstanceError(
            [Problem(file, "", "", f"invalid JSON{where}: {error.msg}")]
        ) from None
    if _depth(raw, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise InvalidInstanceError(
            [Problem(file, "", "", f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")]
        )
    return raw


def read_json_file(path: Path) -> Any:
    """A JSON file parsed, with the size, encoding and nesting guards; errors name the file."""
    return _parse_json(_decode(_read_bytes(path), str(path)), str(path))


# --------------------------------------------------------------------------------------------------
# CSV bundle: cell conversion


def _split(cell: str) -> list[str] | None:
    return None if cell == "" else [part.strip() for part in cell.split(LIST_SEPARATOR)]


def _join(values: list[str] | None) -> str:
    return "" if values is None else LIST_SEPARATOR.join(values)


def _cell(value: str) -> Any:
    """A CSV cell as pydantic will see it: empty means absent; numbers stay text for pydantic."""
    return None if value == "" else value


def _prefixed(row: dict[str, str], prefix: str) -> dict[str, str]:
    return {
        key[len(prefix) :]: value
        for key, value in row.items()
        if key.startswith(prefix) and value not in ("", "0")
    }


def _location(row: dict[str, str]) -> dict[str, Any]:
    return {"lat": _cell(row.get("lat", "")), "lon": _cell(row.get("lon", ""))}


def _without_none(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if value is not None}


_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


def _bool(value: str) -> Any:
    return _BOOL_TEXT.get(value.strip().lower(), value) if value != "" else None


def _child_record(row: dict[str, str]) -> dict[str, Any]:
    return _without_none(
        {
            "id": _cell(row["id"]),
            "age": _cell(row["age"]),
            "sex": _cell(row["sex"]),
            "location": _location(row),
            "needs": _prefixed(row, "need."),
            "status": _cell(row["status"]),
            "current_placement": _cell(row.get("current_placement", "")),
            "allowed_types": _split(row.get("allowed_types", "")),
            "return_home": _bool(row.get("return_home", "")),
            "requires_outreach": _bool(row.get("requires_outreach", "")),
            "requires_sole": _bool(row.get("requires_sole", "")),
            "max_distance_km": _cell(row.get("max_distance_km", "")),
            "priority": _cell(row.get("priority", "")),
            "sibling_group": _cell(row.get("sibling_group", "")),
            "staffing": _cell(row.get("staffing", "")),
            "ruled_out": _split(row.get("ruled_out", "")),
        }
    )


def _placement_record(row: dict[str, str]) -> dict[str, Any]:
    return _without_none(
        {
            "id": _cell(row["id"]),
            "provider": _cell(row["provider"]),
            "type": _cell(row["type"]),
            "sector": _cell(row["sector"]),
            "location": _location(row),
            "in_area": _bool(row["in_area"]),
            "capacity": _cell(row["capacity"]),
            "age_min": _cell(row.get("age_min", "")),
            "age_max": _cell(row.get("age_max", "")),
            "sexes": _split(row.get("sexes", "")),
            "meets": _prefixed(row, "meets."),
            "weekly_cost": _cell(row["weekly_cost"]),
            "cost_uplift": _prefixed(row, "cost_uplift."),
            "block_beds": _cell(row.get("block_beds", "")),
            "block_weekly_cost": _cell(row.get("block_weekly_cost", "")),
            "staff_capacity": _cell(row.get("staff_capacity", "")),
        }
    )


def _resident_record(row: dict[str, str]) -> dict[str, Any]:
    return _without_none(
        {
            "age": _cell(row["age"]),
            "sex": _cell(row["sex"]),
            "needs": _prefixed(row, "need."),
            "staffing": _cell(row.get("staffing", "")),
        }
    )


def _team_record(row: dict[str, str]) -> dict[str, Any]:
    return _without_none(
        {
            "id": _cell(row["id"]),
            "location": _location(row),
            "radius_km": _cell(row["radius_km"]),
            "capacity": _cell(row["capacity"]),
            "weekly_cost": _cell(row["weekly_cost"]),
            "uplift": _cell(row.get("uplift", "")),
            "needs": _split(row.get("needs", "")),
        }
    )


def _plain_record(row: dict[str, str]) -> dict[str, Any]:
    return _without_none({key: _cell(value) for key, value in row.items()})


REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "children": ("id", "age", "sex", "lat", "lon", "status"),
    "placements": (
        "id",
        "provider",
        "type",
        "sector",
        "lat",
        "lon",
        "in_area",
        "capacity",
        "weekly_cost",
    ),
    "outreach_teams": ("id", "lat", "lon", "radius_km", "capacity", "weekly_cost"),
    "conflicts": ("a", "b"),
    "sibling_groups": ("id",),
    "residents": ("placement", "age", "sex"),
    "distances": ("child", "placement", "km"),
    "staffing": ("child", "placement", "units"),
}


def _read_table(folder: Path, table: str, optional: bool = False) -> list[dict[str, str]]:
    path = folder / f"{table}.csv"
    if not path.exists():
        if optional:
            return []
        raise InvalidInstanceError([Problem(str(path), "", "", "file is missing from the bundle")])
    text = _decode(_read_bytes(path), str(path))
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise InvalidInstanceError([Problem(str(path), "", "", f"invalid CSV: {error}")]) from None
    missing = [c for c in REQUIRED_COLUMNS[table] if c not in frame.columns]
    if missing:
        raise InvalidInstanceError(
            [Problem(str(path), "", column, "required column is missing") for column in missing]
        )
    return [{key: value.strip() for key, value in row.items()} for row in frame.to_dict("records")]


def read_bundle_dict(folder: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Assemble a CSV bundle into the JSON document shape; also return section -> file names."""
    raw: dict[str, Any] = {
        "meta": read_json_file(folder / "meta.json"),
        "policy": read_json_file(folder / "policy.json"),
    }
    tables = {table: _read_table(folder, table) for table in TABLES}
    residents: dict[str, list[dict[str, Any]]] = {}
    placement_ids = {row["id"] for row in tables["placements"]}
    for index, row in enumerate(tables["residents"]):
        if row["placement"] not in placement_ids:
            raise InvalidInstanceError(
                [
                    Problem(
                        str(folder / "residents.csv"),
                        f"row {index + 2}",
                        "placement",
                        f"unknown placement {row['placement']}",
                    )
                ]
            )
        residents.setdefault(row["placement"], []).append(_resident_record(row))
    converters: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
        "children": _child_record,
        "placements": _placement_record,
        "outreach_teams": _team_record,
        "conflicts": _plain_record,
        "sibling_groups": _plain_record,
    }
    for table, convert in converters.items():
        raw[table] = [convert(row) for row in tables[table]]
    for placement in raw["placements"]:
        placement["residents"] = residents.get(placement.get("id", ""), [])
    raw["distances"] = [_plain_record(row) for row in _read_table(folder, "distances", True)]
    staffing: dict[str, dict[str, Any]] = {}
    for row in _read_table(folder, "staffing", True):
        staffing.setdefault(row["child"], {})[row["placement"]] = _cell(row["units"])
    for child in raw["children"]:
        if child.get("id") in staffing:
            child["staffing_at"] = staffing[child["id"]]
    files = {
        section: str(folder / f"{section}.csv") for section in (*TABLES, "distances", "staffing")
    }
    files.update(meta=str(folder / "meta.json"), policy=str(folder / "policy.json"))
    return raw, files


# --------------------------------------------------------------------------------------------------
# Public reading API


def read_instance(path: str | os.PathLike[str]) -> Instance:
    """Read a JSON instance or a CSV bundle folder; raise ``InvalidInstanceError`` on any fault."""
    source = Path(path)
    if source.is_dir():
        raw, files = read_bundle_dict(source)
        try:
            return Instance.model_validate(raw)
        except ValidationError as error:
            problems = _problems_from(error, raw, str(source))
            raise InvalidInstanceError(
                [_in_bundle_file(problem, files, source) for problem in problems]
            ) from None
    raw = read_json_file(source)
    return instance_from_dict(raw, str(source))


def _in_bundle_file(problem: Problem, files: dict[str, str], folder: Path) -> Problem:
    """Point a bundle problem at the CSV file its record came from."""
    head = problem.record.split("[")[0]
    section = next(
        (plural for plural, single in SINGULAR.items() if head.startswith((single, plural))),
        head.split(" ")[0],
    )
    if section.startswith("policy"):
        section = "policy"
    return Problem(files.get(section, str(folder)), problem.record, problem.field, problem.message)


def instance_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the input file bytes, or of the canonical JSON of a bundle folder (contract 3)."""
    source = Path(path)
    if source.is_dir():
        return hashlib.sha256(canonical_json(read_instance(source)).encode()).hexdigest()
    return hashlib.sha256(source.read_bytes()).hexdigest()


def canonical_json(instance: Instance) -> str:
    """Sorted-key, compact JSON of the full instance: equal instances give equal text."""
    return json.dumps(instance_to_dict(instance), sort_keys=True, separators=(",", ":"))


def instance_to_dict(instance: Instance) -> dict[str, Any]:
    return instance.model_dump(mode="json")


def instance_schema() -> dict[str, Any]:
    """The JSON Schema of an instance document."""
    return Instance.model_json_schema()


# --------------------------------------------------------------------------------------------------
# Writing


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())  # on disk before the rename makes it the file
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike[str], document: Any) -> None:
    write_text_atomic(path, json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def write_instance_json(instance: Instance, path: str | os.PathLike[str]) -> None:
    write_json(path, instance_to_dict(instance))


def _level_columns(prefix: str, vocabulary: list[str], levels: dict[str, int]) -> dict[str, int]:
    return {f"{prefix}{need}": levels.get(need, 0) for need in vocabulary}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def uses_staffing(instance: Instance) -> bool:
    """Whether any record departs from the staffing extension's defaults."""
    return (
        any(p.staff_capacity is not None for p in instance.placements)
        or any(c.staffing != 1 or c.staffing_at for c in instance.children)
        or any(r.staffing != 1 for p in instance.placements for r in p.residents)
    )


def bundle_frames(instance: Instance) -> dict[str, pd.DataFrame]:
    """The CSV tables of an instance, every cell already text. The staffing extension's columns
    and ``staffing.csv`` appear only when some record uses staffing."""
    needs = list(instance.meta.needs)
    staffing_used = uses_staffing(instance)
    rules_out = any(c.ruled_out for c in instance.children)
    children = [
        {
            "id": c.id,
            "age": c.age,
            "sex": c.sex,
            "lat": c.location.lat,
            "lon": c.location.lon,
            "status": c.status,
            "current_placement": c.current_placement,
            "allowed_types": _join(c.allowed_types),
            "return_home": c.return_home,
            "requires_outreach": c.requires_outreach,
            "requires_sole": c.requires_sole,
            "max_distance_km": c.max_distance_km,
            "priority": c.priority,
            "sibling_group": c.sibling_group,
            **({"staffing": c.staffing} if staffing_used else {}),
            **({"ruled_out": _join(c.ruled_out)} if rules_out else {}),
            **_level_columns("need.", needs, c.needs),
        }
        for c in instance.children
    ]
    placements = [
        {
            "id": p.id,
            "provider": p.provider,
            "type": p.type,
            "sector": p.sector,
            "lat": p.location.lat,
            "lon": p.location.lon,
            "in_area": p.in_area,
            "capacity": p.capacity,
            "age_min": p.age_min,
            "age_max": p.age_max,
            "sexes": _join(list(p.sexes)),
            "weekly_cost": p.weekly_cost,
            "block_beds": p.block_beds,
            "block_weekly_cost": p.block_weekly_cost,
            **({"staff_capacity": p.staff_capacity} if staffing_used else {}),
            **_level_columns("meets.", needs, p.meets),
            **_level_columns("cost_uplift.", needs, p.cost_uplift),
        }
        for p in instance.placements
    ]
    residents = [
        {
            "placement": p.id,
            "age": r.age,
            "sex": r.sex,
            **({"staffing": r.staffing} if staffing_used else {}),
            **_level_columns("need.", needs, r.needs),
        }
        for p in instance.placements
        for r in p.residents
    ]
    staffing = [
        {"child": c.id, "placement": placement, "units": units}
        for c in instance.children
        for placement, units in c.staffing_at.items()
    ]
    teams = [
        {
            "id": t.id,
            "lat": t.location.lat,
            "lon": t.location.lon,
            "radius_km": t.radius_km,
            "capacity": t.capacity,
            "weekly_cost": t.weekly_cost,
            "uplift": t.uplift,
            "needs": _join(t.needs),
        }
        for t in instance.outreach_teams
    ]
    tables: dict[str, tuple[list[dict[str, Any]], list[str]]] = {
        "children": (children, ["id", "age", "sex", "lat", "lon", "status"]),
        "placements": (placements, list(REQUIRED_COLUMNS["placements"])),
        "residents": (residents, ["placement", "age", "sex", *(f"need.{n}" for n in needs)]),
        "outreach_teams": (teams, list(REQUIRED_COLUMNS["outreach_teams"])),
        "conflicts": ([c.model_dump() for c in instance.conflicts], ["a", "b", "reason"]),
        "sibling_groups": ([g.model_dump() for g in instance.sibling_groups], ["id", "together"]),
        "distances": ([d.model_dump() for d in instance.distances], ["child", "placement", "km"]),
    }
    if staffing_used:
        tables["staffing"] = (staffing, list(REQUIRED_COLUMNS["staffing"]))
    frames = {}
    for table, (rows, columns) in tables.items():
        frame = pd.DataFrame(rows, columns=list(rows[0]) if rows else columns, dtype=object)
        frames[table] = frame.map(_text) if rows else frame
    return frames


def write_bundle(instance: Instance, folder: str | os.PathLike[str]) -> None:
    """Write ``instance`` as a CSV bundle; the folder is replaced whole, never half-written."""
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for table, frame in bundle_frames(instance).items():
            frame.to_csv(staging / f"{table}.csv", index=False)
        dumped = instance_to_dict(instance)
        for section in ("meta", "policy"):
            (staging / f"{section}.json").write_text(json.dumps(dumped[section], indent=1) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_instance(instance: Instance, path: str | os.PathLike[str]) -> None:
    """Write JSON when ``path`` ends in .json, otherwise a CSV bundle folder."""
    if str(path).endswith(".json"):
        write_instance_json(instance, path)
    else:
        write_bundle(instance, path)
