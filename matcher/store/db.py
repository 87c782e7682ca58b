"""Opening the database: a SQLite file by default, PostgreSQL given a ``postgresql://`` URL.

A plain path means a SQLite file, created with owner-only permissions (it holds data about
children). ``run_lock`` lets one run at a time work on a database: a PostgreSQL session advisory
lock, or an exclusive ``flock`` on a ``.lock`` file beside a SQLite database. Both are released by
the operating system or the server when the process dies, so a killed run never blocks the next.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from matcher.exceptions import StoreError
from matcher.store.schema import Base, SecretRow

DEFAULT_DB = "placement-matcher.db"
LOCK_KEY = 0x706C6D61
"""PostgreSQL advisory lock key of the nightly run ('plma')."""


def database_url(db: str) -> str:
    """``db`` as a SQLAlchemy URL: URLs pass through; a path becomes a SQLite file URL."""
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def shown(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unreadable URL>"


def open_database(db: str) -> Engine:
    """An engine on ``db`` with every table created; a StoreError if it cannot be reached."""
    url = database_url(db)
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StoreError(f"--db {db!r}: not a database URL or path ({error})") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"--db {shown(url)}: only SQLite files and PostgreSQL are supported")
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if database and database != ":memory:":
        _create_private_file(Path(database))
    try:
        engine = create_engine(parsed)
        if database is not None:
            event.listen(engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(engine)
    except SQLAlchemyError as error:
        raise StoreError(f"cannot open database {shown(url)}: {_first_line(error)}") from None
    return engine


def _create_private_file(path: Path) -> None:
    """Create the SQLite file readable and writable by its owner only (before SQLite does)."""
    if not path.parent.is_dir():
        raise StoreError(f"--db {path}: folder {path.parent} does not exist")
    try:
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    except OSError as error:
        raise StoreError(f"--db {path}: {error.strerror}") from None


def _sqlite_pragmas(connection: object, record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _first_line(error: Exception) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


@contextmanager
def run_lock(engine: Engine) -> Iterator[None]:
    """Hold the database's run lock for the block; a StoreError if another run holds it."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY})
            if not got.scalar():
                raise StoreError("another run is using this database; try again when it ends")
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        return
    database = engine.url.database or ":memory:"
    if database == ":memory:":
        yield
        return
    descriptor = os.open(f"{database}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    with os.fdopen(descriptor, "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError("another run is using this database; try again when it ends") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def database_secret(engine: Engine, name: str) -> bytes:
    """The database's secret ``name`` (32 random bytes), created on first use."""
    with engine.begin() as connection:
        value = connection.execute(select(SecretRow.value).where(SecretRow.name == name)).scalar()
        if value is None:
            value = secrets.token_hex(32)
            connection.execute(insert(SecretRow), [{"name": name, "value": value}])
    return bytes.fromhex(value)
