"""The embedded engine: a batch's items done on the process pool (one worker per core), a thread
here per item in flight (a window of them: memory stays that of the items in flight however
many thousand files the batch holds). Each thread does its item through `work.do_item`: on a
SQLite file, a reader process claims, reads, stores and records the item itself (its own
engine) and the thread only waits for its status, so the readers are not held up behind one
storing process; with an in-memory database (this process's alone) the thread claims and
stores here, reading in the pool; with workers = 0 everything runs here.

A slow document holds one worker; the others go on. With a model configured, the items that
ask it go one at a time (see `item_threads`), so the model sees at most NIANBAO_LLM_CONCURRENCY
calls from a batch however many workers read.
"""

from __future__ import annotations

import itertools
import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from service.batch import store
from service.batch.work import do_item
from service.store.models import BatchRow

log = logging.getLogger(__name__)


def item_threads(batch: BatchRow, settings: Any, workers: int) -> int:
    """Items in flight at once: two per pool worker, so that a worker has the next item as soon
    as it is done with one; one when the batch's extractions call the model (a global limit on
    model calls needs one caller: each extraction already bounds its own calls)."""
    from service.pipeline import resolve_mode

    if resolve_mode(batch.mode, settings) == "llm":
        return 1
    return max(1, 2 * workers)


def run_batch(engine: Engine, batch_id: str, settings: Any) -> None:
    """Do every queued item of the batch. Interrupted (KeyboardInterrupt), the items not started
    stay queued, those running finish. The pool has `settings.workers` processes
    (NIANBAO_WORKERS)."""
    with Session(engine) as session:
        batch = session.get(BatchRow, batch_id)
        if batch is None:
            return
        window = item_threads(batch, settings, settings.workers)
        item_ids = store.queued_item_ids(session, batch_id)
    if not item_ids:
        return
    _run_in_threads(engine, item_ids, settings, window)


def _run_in_threads(engine: Engine, item_ids: list[int], settings: Any, threads: int) -> None:
    """A thread per item in flight here, each doing its item (`work.do_item`). Interrupted
    (KeyboardInterrupt), what has not started stays queued; what a thread holds is finished
    (the driver lets go of the batch only after this returns: nothing is left `running`)."""
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="batch")
    futures: dict[Future[str], int] = {}
    pending = iter(item_ids)
    try:
        # A window of items submitted at a time, not the whole batch: memory stays that of the
        # items in flight however many thousand files the batch holds.
        for item_id in itertools.islice(pending, 2 * threads):
            futures[executor.submit(do_item, engine, item_id, settings)] = item_id
        while futures:
            finished, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in finished:
                futures.pop(future)
                future.result()
                following = next(pending, None)
                if following is not None:
                    futures[executor.submit(do_item, engine, following, settings)] = following
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


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
