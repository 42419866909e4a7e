"""One batch item end to end: claim it, read it, store the outcome.

Both engines run this. Procrastinate's workers (a thread per job) read in the process pool
(service.pool) and store in the calling process. The embedded runner runs the whole item in a
pool worker (`process_in_worker`): claim, read, store and record there, each worker with its
own engine (SQLite in WAL takes writers from several processes, BEGIN IMMEDIATE waiting on the
busy timeout), so the process that owns the batch does no per-item work and reading scales
with the workers.
"""

from __future__ import annotations

import logging
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


def extract(data: bytes, filename: str | None, **options: Any) -> tuple[Document, Extraction]:
    """`pipeline.extract_bytes` in a worker process of the service's pool (one per core)."""
    from service import pool

    return pool.extract(data, filename, **options)


def batch_reader_version(batch: BatchRow, settings: Any) -> str:
    """This process's reader version for the batch's options."""
    from service.pipeline import resolve_mode

    return reader_version(resolve_mode(batch.mode, settings), settings, batch.llm_scope)


def process_item(engine: Engine, item_id: int, settings: Any, *, final_attempt: bool = True) -> str:
    """Do one item; its final status. A refusal is recorded as `refused` (the batch goes on); an
    unexpected error as `failed` on the final attempt, else the item is queued again and the
    error raised for the queue to retry with backoff."""
    from service.pipeline import resolve_mode

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
        version = reader_version(resolve_mode(claimed.mode, settings), settings, claimed.llm_scope)
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
        return store.store_extraction(engine, item_id, version, doc, extraction, claimed.data)
    except NianbaoError as refusal:  # the store refuses some texts (NUL characters)
        return store.store_refusal(engine, item_id, refusal)
    except Exception as exc:
        log.exception("batch item %s (%s): storing failed", item_id, claimed.filename)
        return _failed(engine, item_id, exc, final_attempt)


# Per worker process: one engine per database URL, made on the first item and kept.
_engines: dict[str, Engine] = {}


def process_in_worker(item_id: int, settings: Any, database_url: str, owner: tuple[int, str] | None) -> str:
    """`process_item` inside a pool worker (reading in this process: workers = 0); its status.
    `owner` (pid, start token) is the process that handed the item out: once it is gone
    (SIGKILL), items still in the pool's queue are left `queued` for the re-run instead of
    being claimed by an orphan. Never raises (an exception that does not unpickle would break
    the executor): an unexpected error fails the item."""
    if owner is not None:
        from service.batch.driver import start_token

        if start_token(owner[0]) != owner[1]:
            return "queued"
    engine = _engines.get(database_url)
    if engine is None:
        from service.store.db import make_engine

        engine = _engines[database_url] = make_engine(database_url)
    local = settings.model_copy(update={"workers": 0})
    try:
        return process_item(engine, item_id, local)
    except Exception as exc:
        log.exception("batch item %s failed in a worker", item_id)
        try:
            return store.store_failure(engine, item_id, exc)
        except Exception:
            log.exception("batch item %s: recording the failure failed", item_id)
            return "failed"


def _failed(engine: Engine, item_id: int, exc: Exception, final_attempt: bool) -> str:
    """`failed` on the final attempt; before it, the item queued again and `exc` raised for the
    queue to retry."""
    if not final_attempt:
        store.requeue(engine, item_id)
        raise exc
    return store.store_failure(engine, item_id, exc)


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
