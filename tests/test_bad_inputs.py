"""The broken-input corpus (``tests/bad_inputs/``, rebuilt by its ``build.py``): every case gives
exit code 2 and one message naming the file, record and field, with no traceback and nothing
written, from the command line and as a typed exception from the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from matcher.cli import main
from matcher.exceptions import InvalidInstanceError
from matcher.io import MAX_INPUT_BYTES, read_instance

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASES: dict[str, list[str]] = json.loads((CORPUS / "cases.json").read_text())


def test_the_corpus_has_at_least_40_cases_of_both_kinds() -> None:
    assert len(CASES) >= 40
    assert sum(name.endswith(".json") for name in CASES) >= 30
    assert sum((CORPUS / name).is_dir() for name in CASES) >= 5
    on_disk = {p.name for p in CORPUS.iterdir()} - {"build.py", "cases.json", "__pycache__"}
    assert on_disk == set(CASES), "cases.json and the files agree"


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_broken_input_exits_2_naming_file_record_and_field(name: str, tmp_path: Path) -> None:
    path = CORPUS / name
    plan = tmp_path / "plan.json"
    for command in (["validate", str(path)], ["solve", str(path), "--out", str(plan)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, result.output
        message = result.stderr
        assert "Traceback" not in message and "internal error" not in message
        assert str(path) in message
        for expected in CASES[name]:
            assert expected in message, (expected, message)
    assert not plan.exists(), "nothing written"
    with pytest.raises(InvalidInstanceError) as caught:
        read_instance(path)
    assert caught.value.problems and all(str(path) in p.file for p in caught.value.problems)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as handle:  # sparse: no disk used
        handle.truncate(MAX_INPUT_BYTES + 1)
    result = CliRunner().invoke(main, ["validate", str(huge)])
    assert result.exit_code == 2 and "over the" in result.stderr and "huge.json" in result.stderr
