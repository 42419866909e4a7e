"""A real nianbao server for the browser tests: uvicorn in a subprocess on a fresh database (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from service.auth import create_user
from service.store.db import make_engine, migrate

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    url: str
    database_url: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def add_user(database_url: str, username: str, password: str, role: str = "reviewer") -> None:
    """A user straight in the store (what `nianbao users add` does), after migrating the schema."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with Session(engine) as session:
            create_user(session, username, password, role)
    finally:
        engine.dispose()


@contextmanager
def scratch_postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the test PostgreSQL server for one whole server's life (tests/conftest.py's
    `postgres_database` is per test; the browser server lives for the module), dropped on exit."""
    name = "nianbao_ui_" + uuid.uuid4().hex[:12]
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def running_server(db_dir: Path, database_url: str, *, batch_worker: bool = False) -> Iterator[Server]:
    """Start the app under uvicorn on a free port against `database_url` (and with `batch_worker`
    on PostgreSQL, one `nianbao worker` for batches); stop both on exit. `db_dir` holds their log. No model endpoint reaches it from the caller's environment:
    it runs deterministic."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIANBAO_LLM_")}
    env["DATABASE_URL"] = database_url
    log = (db_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.api.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    # On PostgreSQL the service only queues a batch's jobs: a `nianbao worker` beside it works them
    # (on SQLite the server runs batches itself).
    worker = None
    if batch_worker and database_url.startswith("postgresql"):
        worker = subprocess.Popen([sys.executable, "-m", "service.cli", "worker", "--concurrency", "1"],
                                  cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(db_dir / 'server.log').read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield Server(url=url, database_url=database_url)
    finally:
        for child in (proc, worker):
            if child is None:
                continue
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        log.close()
