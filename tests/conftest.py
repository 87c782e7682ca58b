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


def required_service(variable: str, what: str) -> None:
    """Skip a test whose service is missing, except under CI (MATCHER_CI=1), where `.ci/run`
    starts every service: there a missing one is a failure, not a skip."""
    import os

    if os.environ.get("MATCHER_CI") == "1":
        pytest.fail(f"{what} is missing under CI ({variable} not set or not found)")
    pytest.skip(f"{what} is not available here ({variable}); `.ci/run` provides it")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or the PostgreSQL server `.ci/run` starts
    (MATCHER_TEST_POSTGRES), emptied first."""
    import os

    if request.param == "sqlite":
        return str(tmp_path / "matcher.db")
    url = os.environ.get("MATCHER_TEST_POSTGRES")
    if not url:
        required_service("MATCHER_TEST_POSTGRES", "a PostgreSQL server")
    from matcher.store import open_database
    from matcher.store.schema import Base

    engine = open_database(url)
    Base.metadata.drop_all(engine)
    engine.dispose()
    return url
