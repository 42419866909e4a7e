"""One batch item end to end: claim it, read it, store the outcome.

Both engines run an item through `do_item`, which picks where it is done:

- In a reader process of the pool (service.pool), whole (`process_in_worker`): claim, read,
  store and record there, each reader with its own engine kept for the process (service.pool's,
  which POST /extract's store uses too: a pooled connection, not one per item). The process
  that hands the item out (the embedded runner's thread, a Procrastinate job) only waits for
  its status, so storing scales with the readers. This is the way whenever there is a pool
  (workers > 0) and another process can open the same database: a SQLite file in WAL (writers
  of every process take turns: store.db.writing) or PostgreSQL. Even with one
  reader: storing here while the reader reads the next item keeps two processes busy, but costs
  more CPU in all (the document and extraction cross a process boundary) and was no faster on
  either store (benchmarks/batch.py).
- Here (`process_item`), reading in the pool: an in-memory SQLite is this process's alone; with
  workers = 0 everything runs here.

An unexpected error is final (`failed`) on the last attempt; before it, the item is queued
again and `Requeued` raised for the queue to retry with backoff (Procrastinate). A reader
process that dies is replaced and the item tried once more, then it is a `ReaderCrashed`
error (the same rule).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from sqlalchemy import Engine

from service.batch import store
from service.batch.version import reader_version
from service.contract import Extraction
from service.document import Document
from service.errors import NianbaoError
from service.store.models import BatchRow

log = logging.getLogger(__name__)

# While the pool is full (POST /extract shares it), wait this long between tries.
_BUSY_WAIT_SECONDS = 0.2


class Requeued(Exception):
    """The item was queued again after an unexpected error on an attempt that was not the last:
    the queue retries it. Carries only the error's text, so that it pickles back from a reader
    process whatever the error was."""


def extract(data: bytes, filename: str | None, **options: Any) -> tuple[Document, Extraction]:
    """`pipeline.extract_bytes` in a worker process of the service's pool (one per core)."""
    from service import pool

    return pool.extract(data, filename, **options)


def batch_reader_version(batch: BatchRow, settings: Any) -> str:
    """This process's reader version for the batch's options."""
    from service.pipeline import resolve_mode

    return reader_version(resolve_mode(batch.mode, settings), settings, batch.llm_scope)


def do_item(engine: Engine, item_id: int, settings: Any, *, final_attempt: bool = True) -> str:
    """One item where it is done best (module docstring); its final status. Raises `Requeued`
    (not the last attempt)."""
    url = shared_url(engine)
    if url is not None and settings.workers > 0:
        return process_in_reader(engine, url, item_id, settings, final_attempt=final_attempt)
    return process_item(engine, item_id, settings, final_attempt=final_attempt)


def shared_url(engine: Engine) -> str | None:
    """The URL another process opens the same database by: PostgreSQL's, a SQLite file's; None
    for an in-memory SQLite (this process's alone)."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database in (None, "", ":memory:") or str(database).startswith("file:"):
            return None
        # Absolute: the reader processes need not share this process's working directory.
        return engine.url.set(database=os.path.abspath(str(database))).render_as_string(hide_password=False)
    return engine.url.render_as_string(hide_password=False)


def process_item(engine: Engine, item_id: int, settings: Any, *, final_attempt: bool = True) -> str:
    """Do one item; its final status. A refusal is recorded as `refused` (the batch goes on); an
    unexpected error as `failed` on the final attempt, else the item is queued again and
    `Requeued` raised for the queue to retry with backoff."""
    claimed = store.claim(engine, item_id, lambda batch: batch_reader_version(batch, settings),
                          settings.max_upload_bytes)
    if isinstance(claimed, str):
        return claimed
    options: dict[str, Any] = {"settings": settings}
    if claimed.mode is not None:
        options["mode"] = claimed.mode
    if claimed.llm_scope is not None:
        options["llm_scope"] = claimed.llm_scope
    from service.pool import ReaderCrashed

    try:
        doc, extraction = _extract_when_free(claimed.data, claimed.filename, options)
    except ReaderCrashed as exc:
        # A reader process died under this file twice: maybe the file, maybe the machine (an
        # OOM kill on a busy worker). Not a clean refusal: retried, then `failed`.
        log.warning("batch item %s (%s): %s", item_id, claimed.filename, exc)
        return _failed(engine, item_id, exc, final_attempt)
    except NianbaoError as refusal:
        return store.store_refusal(engine, item_id, refusal)
    except Exception as exc:
        log.exception("batch item %s (%s) failed", item_id, claimed.filename)
        return _failed(engine, item_id, exc, final_attempt)
    try:
        return store.store_extraction(engine, item_id, claimed.reader_version, doc, extraction, claimed.data)
    except NianbaoError as refusal:  # the store refuses some texts (NUL characters)
        return store.store_refusal(engine, item_id, refusal)
    except Exception as exc:
        log.exception("batch item %s (%s): storing failed", item_id, claimed.filename)
        return _failed(engine, item_id, exc, final_attempt)


def process_in_reader(engine: Engine, database_url: str, item_id: int, settings: Any, *,
                      final_attempt: bool = True) -> str:
    """`process_in_worker` on a reader of the pool, waiting here for its status (and while the
    pool is full). A reader that dies takes the executor down: it is replaced and the item
    tried once more, then it is a ReaderCrashed error (`_failed`), as `pool.extract` does."""
    from concurrent.futures.process import BrokenProcessPool

    from service import pool
    from service.batch.driver import this_process

    me = this_process()
    owner = (me.pid, me.token) if me.token.startswith("proc:") else None
    for attempt in (1, 2):
        while True:
            try:
                future, executor = pool.submit(process_in_worker, item_id, settings, database_url, owner,
                                               final_attempt, settings=settings)
                break
            except pool.PoolBusy:
                time.sleep(_BUSY_WAIT_SECONDS)
        try:
            status: str = future.result()
            return status
        except BrokenProcessPool:
            pool.replace(executor)
            log.warning("a reader process died with batch item %s (attempt %d)", item_id, attempt)
    return _failed(engine, item_id, pool.ReaderCrashed(), final_attempt)


def process_in_worker(item_id: int, settings: Any, database_url: str, owner: tuple[int, str] | None,
                      final_attempt: bool = True) -> str:
    """`process_item` inside a reader process (reading in this process: workers = 0); its status.
    `owner` (pid, start token) is the process that handed the item out: once it is gone
    (SIGKILL), items still in the pool's queue are left as they are for the re-run (embedded)
    or the stalled-job retry (PostgreSQL) instead of being claimed by an orphan. Raises only
    `Requeued` (an exception that does not unpickle would break the executor): an unexpected
    error fails the item on the final attempt, else queues it again."""
    if owner is not None:
        from service.batch.driver import start_token

        if start_token(owner[0]) != owner[1]:
            return "queued"
    from service.pool import reader_engine

    engine: Engine = reader_engine(database_url)  # the reader process's, shared with POST /extract's store
    local = settings.model_copy(update={"workers": 0})
    try:
        return process_item(engine, item_id, local, final_attempt=final_attempt)
    except Requeued:
        raise
    except Exception as exc:  # claiming or recording broke (the database away?)
        log.exception("batch item %s failed in a reader process", item_id)
        if not final_attempt:
            raise Requeued(_describe(exc)) from None  # the retry claims the item again
        try:
            return store.store_failure(engine, item_id, exc)
        except Exception:
            log.exception("batch item %s: recording the failure failed", item_id)
            return "failed"


def _failed(engine: Engine, item_id: int, exc: Exception, final_attempt: bool) -> str:
    """`failed` on the final attempt; before it, the item queued again and `Requeued` raised for
    the queue to retry."""
    if not final_attempt:
        store.requeue(engine, item_id)
        raise Requeued(_describe(exc)) from exc
    return store.store_failure(engine, item_id, exc)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _extract_when_free(data: bytes, filename: str, options: dict[str, Any]) -> tuple[Document, Extraction]:
    """Read in the pool; while it is full (busy with POST /extract), wait rather than refuse."""
    from service.ingest.filename import clean_filename
    from service.pool import PoolBusy

    name = clean_filename(filename)
    while True:
        try:
            return extract(data, name, **options)
        except PoolBusy:
            time.sleep(_BUSY_WAIT_SECONDS)
