"""Shared fixtures: one database per test, on a SQLite file and on a real PostgreSQL server.

PostgreSQL: `NIANBAO_TEST_POSTGRES_URL` (a server where we may CREATE DATABASE) if set, else a
throwaway cluster started once per test session (per xdist worker) from the local binaries.
Without binaries the PostgreSQL cases skip, except under CI=true where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from service.store.db import make_engine, migrate, normalize_database_url

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parent.parent
SEEDS_DIR = REPO / "evals" / "docs" / "seeds"
PG_ROOT = Path("/usr/lib/postgresql")


def seed_files() -> list[Path]:
    files = sorted(SEEDS_DIR.glob("*.txt"))
    assert files, f"no seed reports in {SEEDS_DIR}"
    return files


def _find_postgres_bin() -> Path | None:
    """The 15 the brief names first, then any other installed major version, then PATH."""
    candidates = [PG_ROOT / "15" / "bin", *sorted(PG_ROOT.glob("*/bin"), reverse=True)]
    initdb_on_path = shutil.which("initdb")
    if initdb_on_path:
        candidates.append(Path(initdb_on_path).parent)
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true, so the PostgreSQL tests must run, not skip", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PostgresCluster:
    """A scratch cluster: data dir and unix socket in one temp dir, TCP on 127.0.0.1 only."""

    bin_dir: Path
    base: Path
    as_user: list[str]
    port: int = 0

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str | Path) -> None:
        command = [*self.as_user, *(str(a) for a in args)]
        done = subprocess.run(command, cwd=self.base, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}\n{self.log_tail()}")

    def log_tail(self) -> str:
        log = self.base / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def start(self) -> None:
        self.run(self.bin_dir / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
                 "-E", "UTF8", "--no-locale", "--no-sync")
        last_error: RuntimeError | None = None
        for _attempt in range(3):  # the free port may be taken between probing and binding
            self.port = _free_port()
            options = (f"-p {self.port} -h 127.0.0.1 -k {self.base} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
            try:
                self.run(self.bin_dir / "pg_ctl", "-D", self.data, "-l", self.base / "server.log",
                         "-o", options, "-w", "-t", "60", "start")
                return
            except RuntimeError as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        try:
            self.run(self.bin_dir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def _start_cluster(bin_dir: Path) -> PostgresCluster:
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="nianbao-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if shutil.which("runuser") is None:
            _postgres_unavailable("running as root without `runuser` to start PostgreSQL as `postgres`")
        try:
            shutil.chown(base, "postgres", "postgres")
        except LookupError:
            shutil.rmtree(base, ignore_errors=True)
            _postgres_unavailable("running as root and there is no `postgres` user")
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster = PostgresCluster(bin_dir=bin_dir, base=base, as_user=as_user)
    try:
        cluster.start()
    except Exception:
        shutil.rmtree(base, ignore_errors=True)
        raise
    return cluster


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An admin URL of a PostgreSQL server, for the whole session."""
    external = os.environ.get("NIANBAO_TEST_POSTGRES_URL")
    if external:
        yield normalize_database_url(external)
        return
    bin_dir = _find_postgres_bin()
    if bin_dir is None:
        _postgres_unavailable(f"PostgreSQL binaries not found (looked in {PG_ROOT} and PATH)")
    assert bin_dir is not None
    cluster = _start_cluster(bin_dir)
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the server, dropped after the test."""
    name = "nianbao_test_" + uuid.uuid4().hex[:12]
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend: a real SQLite file, a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nianbao.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head."""
    engine = make_engine(database_url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


ClientFactory = Callable[..., "TestClient"]


@pytest.fixture
def make_client(database_url: str) -> Iterator[ClientFactory]:
    """API clients on the test's database (SQLite and PostgreSQL); keyword arguments override
    settings. No model is configured unless a test says so."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from service.config import Settings

    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = Settings(**{"DATABASE_URL": database_url, "llm_base_url": None, "llm_model": None,
                               **overrides})
        client = TestClient(create_app(settings))
        client.__enter__()  # runs the lifespan: migrations
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()
