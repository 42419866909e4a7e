"""A real nianbao server for the browser tests: uvicorn in a subprocess on a fresh SQLite file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
def running_server(db_dir: Path) -> Iterator[Server]:
    """Start `nianbao serve` on a free port with its own SQLite file; stop it on exit."""
    database_url = f"sqlite:///{db_dir / 'ui.db'}"
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url}
    log = (db_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.api.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
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
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
