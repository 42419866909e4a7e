"""Procrastinate workers on a real PostgreSQL: two `nianbao worker` processes, one killed
(SIGKILL, its reader processes with it) in the middle of a job; every job completes, every file
is stored exactly once, nothing is lost. Needs PostgreSQL: under CI=true it fails when missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from service.batch.queue import TASK
from service.store.db import make_engine, migrate
from service.store.models import BatchItemRow, ExtractionRow, ExtractionVersionRow
from tests.test_batch import REPO, _env, sha, write_reports

pytestmark = pytest.mark.postgres


def _wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0, every: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def _scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "service.cli", "worker", "--concurrency", "1",
               "--stalled-seconds", "3", "--heartbeat-seconds", "1"]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_two_workers_one_killed_mid_job_every_job_completes_exactly_once(
        tmp_path: Path, postgres_database: str) -> None:
    engine = make_engine(postgres_database)
    migrate(engine)
    reports = write_reports(tmp_path / "r", 40, families=("pdf", "tabs"))
    env = _env(postgres_database)
    queued = subprocess.run([sys.executable, "-m", "service.cli", "batch", str(tmp_path / "r"), "--no-wait"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert queued.returncode == 0, queued.stderr
    assert _scalar(engine, "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t", t=TASK) == len(reports)

    a = _worker(env, tmp_path / "a.log")
    b: subprocess.Popen[bytes] | None = None
    try:
        a_id = _wait_for("worker A to register", lambda: _scalar(engine, "SELECT min(id) FROM procrastinate_workers"))
        b = _worker(env, tmp_path / "b.log")
        _wait_for("worker B to register", lambda: _scalar(engine, "SELECT count(*) FROM procrastinate_workers") == 2)
        killed_job = _wait_for("worker A in the middle of a job", lambda: _scalar(
            engine, "SELECT id FROM procrastinate_jobs WHERE worker_id = :w AND status = 'doing' "
                    "AND task_name = :t", w=a_id, t=TASK), every=0.002)
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(timeout=30)
        killed_item = _scalar(engine, "SELECT (args->>'item_id')::int FROM procrastinate_jobs WHERE id = :j",
                              j=killed_job)
        left_behind = _scalar(engine, "SELECT status FROM procrastinate_jobs WHERE id = :j", j=killed_job)

        def finished() -> bool:
            with Session(engine) as session:
                statuses = session.exec(select(BatchItemRow.status)).all()
            return all(s in ("succeeded", "refused", "failed", "skipped") for s in statuses)

        _wait_for("every item to finish", finished, timeout=180, every=0.2)
        _wait_for("the queue to empty", lambda: _scalar(
            engine, "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t AND status IN ('todo', 'doing')",
            t=TASK) == 0, timeout=60, every=0.2)
    finally:
        for process in (a, b):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=30)

    with Session(engine) as session:
        items = session.exec(select(BatchItemRow)).all()
        versions = session.exec(select(ExtractionVersionRow)).all()
        extraction_ids = session.exec(select(ExtractionRow.id)).all()
    engine.dispose()
    assert left_behind == "doing", "the killed worker's job should have been left mid-way"
    assert sorted(i.status for i in items) == ["succeeded"] * len(reports)  # nothing lost
    assert sorted(v.sha256 for v in versions) == sorted(sha(p) for p in reports)  # each stored once
    assert sorted(extraction_ids) == sorted(i.extraction_id for i in items)  # nothing duplicated
    assert next(i for i in items if i.id == killed_item).status == "succeeded"
    failed_jobs = [line for line in (tmp_path / "b.log").read_text().splitlines() if "status: Error" in line]
    assert not failed_jobs, failed_jobs
    # The dead worker's job went back to the queue through the stalled-job check of the survivor.
    assert "was running on a worker that stopped" in (tmp_path / "b.log").read_text()
