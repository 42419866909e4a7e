"""A process pool for `pipeline.extract_bytes`: reading is CPU-bound pure Python, so the service
(and batches) run it in worker processes, one per core, to get more than one core and to keep
the event loop free.

Public API:
- `extract(data, filename, **options) -> (Document, Extraction)`: blocking, any thread.
- `await extract_async(data, filename, **options)`: the same from a coroutine (FastAPI).
- `await extract_and_store_async(data, filename, database_url=..., reader_version=..., **options)`:
  read, store and render the answer's JSON all in the worker (POST /extract): the calling
  process gets bytes back instead of a pickled Document and Extraction, and the store's CPU is
  spread over the workers instead of one event-loop process.
- `submit(fn, *args, settings=...) -> (future, executor)`: any module-level `fn` in a worker
  (both batch engines run a whole item there: service.batch.work.process_in_worker, from the
  embedded runner and from the Procrastinate job); on `BrokenProcessPool` from the future,
  `replace(executor)` and try again.
- `reader_engine(database_url)`: inside a worker, its engine for that database.
- `shutdown()`: stop the workers (also run at exit).

`options` are `pipeline.extract_bytes`'s keyword arguments (`mode`, `llm_scope`, `settings`,
`prompt_version`); they must pickle (no `reader` callable). The pool is sized by `workers`
(default: `settings.workers`, i.e. `NIANBAO_WORKERS`, default the CPU count); 0 runs the
pipeline in the calling thread (tests that monkeypatch the pipeline use that). At most
`workers + queue` extractions are in the pool at once (`NIANBAO_POOL_QUEUE`); past that `PoolBusy`
(HTTP 503 with Retry-After) instead of an unbounded backlog. A worker that dies (segfault,
OOM kill) breaks the whole executor: it is replaced and each request it took down is tried once
more; a document that takes the worker down twice is refused with `ReaderCrashed`.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from service.contract import Extraction
from service.document import Document
from service.errors import NianbaoError

log = logging.getLogger(__name__)

# How long a client is told to wait before trying again when the pool is full (seconds).
RETRY_AFTER_SECONDS = 1
# How often a worker looks whether its forkserver (and so the pool's owner) is gone (seconds).
_ORPHAN_CHECK_SECONDS = 1.0
# The stages service.pipeline imports lazily (inside extract_document).
_STAGES = ("service.read", "service.reconcile", "service.parse.solve", "service.checks")
# A small report run once in every new worker so that the first real request finds templates,
# regexes and lazily imported stages loaded.
_WARM_TEXT = (
    "某某县人民政府2021年政府信息公开工作年度报告\n"
    "本年新收政府信息公开申请 12 件，予以公开 4 件。\n"
).encode()


class PoolBusy(NianbaoError):
    """Every worker busy and the queue full: try again shortly (never an unbounded backlog)."""

    status_code = 503
    code = "busy"

    def __init__(self, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(
            f"the service is reading as many documents as it can queue; try again in {retry_after} s",
            f"服务正在处理的文档已达排队上限，请 {retry_after} 秒后重试",
        )
        self.retry_after = retry_after
        # Passed on by service.api.errors.error_response.
        self.headers = {"Retry-After": str(retry_after)}


class ReaderCrashed(NianbaoError):
    """The worker process reading this document died twice (the first time may be bad luck:
    a neighbour's crash takes the whole executor down; twice in a row is the document)."""

    status_code = 422
    code = "reader_crashed"

    def __init__(self) -> None:
        super().__init__(
            "reading this document stopped the reader process twice (damaged or too complex?); "
            "nothing was stored",
            "读取该文档两次导致读取进程终止（文档可能损坏或过于复杂），未存储任何内容",
        )


# --- in the worker ---------------------------------------------------------------------------

def _warm(owner: int | None = None, owner_token: str | None = None) -> None:
    """Initializer of every worker: import the whole pipeline (stages import lazily) and read
    one tiny report, so the first request a worker gets costs what the hundredth does."""
    from service import pipeline

    # Ctrl-C in a terminal reaches the whole process group: the workers leave it to the
    # service, which shuts them down in order (a worker dying of it would look like a crash).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if owner is not None and owner_token is not None:
        threading.Thread(target=_exit_when_orphaned, args=(owner, owner_token), name="orphan-watch",
                         daemon=True).start()
    for module in _STAGES:
        importlib.import_module(module)
    try:
        pipeline.extract_bytes(_WARM_TEXT, "warm.txt", mode="deterministic")
    except Exception:  # warming is an optimisation: a failure here must not kill the worker
        log.debug("warm-up extraction failed", exc_info=True)


def _exit_when_orphaned(owner: int, owner_token: str) -> None:
    """Once the process that owns the pool is gone (SIGKILL: no shutdown), a worker would wait
    on the pool's queue forever, and the forkserver with it (each worker holds its alive pipe):
    the worker exits instead, and so the forkserver. Whatever it was doing stops with it, as
    with a kill of the whole process group (every write is a transaction; a batch item left
    `running` is queued again when its driver is found gone)."""
    from service.batch.driver import start_token

    while start_token(owner) == owner_token:
        time.sleep(_ORPHAN_CHECK_SECONDS)
    os._exit(0)


def _run(data: bytes, filename: str | None, options: dict[str, Any]) -> tuple[str, Any]:
    """The task a worker runs. A refusal comes back as data, not as a raised exception:
    NianbaoError subclasses take their own constructor arguments, so pickling them as
    exceptions (cls(*args)) can fail, and a result that fails to unpickle breaks the executor."""
    from service import pipeline

    try:
        return "ok", pipeline.extract_bytes(data, filename, **options)
    except NianbaoError as refusal:
        return "refused", _freeze(refusal)


# Per worker: one engine per database URL, kept for the process (a pooled connection each); the
# few most recent only (the test suite hands the pool many short-lived databases).
_ENGINES_KEPT = 4
_engines: dict[str, Any] = {}


def reader_engine(database_url: str) -> Any:
    """This reader process's engine for a database (POST /extract's store and batch items share
    it): made once, its connections pooled for the process."""
    engine = _engines.pop(database_url, None)
    if engine is None:
        from service.store.db import make_engine

        engine = make_engine(database_url)
        while len(_engines) >= _ENGINES_KEPT:
            _engines.pop(next(iter(_engines))).dispose()
    _engines[database_url] = engine  # most recently used last
    return engine


def _run_and_store(data: bytes, filename: str | None, options: dict[str, Any], database_url: str,
                   reader_version: str | None) -> tuple[str, Any]:
    """`_run`, then save the extraction with its document and source bytes (crud.save_extraction,
    one transaction) and render the stored extraction's JSON, all here: only bytes go back. A
    storage failure is logged here (with its traceback) and comes back as ("failed", id): an
    arbitrary driver exception need not pickle."""
    from sqlmodel import Session

    from service.store import crud

    kind, read = _run(data, filename, options)
    if kind != "ok":
        return kind, read
    doc, extraction = read
    try:
        with Session(reader_engine(database_url)) as session:
            crud.save_extraction(session, doc, extraction, source=data, reader_version=reader_version)
    except NianbaoError as refusal:
        return "refused", _freeze(refusal)
    except Exception:
        log.exception("could not store extraction %s", extraction.extraction.id)
        return "failed", extraction.extraction.id
    return "ok", extraction.model_dump_json().encode()


class StoreFailed(Exception):
    """The worker read the document but could not store it (logged there): a 500 for the API."""


def _noop() -> None:
    """A task that only makes the executor start one more worker (see _Pool.start)."""


# --- refusals across the process boundary ------------------------------------------------------

def _freeze(exc: NianbaoError) -> tuple[str, str, tuple[Any, ...], dict[str, Any]]:
    cls = type(exc)
    return cls.__module__, cls.__qualname__, exc.args, dict(exc.__dict__)


def _thaw(frozen: tuple[str, str, tuple[Any, ...], dict[str, Any]]) -> NianbaoError:
    """Rebuild the refusal without calling its constructor (same class, same messages)."""
    module, qualname, args, state = frozen
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    exc: NianbaoError = Exception.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


def _unwrap(result: tuple[str, Any]) -> Any:
    kind, payload = result
    if kind == "refused":
        raise _thaw(payload)
    if kind == "failed":
        raise StoreFailed(f"could not store extraction {payload} (see the reader's log)")
    return payload


def _unwrap_pair(result: tuple[str, Any]) -> tuple[Document, Extraction]:
    doc, extraction = _unwrap(result)
    return doc, extraction


# --- in the calling process --------------------------------------------------------------------

def _context() -> multiprocessing.context.BaseContext:
    """forkserver: workers fork from a small server process that has imported the pipeline and
    has no threads. Not plain fork (the service's threads, thread pool and DB pool, would be
    copied mid-lock) and not spawn (each worker would pay the imports, and would re-run the
    caller's __main__ script, which breaks any script without an `if __name__` guard). The
    preload list leaves out '__main__' for the same reason."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["service.pipeline", *_STAGES])
    return context


class _Pool:
    """One ProcessPoolExecutor with an in-flight bound, replaced when a worker dies."""

    def __init__(self, workers: int, queue: int) -> None:
        self.workers = workers
        self.queue = queue
        self._lock = threading.Lock()
        self._inflight = 0
        self._executor = self._new_executor()
        self.start()

    def _new_executor(self) -> ProcessPoolExecutor:
        from service.batch.driver import start_token

        owner = os.getpid()
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=_context(), initializer=_warm,
                                   initargs=(owner, start_token(owner)))

    def start(self) -> None:
        """Start every worker now: the executor starts one per task that finds none idle, so
        `workers` no-op tasks submitted at once start them all (and warm them)."""
        with self._lock:
            executor = self._executor
        for _ in range(self.workers):
            executor.submit(_noop)

    @property
    def inflight(self) -> int:
        return self._inflight

    def submit(self, fn: Callable[..., Any], *args: Any) -> tuple[Future[Any], ProcessPoolExecutor]:
        """Submit `fn(*args)` (module-level, picklable) unless the pool is full."""
        with self._lock:
            if self._inflight >= self.workers + self.queue:
                raise PoolBusy()
            executor = self._executor
            try:
                future = executor.submit(fn, *args)
            except BrokenProcessPool:
                executor = self._replace_locked(executor)
                future = executor.submit(fn, *args)
            self._inflight += 1
        future.add_done_callback(self._done)
        return future, executor

    def _done(self, _future: Future[Any]) -> None:
        with self._lock:
            self._inflight -= 1

    def replace(self, broken: ProcessPoolExecutor) -> None:
        """Swap in a fresh executor, once per breakage however many requests saw it."""
        with self._lock:
            self._replace_locked(broken)

    def _replace_locked(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        if self._executor is broken:
            log.warning("a worker process died; starting a new pool of %d", self.workers)
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
        return self._executor

    def shutdown(self) -> None:
        with self._lock:
            executor = self._executor
        executor.shutdown(wait=True, cancel_futures=True)


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _sizes(workers: int | None, options: dict[str, Any]) -> tuple[int, int]:
    settings = options.get("settings")
    if settings is None:
        from service.config import get_settings

        settings = get_settings()
    return (settings.workers if workers is None else workers), settings.pool_queue


def get_pool(workers: int, queue: int) -> _Pool:
    """The process-wide pool, created (and its workers started) on first use; a different size
    than the running pool's replaces it."""
    global _pool
    with _pool_lock:
        if _pool is not None and (_pool.workers, _pool.queue) != (workers, queue):
            _pool.shutdown()
            _pool = None
        if _pool is None:
            _pool = _Pool(workers, queue)
        return _pool


def start(workers: int | None = None, **options: Any) -> None:
    """Start and warm the workers ahead of the first request (e.g. in the app's lifespan)."""
    size, queue = _sizes(workers, options)
    if size > 0:
        get_pool(size, queue)


def extract(data: bytes, filename: str | None = None, *, workers: int | None = None,
            **options: Any) -> tuple[Document, Extraction]:
    """`pipeline.extract_bytes(data, filename, **options)` in a worker process (blocking).
    Raises what the pipeline raises (NianbaoError refusals as themselves), PoolBusy, ReaderCrashed."""
    size, queue = _sizes(workers, options)
    if size == 0:
        from service import pipeline

        return pipeline.extract_bytes(data, filename, **options)
    pool = get_pool(size, queue)
    for attempt in range(2):
        future, executor = pool.submit(_run, data, filename, options)
        try:
            return _unwrap_pair(future.result())
        except BrokenProcessPool:
            pool.replace(executor)
            log.warning("worker died reading %r (attempt %d)", filename, attempt + 1)
    raise ReaderCrashed()


def submit(fn: Callable[..., Any], *args: Any, settings: Any) -> tuple[Future[Any], ProcessPoolExecutor]:
    """`fn(*args)` in a worker of the pool sized by `settings` (which must have workers > 0);
    the executor it went to, for `replace` when the future says BrokenProcessPool. Counts
    against the same in-flight bound as `extract` (PoolBusy past it)."""
    size, queue = _sizes(None, {"settings": settings})
    if size == 0:
        raise ValueError("pool.submit needs workers > 0")
    return get_pool(size, queue).submit(fn, *args)


def replace(broken: ProcessPoolExecutor) -> None:
    """A worker died under `broken`: a fresh executor, once however many callers saw it."""
    with _pool_lock:
        pool = _pool
    if pool is not None:
        pool.replace(broken)


async def extract_async(data: bytes, filename: str | None = None, *, workers: int | None = None,
                        **options: Any) -> tuple[Document, Extraction]:
    """`extract` for a coroutine: awaits the worker without blocking the event loop (with
    workers = 0, the pipeline runs in a thread of the loop's default executor instead)."""
    size, queue = _sizes(workers, options)
    if size == 0:
        from service import pipeline

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: pipeline.extract_bytes(data, filename, **options))
    result: tuple[Document, Extraction] = _unwrap_pair(
        await _in_worker(size, queue, filename, _run, data, filename, options))
    return result


async def extract_and_store_async(data: bytes, filename: str | None = None, *, database_url: str,
                                  reader_version: str | None, workers: int | None = None,
                                  **options: Any) -> bytes:
    """Read, store (crud.save_extraction into `database_url`, which every process must reach:
    a file or a server, not ':memory:') and render in a worker; the stored extraction's JSON,
    exactly `model_dump_json()` of what the calling process would have stored. Needs workers > 0.
    Raises the pipeline's and the store's refusals, PoolBusy, ReaderCrashed, StoreFailed."""
    size, queue = _sizes(workers, options)
    if size == 0:
        raise ValueError("extract_and_store_async needs workers > 0")
    payload: bytes = _unwrap(await _in_worker(size, queue, filename, _run_and_store, data, filename,
                                              options, database_url, reader_version))
    return payload


async def _in_worker(size: int, queue: int, filename: str | None, fn: Callable[..., Any],
                     *args: Any) -> tuple[str, Any]:
    """`fn(*args)` in the pool, awaited; once more on a fresh executor if a worker died under it."""
    running = _pool
    if running is None or (running.workers, running.queue) != (size, queue):
        # Starting the workers takes a moment: not on the event loop.
        running = await asyncio.to_thread(get_pool, size, queue)
    pool = running
    for attempt in range(2):
        future, executor = pool.submit(fn, *args)
        try:
            result: tuple[str, Any] = await asyncio.wrap_future(future)
            return result
        except BrokenProcessPool:
            pool.replace(executor)
            log.warning("worker died reading %r (attempt %d)", filename, attempt + 1)
    raise ReaderCrashed()


def shutdown() -> None:
    """Stop the workers (waiting for the running tasks); the next call starts a new pool."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown()


atexit.register(shutdown)
