"""Engine and schema: one URL picks SQLite or PostgreSQL; the schema always comes from Alembic."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
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


def make_engine(database_url: str) -> Engine:
    """An engine for the URL; SQLite gets its directory created and foreign keys switched on."""
    url = make_url(normalize_database_url(database_url))
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: URL) -> Engine:
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    database = url.database
    if not database or database == ":memory:":
        kwargs["poolclass"] = StaticPool  # one shared connection, or each one sees an empty database
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


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
