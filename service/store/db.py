"""Engine and schema: one URL picks SQLite or PostgreSQL; the schema always comes from Alembic."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Key of the PostgreSQL advisory lock that serializes `upgrade head` between workers starting at once.
_MIGRATION_LOCK_KEY = 0x6E69616E62616F  # "nianbao"


def normalize_database_url(database_url: str) -> str:
    """Point plain postgres URLs at psycopg 3, the only PostgreSQL driver we install."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


_JSON = json.JSONEncoder()
_JSON_CONSTANTS: dict[Any, str] = {None: "null", True: "true", False: "false"}


def json_dumps(value: Any) -> str:
    """The JSON columns' serializer: exactly json.dumps's text, with the values an extraction
    is made of (hundreds of ints, nulls, empty flag lists per save) written without a trip
    through the encoder."""
    kind = type(value)
    if kind is int or kind is str and value.isalnum() and value.isascii():
        return str(value) if kind is int else f'"{value}"'
    if value is None or kind is bool:
        return _JSON_CONSTANTS[value]
    if (kind is list or kind is dict) and not value:
        return "[]" if kind is list else "{}"
    return _JSON.encode(value)


def make_engine(database_url: str) -> Engine:
    """An engine for the URL; SQLite gets its directory created and foreign keys switched on."""
    url = make_url(normalize_database_url(database_url))
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, json_serializer=json_dumps)


# How long a SQLite writer waits for another's lock before "database is locked" (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option naming how a SQLite transaction begins: DEFERRED (default: pysqlite's own
# BEGIN before the first write) or IMMEDIATE (the write lock taken at BEGIN; see write_transaction).
SQLITE_BEGIN = "sqlite_begin"


def _sqlite_engine(url: URL) -> Engine:
    """SQLite for many concurrent requests.

    - WAL: readers never block the writer nor the writer the readers (the default rollback
      journal locks the whole file for every write).
    - synchronous=NORMAL: in WAL mode this cannot corrupt the database; a power cut (not a
      process crash) may lose the last transactions committed before it. FULL would fsync on
      every commit for that last guarantee.
    - busy_timeout: a writer waits up to 30 s for the lock instead of failing at once.
    - Writers that ask for it (write_transaction) begin with `BEGIN IMMEDIATE`: the write lock
      is taken up front, waiting on the busy timeout, so the transaction's reads and writes
      never need to upgrade a read snapshot (which SQLite refuses at once, SQLITE_BUSY, when
      another writer committed in between). Every other transaction keeps pysqlite's default:
      reads outside a transaction, BEGIN just before the first write. That default is kept on
      purpose rather than SQLAlchemy's "BEGIN at the first statement" recipe: under WAL, the
      recipe turns each read-then-write transaction that does not ask for IMMEDIATE (a review
      PATCH, a login) into one that fails with "database is locked" beside concurrent saves.
    """
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        "json_serializer": json_dumps,
    }
    database = url.database
    if not database or database == ":memory:":
        kwargs["poolclass"] = StaticPool  # one shared connection, or each one sees an empty database
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")  # stays on in the file; ':memory:' answers 'memory'
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    """`BEGIN IMMEDIATE` for a connection marked by write_transaction; otherwise nothing (pysqlite
    begins by itself before the first write)."""
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
    if mode not in ("DEFERRED", "IMMEDIATE"):
        raise ValueError(f"{SQLITE_BEGIN} must be DEFERRED or IMMEDIATE, not {mode!r}")
    if mode == "IMMEDIATE":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


_write_locks: weakref.WeakKeyDictionary[Engine, tuple[threading.Lock, int | None]] = weakref.WeakKeyDictionary()
_write_locks_guard = threading.Lock()


def _sqlite_write_lock(engine: Engine) -> tuple[threading.Lock, int | None]:
    """This process's lock for the engine's writers, and a descriptor open on `<database>-writer`
    beside a file database (None for an in-memory one) for flock between processes."""
    with _write_locks_guard:
        locks = _write_locks.get(engine)
        if locks is None:
            database = engine.url.database
            fd = None
            if database and database != ":memory:" and not str(database).startswith("file:"):
                fd = os.open(f"{database}-writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                weakref.finalize(engine, os.close, fd)
            locks = _write_locks[engine] = (threading.Lock(), fd)
        return locks


@contextmanager
def writing(session: Session) -> Iterator[None]:
    """One write transaction of `session`, begun as a writer (write_transaction) and rolled back
    if the block raises.

    On SQLite, writers take turns on locks of their own before SQLite's: a thread lock in this
    process and an flock on a file beside the database across processes (the API's reader
    processes each store what they read). A writer waiting on them wakes the moment the writer
    before it is done, whereas SQLite's busy handler polls with sleeps growing to 100 ms (the
    long tail of p95 under concurrent writes). Writers that do not come through here (other
    tools, older servers) still queue on the busy timeout: the flock is only a courtesy queue.
    """
    bind = session.get_bind()
    locks: tuple[threading.Lock, int | None] | None = None
    if bind.dialect.name == "sqlite" and isinstance(bind, Engine):
        locks = _sqlite_write_lock(bind)
        locks[0].acquire()
        if locks[1] is not None:
            try:
                fcntl.flock(locks[1], fcntl.LOCK_EX)
            except BaseException:
                locks[0].release()
                raise
    try:
        write_transaction(session)
        yield
    except BaseException:
        session.rollback()
        raise
    finally:
        if locks is not None:
            if locks[1] is not None:
                fcntl.flock(locks[1], fcntl.LOCK_UN)
            locks[0].release()


def write_transaction(session: Session) -> None:
    """Begin the session's next transaction as a writer: on SQLite `BEGIN IMMEDIATE`, which waits
    (busy timeout) for the write lock up front instead of failing when a read lock cannot be
    upgraded; elsewhere a no-op (PostgreSQL locks rows, not the database).

    A transaction already open on SQLite is committed first (its flushed changes were going to
    be committed with this write anyway): a deferred transaction cannot become IMMEDIATE.
    """
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})


def alembic_config(database_url: str | None = None) -> Config:
    """Alembic settings without an alembic.ini: the migrations ship inside the package.

    To write a new revision: `python -c "from alembic import command;
    from service.store.db import alembic_config;
    command.revision(alembic_config('sqlite:///./nianbao.db'), 'what changed', autogenerate=True)"`.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        config.set_main_option("sqlalchemy.url", normalize_database_url(database_url).replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (`alembic upgrade head`); a no-op when current."""
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def database_is_ok(engine: Engine) -> bool:
    """Reachable and migrated to head: what /health reports as `database: ok`."""
    try:
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except Exception:  # any driver, network or missing-table error means "not ok", never a crash
        return False
    return list(stored) == [head_revision()]
