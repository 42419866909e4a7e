"""Past one machine: batch items as Procrastinate jobs on the PostgreSQL the store uses.

- A batch's jobs are inserted by `enqueue` in the transaction that creates its rows (through
  Procrastinate's own `procrastinate_defer_jobs_v1`), so a batch exists with all its jobs or
  not at all. A job carries only its item id; the bytes are in `batch_source`.
- `nianbao worker` (any machine, DATABASE_URL) runs `extract_item` jobs through `work.do_item`:
  with reader processes (NIANBAO_WORKERS > 0) each reader claims, reads, stores and records its
  item (its own engine, pooled connections kept per process) and the worker only dispatches
  jobs and records them done, so throughput grows with the readers; with none, all of it in
  the worker (store.store_extraction: exactly once either way).
- Retries: an unexpected error is retried with exponential backoff (RETRY); the last attempt
  records the item `failed`. A refusal is not an error: the item is `refused`, no retry.
- A worker that dies (kill -9, a lost machine) stops sending heartbeats; every worker runs the
  periodic `retry_stalled` job, which puts the jobs of workers silent for longer than
  `stalled_seconds` back in the queue (Procrastinate's documented recipe).
- Model calls, globally: jobs whose extraction calls the model share the Procrastinate lock
  MODEL_LOCK, which runs them one at a time across all workers and machines; each extraction
  bounds its own calls (NIANBAO_LLM_CONCURRENCY) and backs off on 429 (Retry-After) inside
  that one slot, so the endpoint never sees more than the configured concurrency from a batch
  and a 429 holds the whole batch back, not one worker. Deterministic jobs run in parallel.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from service.store.db import normalize_database_url

log = logging.getLogger(__name__)

QUEUE = "nianbao"
TASK = "nianbao.extract_item"
RETRY_STALLED_TASK = "nianbao.retry_stalled"
MODEL_LOCK = "nianbao-model"
# Retries after the first run; waits 2, 4, 8 s (Procrastinate: exponential_wait ** (attempt + 1)).
MAX_RETRIES = 3
RETRY_EXPONENTIAL_WAIT = 2
# How often each worker looks for jobs of dead workers (cron with seconds as the 6th field).
RETRY_STALLED_CRON = "* * * * * */10"
STALLED_SECONDS = 30.0
HEARTBEAT_SECONDS = 10.0


# The PostgreSQL schema Procrastinate's tables live in (migration 0004): apart from the store's.
SCHEMA = "procrastinate"


def conninfo(database_url: str) -> str:
    """A libpq connection string for Procrastinate's psycopg pool from the store's SQLAlchemy
    URL, with Procrastinate's schema first on the search_path."""
    from psycopg.conninfo import make_conninfo

    url = make_url(normalize_database_url(database_url)).set(drivername="postgresql")
    options = url.query.get("options")  # decoded, unlike the rendered URL's
    before = options if isinstance(options, str) else " ".join(options or ())
    base = url.difference_update_query(["options"]).render_as_string(hide_password=False)
    return make_conninfo(base, options=f"{before} -c search_path={SCHEMA},public".strip())


def enqueue(session: Session, batch_id: str, *, model: bool, item_ids: list[int] | None = None) -> int:
    """Insert one job per queued item of the batch whose bytes are in the database (`item_ids`:
    those items only) in the session's transaction (the caller commits); how many. Items still
    registered by their path wait for `store.feed`. `model`: the extractions call the model
    (MODEL_LOCK). Procrastinate's functions find their tables on the search_path: set for this
    call, then put back."""
    only = "" if item_ids is None else " AND id = ANY(:items)"
    saved = session.exec(text("SELECT current_setting('search_path')")).scalar_one()  # type: ignore[call-overload]
    session.exec(text("SELECT set_config('search_path', :path, true)")  # type: ignore[call-overload]
                 .bindparams(path=f"{SCHEMA}, {saved}"))
    result = session.exec(  # type: ignore[call-overload]
        text("""
            SELECT coalesce(array_length(procrastinate_defer_jobs_v1(ARRAY(
                SELECT ROW(:queue, :task, 0, :lock, NULL, jsonb_build_object('item_id', id), NULL)
                       ::procrastinate_job_to_defer_v1
                  FROM batch_item WHERE batch_id = :batch AND status = 'queued' AND source_path IS NULL""" + only + """
                 ORDER BY position
            )), 1), 0)
        """).bindparams(queue=QUEUE, task=TASK, lock=MODEL_LOCK if model else None, batch=batch_id,
                        **({} if item_ids is None else {"items": item_ids}))
    )
    count: int = result.scalar_one()
    session.exec(text("SELECT set_config('search_path', :path, true)").bindparams(path=saved))  # type: ignore[call-overload]
    return count


def make_app(engine: Engine, settings: Any, *, stalled_seconds: float = STALLED_SECONDS) -> Any:
    """A Procrastinate app on the store's database, with the batch tasks registered."""
    import procrastinate
    from procrastinate import JobContext, RetryStrategy

    from service.batch.work import do_item

    connector = procrastinate.PsycopgConnector(conninfo=conninfo(str(engine.url.render_as_string(
        hide_password=False))), max_size=max(4, 2 * settings.workers + 4))
    app = procrastinate.App(connector=connector)

    @app.task(name=TASK, queue=QUEUE, pass_context=True,
              retry=RetryStrategy(max_attempts=MAX_RETRIES, exponential_wait=RETRY_EXPONENTIAL_WAIT))
    def extract_item(context: JobContext, item_id: int) -> str:
        """One batch item; the last attempt records a failure instead of raising."""
        final = context.job.attempts >= MAX_RETRIES
        return do_item(engine, item_id, settings, final_attempt=final)

    @app.periodic(cron=RETRY_STALLED_CRON, periodic_id="retry_stalled")
    @app.task(name=RETRY_STALLED_TASK, queue=QUEUE, queueing_lock=RETRY_STALLED_TASK, pass_context=True)
    async def retry_stalled(context: JobContext, timestamp: int) -> int:
        """Jobs of workers whose heartbeat stopped go back in the queue."""
        manager = context.app.job_manager
        stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_seconds))
        for job in stalled:
            if job.task_name != RETRY_STALLED_TASK:
                log.warning("job %s (%s) was running on a worker that stopped; retrying it", job.id, job.task_name)
            await manager.retry_job(job)
        return len(stalled)

    return app


def run_worker(engine: Engine, settings: Any, *, concurrency: int | None = None,
               stalled_seconds: float = STALLED_SECONDS, heartbeat_seconds: float = HEARTBEAT_SECONDS,
               wait: bool = True, signals: bool = True) -> None:
    """Run a worker until stopped (Ctrl-C, SIGTERM: the jobs running finish first); with
    `wait=False`, until the queue is empty. `signals=False` leaves Ctrl-C to the caller
    (KeyboardInterrupt), as `nianbao batch` wants. The items are done in `settings.workers`
    reader processes (`work.do_item`); twice as many jobs run at once (default), so that a reader
    has the next item as soon as it is done with one."""
    app = make_app(engine, settings, stalled_seconds=stalled_seconds)
    name = f"nianbao-{os.uname().nodename}-{os.getpid()}"

    async def main() -> None:
        async with app.open_async():
            await app.run_worker_async(
                queues=[QUEUE], name=name, concurrency=concurrency or max(1, 2 * settings.workers),
                wait=wait, update_heartbeat_interval=heartbeat_seconds,
                stalled_worker_timeout=stalled_seconds, install_signal_handlers=signals,
                delete_jobs="successful",  # the batch items are the record; failed jobs stay to look at
            )

    asyncio.run(main())
