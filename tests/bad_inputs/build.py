"""Rebuild the broken-input corpus beside this file from ``instances/tiny.json``.

    .venv/bin/python tests/bad_inputs/build.py

Each case is one broken JSON file or CSV bundle folder, and ``cases.json`` lists, for each, the
text the error message must contain besides the file name (the record and the field, where the
fault has them). ``tests/test_bad_inputs.py`` runs every case through the command line and the
Python API. The files are committed; this script documents how each was made.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
Doc = dict[str, Any]


def _child(doc: Doc, cid: str) -> Doc:
    return next(c for c in doc["children"] if c["id"] == cid)


def _place(doc: Doc, pid: str) -> Doc:
    return next(p for p in doc["placements"] if p["id"] == pid)


def _set(path: Callable[[Doc], Doc], key: str, value: Any) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        path(doc)[key] = value

    return edit


def _drop(path: Callable[[Doc], Doc], key: str) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        del path(doc)[key]

    return edit


def _duplicate(section: str) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        doc[section].append(copy.deepcopy(doc[section][0]))

    return edit


def _child_a(doc: Doc) -> Doc:
    return _child(doc, "A")


def _child_b(doc: Doc) -> Doc:
    return _child(doc, "B")


def _fc1(doc: Doc) -> Doc:
    return _place(doc, "FC1")


def _meta(doc: Doc) -> Doc:
    return doc["meta"]


def _weights(doc: Doc) -> Doc:
    return doc["policy"]["weights"]


def _add_team(radius: float) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        doc["outreach_teams"] = [
            {
                "id": "T1",
                "location": {"lat": 52.6, "lon": -1.2},
                "radius_km": radius,
                "capacity": 2,
                "weekly_cost": 600,
            }
        ]

    return edit


def _rule(doc: Doc) -> None:
    doc["policy"]["rules"]["max_per_placement"] = [{"need": "nonsense", "min_level": 1, "max": 1}]


def _nested(doc: Doc) -> None:
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    doc["meta"]["deep"] = deep


JSON_CASES: dict[str, tuple[Callable[[Doc], None], list[str]]] = {
    "wrong_type_age": (_set(_child_a, "age", "ten"), ["child A", "age"]),
    "missing_child_id": (_drop(_child_a, "id"), ["children[0]", "id"]),
    "missing_status": (_drop(_child_a, "status"), ["child A", "status"]),
    "missing_placement_capacity": (_drop(_fc1, "capacity"), ["placement FC1", "capacity"]),
    "unknown_need_key": (_set(_child_a, "needs", {"agression": 1}), ["child A", "needs"]),
    "unknown_field_name": (_set(_child_a, "name", "Jo Bloggs"), ["child A", "name"]),
    "dangling_current_placement": (
        _set(_child_b, "current_placement", "NOPE"),
        ["child B", "current_placement"],
    ),
    "duplicate_child_id": (_duplicate("children"), ["child A", "id"]),
    "duplicate_placement_id": (_duplicate("placements"), ["placement FC1", "id"]),
    "negative_capacity": (_set(_fc1, "capacity", -2), ["placement FC1", "capacity"]),
    "absurd_weekly_cost": (_set(_fc1, "weekly_cost", 10**12), ["placement FC1", "weekly_cost"]),
    "negative_weekly_cost": (_set(_fc1, "weekly_cost", -400), ["placement FC1", "weekly_cost"]),
    "latitude_out_of_range": (
        _set(_child_a, "location", {"lat": 123.0, "lon": -1.2}),
        ["child A", "location"],
    ),
    "longitude_out_of_range": (
        _set(_fc1, "location", {"lat": 52.6, "lon": -270.0}),
        ["placement FC1", "location"],
    ),
    "child_in_two_sibling_groups": (
        _set(_child_a, "sibling_group", ["G1", "G2"]),
        ["child A", "sibling_group"],
    ),
    "unknown_sibling_group": (_set(_child_a, "sibling_group", "G9"), ["child A", "sibling_group"]),
    "ending_without_current_placement": (
        _set(_child_a, "status", "ending"),
        ["child A", "current_placement"],
    ),
    "conflict_with_unknown_child": (
        lambda doc: doc["conflicts"].append({"a": "A", "b": "ZZ"}),
        ["conflict", "ZZ"],
    ),
    "distance_for_unknown_placement": (
        lambda doc: doc["distances"].append({"child": "A", "placement": "NOPE", "km": 3}),
        ["distance", "placement"],
    ),
    "negative_distance": (
        lambda doc: doc["distances"].append({"child": "B", "placement": "FC1", "km": -5}),
        ["distances", "km"],
    ),
    "age_over_25": (_set(_child_a, "age", 40), ["child A", "age"]),
    "sex_not_allowed": (_set(_child_a, "sex", "Q"), ["child A", "sex"]),
    "status_not_allowed": (_set(_child_a, "status", "moved"), ["child A", "status"]),
    "priority_out_of_range": (_set(_child_a, "priority", 7), ["child A", "priority"]),
    "need_level_out_of_range": (
        _set(_child_a, "needs", {"aggression": 5}),
        ["child A", "needs"],
    ),
    "age_min_above_age_max": (
        lambda doc: _fc1(doc).update({"age_min": 18, "age_max": 10}),
        ["placement FC1", "age_min"],
    ),
    "unknown_placement_type": (_set(_fc1, "type", "hotel"), ["placement FC1", "type"]),
    "meta_without_name": (_drop(_meta, "name"), ["meta", "name"]),
    "as_of_not_a_date": (_set(_meta, "as_of", "26/11/2026"), ["meta", "as_of"]),
    "ruled_out_unknown_placement": (
        _set(_child_a, "ruled_out", ["NOPE"]),
        ["child A", "ruled_out"],
    ),
    "team_negative_radius": (_add_team(-4), ["T1", "radius_km"]),
    "negative_block_beds": (_set(_fc1, "block_beds", -1), ["placement FC1", "block_beds"]),
    "allowed_type_unknown": (
        _set(_child_a, "allowed_types", ["boarding_school"]),
        ["child A", "allowed_types"],
    ),
    "id_with_spaces": (_set(_child_a, "id", "A B"), ["id"]),
    "negative_weight": (_set(_weights, "distance_per_km", -5), ["policy", "distance_per_km"]),
    "rule_with_unknown_need": (_rule, ["max_per_placement", "nonsense"]),
    "boolean_as_text": (_set(_fc1, "in_area", "perhaps"), ["placement FC1", "in_area"]),
    "null_age": (_set(_child_a, "age", None), ["child A", "age"]),
}

RAW_CASES: dict[str, tuple[bytes, list[str]]] = {
    "syntax_error.json": (
        b'{"meta": {"name": "x", "as_of": "2026-11-26"}, "children": [',
        ["JSON"],
    ),
    "empty.json": (b"", ["empty"]),
    "not_an_object.json": (b"[1, 2, 3]", ["JSON object"]),
    "not_utf8.json": ('{"meta": {"name": "caf\u00e9"}}'.encode("latin-1"), ["UTF-8"]),
    "nan_latitude.json": (b"", ["child A", "location"]),
    "infinite_cost.json": (b"", ["placement FC1", "weekly_cost"]),
    "deeply_nested.json": (b"", ["nested"]),
}


def _csv_edit(file: str, edit: Callable[[str], str]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / file
        path.write_text(edit(path.read_text()))

    return apply


def _csv_bytes(file: str, data: Callable[[str], bytes]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / file
        path.write_bytes(data(path.read_text()))

    return apply


def _drop_column(text: str, column: str) -> str:
    rows = [line.split(",") for line in text.splitlines()]
    k = rows[0].index(column)
    return "\n".join(",".join(r[:k] + r[k + 1 :]) for r in rows) + "\n"


CSV_CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "csv_missing_column": (
        _csv_edit("children.csv", lambda t: _drop_column(t, "age")),
        ["children.csv", "age"],
    ),
    "csv_wrong_encoding": (
        _csv_bytes("children.csv", lambda t: t.replace("new", "n\u00e9w", 1).encode("latin-1")),
        ["children.csv", "UTF-8"],
    ),
    "csv_bad_number": (
        _csv_edit("children.csv", lambda t: t.replace("A,10,", "A,ten,", 1)),
        ["children.csv", "child A", "age"],
    ),
    "csv_missing_file": (lambda folder: (folder / "placements.csv").unlink(), ["placements.csv"]),
    "csv_bad_boolean": (
        _csv_edit("placements.csv", lambda t: t.replace(",true,1,", ",maybe,1,", 1)),
        ["placements.csv", "placement FC1", "in_area"],
    ),
    "csv_resident_of_unknown_placement": (
        _csv_edit("residents.csv", lambda t: t.replace("RH1,", "RH9,", 1)),
        ["residents.csv", "RH9"],
    ),
    "csv_policy_not_json": (
        _csv_edit("policy.json", lambda t: t[: len(t) // 2]),
        ["policy.json", "JSON"],
    ),
    "csv_empty_children": (
        _csv_edit("children.csv", lambda t: ""),
        ["children.csv"],
    ),
}


def main() -> None:
    base = json.loads((ROOT / "instances/tiny.json").read_text())
    for old in HERE.iterdir():
        if old.name not in ("build.py", "__pycache__"):
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    cases: dict[str, list[str]] = {}
    for name, (edit, expected) in JSON_CASES.items():
        doc = copy.deepcopy(base)
        edit(doc)
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1))
        cases[f"{name}.json"] = expected
    for name, (data, expected) in RAW_CASES.items():
        if name == "nan_latitude.json":
            doc = copy.deepcopy(base)
            doc["children"][0]["location"]["lat"] = float("nan")
            data = json.dumps(doc).encode()
        elif name == "infinite_cost.json":
            doc = copy.deepcopy(base)
            doc["placements"][0]["weekly_cost"] = float("inf")
            data = json.dumps(doc).encode()
        elif name == "deeply_nested.json":
            doc = copy.deepcopy(base)
            _nested(doc)
            data = json.dumps(doc).encode()
        (HERE / name).write_bytes(data)
        cases[name] = expected
    bundle = HERE / "_bundle"
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "convert", str(ROOT / "instances/tiny.json")]
        + [str(bundle)],
        check=True,
        capture_output=True,
    )
    for name, (edit, expected) in CSV_CASES.items():
        shutil.copytree(bundle, HERE / name)
        edit(HERE / name)
        cases[name] = expected
    shutil.rmtree(bundle)
    (HERE / "cases.json").write_text(json.dumps(cases, indent=1, sort_keys=True) + "\n")
    print(f"{len(cases)} cases written to {HERE}")


if __name__ == "__main__":
    main()
