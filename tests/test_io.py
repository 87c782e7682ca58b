"""Reading and writing: JSON <-> CSV round trips, the schema, and every validation rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from matcher.exceptions import InvalidInstanceError
from matcher.generate import SHAPES, generate
from matcher.io import (
    canonical_json,
    instance_from_dict,
    instance_schema,
    read_instance,
    write_bundle,
    write_instance_json,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_json_csv_json_round_trips_exactly(tmp_path: Path, shape: str) -> None:
    data = generate(shape, 40, seed=5)
    write_instance_json(data, tmp_path / "a.json")
    write_bundle(read_instance(tmp_path / "a.json"), tmp_path / "bundle")
    write_instance_json(read_instance(tmp_path / "bundle"), tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert canonical_json(read_instance(tmp_path / "bundle")) == canonical_json(data)


def test_shared_examples_round_trip(tmp_path: Path, shared_examples: Path) -> None:
    for source in shared_examples.glob("*.json"):
        data = read_instance(source)
        write_bundle(data, tmp_path / source.stem)
        assert read_instance(tmp_path / source.stem) == data


def test_every_contract_field_appears_in_some_generated_shape() -> None:
    seen: dict[str, set[str]] = {"child": set(), "placement": set(), "team": set(), "policy": set()}
    for shape in SHAPES:
        data = generate(shape, 120, seed=1)
        for c in data.children:
            seen["child"] |= c.model_dump(exclude_defaults=True).keys()
        for p in data.placements:
            seen["placement"] |= p.model_dump(exclude_defaults=True).keys()
        for t in data.outreach_teams:
            seen["team"] |= t.model_dump(exclude_defaults=True).keys()
        seen["policy"] |= data.policy.model_dump(exclude_none=True).keys()
        if data.distances:
            seen["policy"].add("distances")
    assert {
        "requires_sole",
        "return_home",
        "requires_outreach",
        "max_distance_km",
        "priority",
        "sibling_group",
        "allowed_types",
        "current_placement",
    } <= seen["child"]
    assert {
        "residents",
        "block_beds",
        "block_weekly_cost",
        "cost_uplift",
        "sexes",
        "meets",
    } <= seen["placement"]
    assert {"needs"} <= seen["team"]
    assert {"max_moves", "weekly_budget", "max_distance_km", "distances"} <= seen["policy"]


def test_schema_describes_the_instance() -> None:
    schema = instance_schema()
    assert {"meta", "children", "placements"} <= set(schema["properties"])


def _valid() -> dict[str, Any]:
    return json.loads((ROOT / "instances" / "tiny.json").read_text())


def _break(edit: Any) -> dict[str, Any]:
    document = _valid()
    edit(document)
    return document


BROKEN = {
    "duplicate child id": (lambda d: d["children"].append(dict(d["children"][0])), "child A", "id"),
    "dangling current placement": (
        lambda d: d["children"][1].update(current_placement="NOPE"),
        "child B",
        "current_placement",
    ),
    "dangling sibling group": (
        lambda d: d["children"][0].update(sibling_group="G9"),
        "child A",
        "sibling_group",
    ),
    "dangling conflict": (lambda d: d["conflicts"].append({"a": "A", "b": "Z"}), "conflict 1", "b"),
    "dangling distance": (
        lambda d: d["distances"].append({"child": "A", "placement": "X", "km": 1}),
        "distance",
        "placement",
    ),
    "unknown need key": (
        lambda d: d["children"][0]["needs"].update(agression=1),
        "child A",
        "needs",
    ),
    "age out of range": (lambda d: d["children"][0].update(age=30), "child A", "age"),
    "level out of range": (
        lambda d: d["children"][0]["needs"].update(aggression=4),
        "child A",
        "needs.aggression",
    ),
    "negative capacity": (
        lambda d: d["placements"][0].update(capacity=-1),
        "placement FC1",
        "capacity",
    ),
    "status without placement": (
        lambda d: d["children"][1].pop("current_placement"),
        "child B",
        "current_placement",
    ),
    "residents over capacity": (
        lambda d: d["placements"][2].update(capacity=0),
        "placement RH1",
        "residents",
    ),
    "nan weight": (
        lambda d: d["policy"]["weights"].update(unplaced=float("nan")),
        "policy",
        "weights.unplaced",
    ),
    "infinite distance": (lambda d: d["distances"][0].update(km=float("inf")), "distance", "km"),
    "latitude out of range": (
        lambda d: d["children"][0]["location"].update(lat=95),
        "child A",
        "location.lat",
    ),
    "unknown field": (lambda d: d["children"][0].update(nmae="x"), "child A", "nmae"),
    "age_min above age_max": (
        lambda d: d["placements"][0].update(age_min=12, age_max=5),
        "placement FC1",
        "age_min",
    ),
}


@pytest.mark.parametrize("defect", sorted(BROKEN))
def test_bad_json_names_file_record_and_field(tmp_path: Path, defect: str) -> None:
    edit, record, field = BROKEN[defect]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(_break(edit)))
    with pytest.raises(InvalidInstanceError) as caught:
        read_instance(path)
    problems = caught.value.problems
    assert any(
        p.file == str(path) and p.record.startswith(record) and p.field == field for p in problems
    ), problems


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe\x00garbage", "UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b"[" * 100 + b"]" * 100, "nested"),
    ],
)
def test_unreadable_json_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(InvalidInstanceError, match=message):
        read_instance(path)


def test_bundle_problems_point_at_the_csv_file(tmp_path: Path) -> None:
    write_bundle(read_instance(ROOT / "instances" / "tiny.json"), tmp_path / "b")
    children = (tmp_path / "b" / "children.csv").read_text().replace("\nD,12,", "\nD,99,")
    (tmp_path / "b" / "children.csv").write_text(children)
    with pytest.raises(InvalidInstanceError) as caught:
        read_instance(tmp_path / "b")
    problem = caught.value.problems[0]
    assert (
        problem.file.endswith("children.csv")
        and problem.record == "child D"
        and problem.field == "age"
    )


def test_bundle_missing_column_and_wrong_encoding(tmp_path: Path) -> None:
    write_bundle(read_instance(ROOT / "instances" / "tiny.json"), tmp_path / "b")
    placements = tmp_path / "b" / "placements.csv"
    frame = placements.read_text().splitlines()
    header = frame[0].split(",")
    drop = header.index("capacity")
    placements.write_text(
        "\n".join(",".join(c for k, c in enumerate(r.split(",")) if k != drop) for r in frame)
    )
    with pytest.raises(InvalidInstanceError, match="capacity: required column is missing"):
        read_instance(tmp_path / "b")
    (tmp_path / "b" / "placements.csv").write_bytes("id,provider\nX,caf\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidInstanceError, match="UTF-8"):
        read_instance(tmp_path / "b")


def test_the_readme_instance_example_is_valid() -> None:
    """The JSON example in the README's input section loads: documentation that cannot rot."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index('```json\n{\n  "meta"') + len("```json\n")
    example = json.loads(readme[start : readme.index("```", start)])
    data = instance_from_dict(example, "README.md")
    assert [c.id for c in data.children] == ["C1", "C2"]


def test_the_staffing_extension_round_trips_and_checks_its_references(tmp_path: Path) -> None:
    from helpers import child, instance, place

    resident = {"age": 14, "sex": "M", "staffing": 2}
    data = instance(
        [child("A", staffing=2, staffing_at={"P": 3}), child("B")],
        [place("P", capacity=3, staff_capacity=6, residents=[resident]), place("Q")],
    )
    write_bundle(data, tmp_path / "bundle")
    assert (tmp_path / "bundle" / "staffing.csv").read_text().splitlines() == [
        "child,placement,units",
        "A,P,3",
    ]
    assert read_instance(tmp_path / "bundle") == data
    document = json.loads(canonical_json(data))
    document["children"][0]["staffing_at"] = {"NOWHERE": 1}
    with pytest.raises(InvalidInstanceError) as caught:
        instance_from_dict(document, "x.json")
    [problem] = caught.value.problems
    assert (problem.record, problem.field) == ("child A", "staffing_at")


def test_residents_using_more_staff_than_a_placement_has_are_refused() -> None:
    from helpers import child, place

    resident = {"age": 14, "sex": "M", "staffing": 3}
    document = {
        "meta": {"name": "staff", "as_of": "2026-11-26"},
        "children": [child("A")],
        "placements": [place("P", capacity=2, staff_capacity=2, residents=[resident])],
    }
    with pytest.raises(InvalidInstanceError) as caught:
        instance_from_dict(document, "staff.json")
    [problem] = caught.value.problems
    assert (problem.file, problem.record, problem.field) == (
        "staff.json",
        "placement P",
        "staff_capacity",
    )


def test_the_ruled_out_extension_round_trips_and_checks_its_references(tmp_path: Path) -> None:
    from helpers import child, instance, place

    data = instance(
        [child("A", ruled_out=["P", "home"]), child("B", status="settled", current_placement="Q")],
        [place("P"), place("Q")],
    )
    write_bundle(data, tmp_path / "bundle")
    assert read_instance(tmp_path / "bundle") == data
    for ruled_out, message in (["NOWHERE"], "unknown placement"), (["Q"], "stay"):
        document = json.loads(canonical_json(data))
        document["children"][1]["ruled_out"] = ruled_out
        with pytest.raises(InvalidInstanceError) as caught:
            instance_from_dict(document, "x.json")
        [problem] = caught.value.problems
        assert (problem.record, problem.field) == ("child B", "ruled_out")
        assert message in problem.message


def test_the_generator_remakes_the_shipped_county_instance() -> None:
    """Same shape, size and seed, same instance: the shipped ``county-300.json`` was made by
    ``generate --shape county --children 300 --seed 11``, and speeding the generator up must not
    change what it makes."""
    shipped = read_instance(ROOT / "instances" / "county-300.json")
    assert generate("county", 300, 11) == shipped
