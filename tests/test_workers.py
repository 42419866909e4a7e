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
    assert _scalar(engine, "SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE task_name = :t", t=TASK) == len(reports)

    a = _worker(env, tmp_path / "a.log")
    b: subprocess.Popen[bytes] | None = None
    try:
        a_id = _wait_for("worker A to register", lambda: _scalar(engine, "SELECT min(id) FROM procrastinate.procrastinate_workers"))
        b = _worker(env, tmp_path / "b.log")
        _wait_for("worker B to register", lambda: _scalar(engine, "SELECT count(*) FROM procrastinate.procrastinate_workers") == 2)
        killed_job = _wait_for("worker A in the middle of a job", lambda: _scalar(
            engine, "SELECT id FROM procrastinate.procrastinate_jobs WHERE worker_id = :w AND status = 'doing' "
                    "AND task_name = :t", w=a_id, t=TASK), every=0.002)
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(timeout=30)
        killed_item = _scalar(engine, "SELECT (args->>'item_id')::int FROM procrastinate.procrastinate_jobs WHERE id = :j",
                              j=killed_job)
        left_behind = _scalar(engine, "SELECT status FROM procrastinate.procrastinate_jobs WHERE id = :j", j=killed_job)

        def finished() -> bool:
            with Session(engine) as session:
                statuses = session.exec(select(BatchItemRow.status)).all()
            return all(s in ("succeeded", "refused", "failed", "skipped") for s in statuses)

        _wait_for("every item to finish", finished, timeout=180, every=0.2)
        _wait_for("the queue to empty", lambda: _scalar(
            engine, "SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE task_name = :t AND status IN ('todo', 'doing')",
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
    assert sorted(extraction_ids) == sorted(i.extraction_id or "" for i in items)  # nothing duplicated
    assert next(i for i in items if i.id == killed_item).status == "succeeded"
    failed_jobs = [line for line in (tmp_path / "b.log").read_text().splitlines() if "status: Error" in line]
    assert not failed_jobs, failed_jobs
    # The dead worker's job went back to the queue through the stalled-job check of the survivor.
    assert "was running on a worker that stopped" in (tmp_path / "b.log").read_text()


def test_batches_that_call_the_model_share_one_global_lock(tmp_path: Path, postgres_database: str) -> None:
    """With a model configured (mode auto), a batch's jobs carry MODEL_LOCK: Procrastinate runs
    them one at a time across every worker and machine, so a batch never sends the endpoint more
    than NIANBAO_LLM_CONCURRENCY calls at once, and a 429's backoff holds the whole batch.
    Deterministic batches carry no lock and run in parallel."""
    from service.batch.queue import MODEL_LOCK

    engine = make_engine(postgres_database)
    migrate(engine)
    write_reports(tmp_path / "a", 3)
    write_reports(tmp_path / "b", 3, first_seed=3)
    model_env = {**_env(postgres_database), "NIANBAO_LLM_BASE_URL": "http://127.0.0.1:9/v1",
                 "NIANBAO_LLM_MODEL": "some-model"}
    for folder, env in (("a", model_env), ("b", _env(postgres_database))):
        done = subprocess.run([sys.executable, "-m", "service.cli", "batch", str(tmp_path / folder), "--no-wait"],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    with engine.connect() as connection:
        locks = connection.execute(text(
            "SELECT b.reader_version, j.lock FROM procrastinate.procrastinate_jobs j "
            "JOIN batch_item i ON i.id = (j.args->>'item_id')::int JOIN batch b ON b.id = i.batch_id "
            "WHERE j.task_name = :t"), {"t": TASK}).all()
    engine.dispose()
    assert sorted(lock for version, lock in locks if " llm some-model " in version) == [MODEL_LOCK] * 3
    assert [lock for version, lock in locks if version.endswith("deterministic")] == [None] * 3


def test_embedded_batches_that_call_the_model_use_one_caller() -> None:
    from service.batch.runner import item_threads
    from service.config import Settings
    from service.store.models import BatchRow

    batch = BatchRow(id="bat_x", origin="cli", reader_version="v", total=1)
    configured = Settings(llm_base_url="http://127.0.0.1:9/v1", llm_model="m")
    assert item_threads(batch, configured, workers=4) == 1
    assert item_threads(batch, Settings(llm_base_url=None, llm_model=None), workers=4) == 8
    batch.mode = "deterministic"
    assert item_threads(batch, configured, workers=4) == 8


def test_procrastinate_connects_with_its_schema_first_and_keeps_the_users_options() -> None:
    from psycopg.conninfo import conninfo_to_dict

    from service.batch.queue import SCHEMA, conninfo

    got = conninfo_to_dict(conninfo("postgresql://u:p%40ss@db.example:5433/nb?options=-c%20statement_timeout%3D5"))
    assert (got["user"], got["password"], got["host"], got["port"], got["dbname"]) == (
        "u", "p@ss", "db.example", "5433", "nb")
    assert got["options"] == f"-c statement_timeout=5 -c search_path={SCHEMA},public"


# Per process (the test's, or the reader process's that reads the items): reads per (database, file).
_reads: dict[tuple[str, str], int] = {}


def _flaky(real: Callable[..., Any], database_url: str) -> Callable[..., Any]:
    """`work.extract` that loses the reader (an unexpected error, not a refusal) for files named
    `broken_*` every time and for `flaky_*` the first two times."""
    def extract(data: bytes, filename: str | None, **options: Any) -> Any:
        name = Path(filename or "").name
        key = (database_url, name)
        _reads[key] = _reads.get(key, 0) + 1
        if name.startswith("broken_") or (name.startswith("flaky_") and _reads[key] <= 2):
            raise ConnectionError(f"lost the reader for {name}")
        return real(data, filename, **options)
    return extract


def _flaky_process_in_worker(item_id: int, settings: Any, database_url: str, owner: tuple[int, str] | None,
                             final_attempt: bool = True) -> str:
    """`work.process_in_worker` reading through `_flaky` (in the reader process)."""
    import service.batch.work as work

    real = work.extract
    work.extract = _flaky(real, database_url)
    try:
        return work.process_in_worker(item_id, settings, database_url, owner, final_attempt)
    finally:
        work.extract = real


@pytest.mark.parametrize("workers", [0, 1])
def test_a_failing_job_is_retried_with_backoff_and_the_last_attempt_records_the_failure(
        tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    """An unexpected error (our bug, a lost connection) is retried; one that goes away succeeds
    on a later attempt, one that stays is recorded `failed` with its reason on the last. With a
    reader process (workers = 1) the error happens there and comes back as `Requeued`."""
    import service.batch.queue as queue
    import service.batch.work as work
    from service.batch import store
    from service.batch.sources import read_paths
    from service.config import Settings
    from tests.test_batch import UPLOAD_LIMIT

    monkeypatch.setattr(queue, "RETRY_EXPONENTIAL_WAIT", 0)  # no waiting between attempts here
    first, second = write_reports(tmp_path / "r", 2)
    flaky, broken = first.rename(first.with_name("flaky_" + first.name)), second.rename(second.with_name("broken_" + second.name))
    if workers == 0:
        monkeypatch.setattr(work, "extract", _flaky(work.extract, postgres_database))
    else:
        monkeypatch.setattr(work, "process_in_worker", _flaky_process_in_worker)
    engine = make_engine(postgres_database)
    migrate(engine)
    settings = Settings(DATABASE_URL=postgres_database, workers=workers, max_upload_bytes=UPLOAD_LIMIT,
                        llm_base_url=None, llm_model=None)
    with Session(engine) as session:
        batch = store.create_batch(session, read_paths([flaky, broken], UPLOAD_LIMIT), origin="cli", mode=None,
                                   llm_scope=None, reader_version="v")
        queue.enqueue(session, batch.id, model=False)
        session.commit()
        batch_id = batch.id
    view = None
    for _ in range(10):  # each pass works what is due now; a retry is due again at once here
        queue.run_worker(engine, settings, wait=False, signals=False)
        with Session(engine) as session:
            view = store.get_batch(session, batch_id)
        assert view is not None and view.items is not None
        if view.status == "done":
            break
    assert view is not None and view.items is not None
    items = {i.filename: i for i in view.items}
    engine.dispose()
    assert (items[str(flaky)].status, items[str(flaky)].attempts) == ("succeeded", 3)
    assert (items[str(broken)].status, items[str(broken)].attempts) == ("failed", queue.MAX_RETRIES + 1)
    assert items[str(broken)].code == "internal_error"
    assert "ConnectionError: lost the reader" in (items[str(broken)].reason_en or "")
    if workers == 0:  # read in this process: its reads are counted here
        assert {name: n for (url, name), n in _reads.items() if url == postgres_database} == {
            flaky.name: 3, broken.name: queue.MAX_RETRIES + 1}


def test_the_reader_processes_store_their_own_items_and_the_command_only_dispatches(
        tmp_path: Path, postgres_database: str) -> None:
    """PostgreSQL: `nianbao batch`'s own worker hands each job to a reader process, which claims,
    reads, stores and records it (more than one pid stores, never the command's process)."""
    from tests.test_batch import parse_summary, recorded_batch_command

    reports = write_reports(tmp_path / "r", 60)
    env = _env(postgres_database) | {"TEST_STORED_BY": str(tmp_path / "stored-by")}
    run = subprocess.Popen(recorded_batch_command(str(tmp_path / "r")), cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, out + err
    assert parse_summary(out).succeeded == len(reports)
    stored_by = {int(p.name) for p in (tmp_path / "stored-by").iterdir()}
    assert len(stored_by) >= 2 and run.pid not in stored_by
    engine = make_engine(postgres_database)
    with Session(engine) as session:
        versions = session.exec(select(ExtractionVersionRow.sha256)).all()
    engine.dispose()
    assert sorted(versions) == sorted(sha(p) for p in reports)
