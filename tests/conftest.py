import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture
def shared_examples() -> Path:
    folder = SHARED / "spec" / "examples"
    if not folder.is_dir():
        pytest.skip("shared/spec/examples is not beside this checkout")
    return folder
