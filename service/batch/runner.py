"""The embedded engine: a batch's items done on the process pool (one worker per core). On a
SQLite file with two workers or more, each worker claims, reads, stores and records its item
itself (work.process_in_worker, its own engine); this process only hands out item ids, a window
at a time, and follows them, so the readers are not held up behind one storing process.
Otherwise a thread per item here claims and stores, reading in the pool: an in-memory database
is this process's alone; with workers = 0 everything runs here; and with one worker this
process storing one item while the worker reads the next is faster than the worker doing both
(two processes busy, not one: measured with benchmarks/batch.py).

A slow document holds one worker; the others go on. With a model configured, the items that
ask it go one at a time (see `item_threads`), so the model sees at most NIANBAO_LLM_CONCURRENCY
calls from a batch however many workers read.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from service.batch import store
from service.batch.work import process_in_worker, process_item
from service.store.models import BatchRow

log = logging.getLogger(__name__)

# While the pool is full (POST /extract shares it), wait this long between tries; and how often
# a wait for the items in flight looks at `stop`.
_BUSY_WAIT_SECONDS = 0.2


def item_threads(batch: BatchRow, settings: Any, workers: int) -> int:
    """Items in flight at once: two per pool worker, so that a worker has the next item as soon
    as it is done with one; one when the batch's extractions call the model (a global limit on
    model calls needs one caller: each extraction already bounds its own calls)."""
    from service.pipeline import resolve_mode

    if resolve_mode(batch.mode, settings) == "llm":
        return 1
    return max(1, 2 * workers)


def run_batch(engine: Engine, batch_id: str, settings: Any, *,
              on_item: Callable[[int, str], None] | None = None,
              stop: threading.Event | None = None) -> None:
    """Do every queued item of the batch; `on_item(item_id, status)` after each. Interrupted
    (KeyboardInterrupt, `stop` set), the items not started stay queued, those running finish.
    The pool has `settings.workers` processes (NIANBAO_WORKERS)."""
    with Session(engine) as session:
        batch = session.get(BatchRow, batch_id)
        if batch is None:
            return
        window = item_threads(batch, settings, settings.workers)
        item_ids = store.queued_item_ids(session, batch_id)
    if not item_ids:
        return
    url = _shared_url(engine)
    if url is not None and settings.workers >= 2:
        _run_in_workers(engine, url, item_ids, settings, window, on_item, stop)
    else:
        _run_in_threads(engine, item_ids, settings, window, on_item, stop)


def _shared_url(engine: Engine) -> str | None:
    """The URL another process opens the same database by: a SQLite file's; None otherwise
    (in-memory SQLite is this process's alone; PostgreSQL batches go through the queue)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:") or \
            str(engine.url.database).startswith("file:"):
        return None
    # Absolute: the reader processes need not share this process's working directory.
    absolute = engine.url.set(database=os.path.abspath(str(engine.url.database)))
    return absolute.render_as_string(hide_password=False)


def _run_in_workers(engine: Engine, url: str, item_ids: list[int], settings: Any, window: int,
                    on_item: Callable[[int, str], None] | None, stop: threading.Event | None) -> None:
    """Each item whole in a pool worker. A worker that dies takes the executor down: the item
    is tried once more on a fresh one, then `failed` (ReaderCrashed), as `pool.extract` does."""
    from service import pool
    from service.batch.driver import this_process

    me = this_process()
    owner = None if not me.token.startswith("proc:") else (me.pid, me.token)
    futures: dict[Future[str], tuple[int, ProcessPoolExecutor, int]] = {}

    def submit(item_id: int, attempt: int) -> bool:
        while not _stopped(stop):
            try:
                future, executor = pool.submit(process_in_worker, item_id, settings, url, owner,
                                               settings=settings)
            except pool.PoolBusy:
                time.sleep(_BUSY_WAIT_SECONDS)
                continue
            futures[future] = (item_id, executor, attempt)
            return True
        return False

    pending: Iterator[int] = iter(item_ids)
    try:
        for item_id in itertools.islice(pending, window):
            submit(item_id, 1)
        while futures:
            finished, _ = wait(futures, timeout=_BUSY_WAIT_SECONDS, return_when=FIRST_COMPLETED)
            if _stopped(stop):
                break
            for future in finished:
                item_id, executor, attempt = futures.pop(future)
                try:
                    status = future.result()
                except BrokenProcessPool:
                    pool.replace(executor)
                    log.warning("a reader process died with batch item %s (attempt %d)", item_id, attempt)
                    if attempt < 2:
                        submit(item_id, attempt + 1)
                        continue
                    status = store.store_failure(engine, item_id, pool.ReaderCrashed())
                if on_item is not None:
                    on_item(item_id, status)
                following = next(pending, None)
                if following is not None:
                    submit(following, 1)
    finally:
        # Interrupted: what has not started stays queued; what a worker holds is finished (the
        # driver lets go of the batch only after this returns: nothing is left `running`).
        for future in futures:
            future.cancel()
        wait(futures)


def _stopped(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


def _run_in_threads(engine: Engine, item_ids: list[int], settings: Any, threads: int,
                    on_item: Callable[[int, str], None] | None, stop: threading.Event | None) -> None:
    """A thread per item in flight here (claim, store), reading in the pool."""
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="batch")
    futures: dict[Future[str], int] = {}
    pending = iter(item_ids)
    try:
        # A window of items submitted at a time, not the whole batch: memory stays that of the
        # items in flight however many thousand files the batch holds.
        for item_id in itertools.islice(pending, 2 * threads):
            futures[executor.submit(_one, engine, item_id, settings, stop)] = item_id
        while futures:
            finished, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in finished:
                item_id = futures.pop(future)
                status = future.result()
                if on_item is not None:
                    on_item(item_id, status)
                following = next(pending, None)
                if following is not None:
                    futures[executor.submit(_one, engine, following, settings, stop)] = following
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _one(engine: Engine, item_id: int, settings: Any, stop: threading.Event | None) -> str:
    if stop is not None and stop.is_set():
        return "queued"
    return process_item(engine, item_id, settings)


def resume_unfinished(engine: Engine, settings: Any) -> threading.Thread | None:
    """Run, one after the other in the background, every batch the server carries on with items
    left queued or running (by a process that stopped); None when there is none. First, the
    batches of `nianbao batch` processes that are gone are marked interrupted (a re-run of
    the command goes on with them, not the server)."""
    store.mark_abandoned(engine)
    with Session(engine) as session:
        batch_ids = store.unfinished_batch_ids(session)
    if not batch_ids:
        return None

    def run_all() -> None:
        for batch_id in batch_ids:
            run_batch(engine, batch_id, settings)

    thread = threading.Thread(target=run_all, name="batch-resume", daemon=True)
    thread.start()
    return thread


def start_in_background(engine: Engine, batch_id: str, settings: Any) -> threading.Thread:
    """For the service on the embedded store: the batch runs beside the requests."""
    thread = threading.Thread(target=run_batch, args=(engine, batch_id, settings),
                              name=f"batch-{batch_id}", daemon=True)
    thread.start()
    return thread
