"""`nianbao batch PATH…` and `nianbao worker`.

`batch` takes files, folders, globs and `.zip` archives, stores them as a batch and reads them:
each file registered by its path and read when its turn comes. On the embedded store (SQLite) on
this machine's process pool (memory and the database hold only the files in flight); on
PostgreSQL as Procrastinate jobs, worked by this process's reader processes (unless
`--workers 0`) and by every `nianbao worker` on any machine, which read the bytes from the database: this command moves
them in as the queue drains (NIANBAO_BATCH_FEED_WINDOW files at a time; with --no-wait all at
once, streamed).
A progress bar (rate, ETA) goes to stderr when it is a terminal; the summary always goes to
stdout. Exit 0 when nothing failed (refusals are listed, they are not failures of the batch),
1 when an item failed, 2 for a command that cannot start, 130 when interrupted.

The process drives its batch (service.batch.driver: host, pid, start token, a heartbeat every
few seconds). Ctrl-C marks the batch `interrupted` before exiting 130; killed outright, the
next look (`nianbao batch`, GET /batches, the server starting) marks it. Run again over the same
paths with the same options, the command starts a new batch that skips what was read, and the
interrupted one names it (`continued_by`): see `cmd_batch`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session

from service.errors import NianbaoError

if TYPE_CHECKING:
    from service.batch.driver import Driver

_POLL_SECONDS = 0.5
# How often the PostgreSQL feeder tops the queue up.
_FEED_SECONDS = 0.2


def cmd_batch(paths: Sequence[str], *, mode: str | None = None, llm_scope: str | None = None,
              workers: int | None = None, wait: bool = True) -> int:
    """Store the batch, read it, print the summary; the exit status (module docstring).

    A re-run after an interruption starts a new batch over the same paths rather than taking
    the old one over: the paths are listed again (files added or changed since are seen), what
    was read is skipped at no cost (sha256 + reader version), the old batch's jobs already in
    the PostgreSQL queue finish under it without two processes driving one batch, and the old
    batch keeps the record of what happened to it (`interrupted`, `continued_by`)."""
    try:
        return _batch(paths, mode=mode, llm_scope=llm_scope, workers=workers, wait=wait)
    except KeyboardInterrupt:  # before the batch was stored (else `_run` has handled it)
        print("nianbao batch: interrupted before the batch was stored / 批次存储前已中断", file=sys.stderr)
        return 130


def _batch(paths: Sequence[str], *, mode: str | None, llm_scope: str | None, workers: int | None,
           wait: bool) -> int:
    from service.batch import store
    from service.batch.driver import this_process
    from service.batch.settings import batch_settings
    from service.batch.sources import expand_paths, read_paths, register_paths
    from service.batch.version import reader_version
    from service.config import get_settings
    from service.pipeline import check_scope, resolve_mode
    from service.store.db import make_engine

    settings = get_settings()
    if workers is not None:
        if workers < 0:
            print("nianbao batch: --workers 不能为负数 / must be 0 or more", file=sys.stderr)
            return 2
        settings = settings.model_copy(update={"workers": workers})
    try:
        resolved = resolve_mode(mode, settings)
        check_scope(llm_scope)
        limits = batch_settings()  # an invalid NIANBAO_BATCH_* is refused before anything is stored
        files = expand_paths(paths)
    except NianbaoError as exc:
        print(f"nianbao batch: {exc.reason}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    try:
        if not _migrated(engine, "batch"):
            return 2
        store.mark_abandoned(engine)  # a run killed earlier: interrupted, so that this one names it
        queued = engine.dialect.name == "postgresql"
        version = reader_version(resolved, settings, llm_scope)
        # With --no-wait on PostgreSQL the queue carries the batch on, not this process.
        driver = None if queued and not wait else this_process()
        progress = _progress()
        with progress:
            # Files are registered by path and read when their turn comes. Embedded: by the pool,
            # nothing copied into the database. PostgreSQL (workers on other machines read the
            # bytes from the database): this command moves them in as the queue drains, at most
            # NIANBAO_BATCH_FEED_WINDOW files at a time (`store.feed`); with --no-wait nobody
            # stays to do that, so every file's bytes go in now, streamed one at a time.
            limit = settings.max_upload_bytes
            stream_all = queued and not wait
            reading = progress.add_task("storing files / 存储文件" if stream_all else "listing files / 登记文件",
                                        total=len(files))
            with Session(engine) as session:
                listed = read_paths(files, limit) if stream_all else register_paths(files, limit)
                sources = _counted(listed, progress, reading)
                batch = store.create_batch(session, sources, origin="cli", mode=mode, llm_scope=llm_scope,
                                           reader_version=version, driver=driver,
                                           inputs_key=_inputs_key(files, mode, llm_scope, version))
                earlier = store.link_successor(session, batch)
                if queued:
                    from service.batch.queue import enqueue

                    enqueue(session, batch.id, model=resolved == "llm")
                session.commit()
                batch_id, total = batch.id, batch.total
            progress.remove_task(reading)
            for old in earlier:
                print(f"batch {batch_id} goes on from interrupted batch {old} / 接续已中断的批次 {old}",
                      file=sys.stderr)
            if queued and not wait:
                print(f"batch {batch_id}: {total} files queued for `nianbao worker` / 已加入队列")
                return 0
            try:
                interrupted = _run(engine, batch_id, total, settings, progress, driver=driver,
                                   queue_window=limits.feed_window if queued else None, model=resolved == "llm")
            finally:
                store.release(engine, batch_id)  # interrupted: marked so before the exit (130)
        return _summary(engine, batch_id, interrupted)
    finally:
        engine.dispose()


def _inputs_key(files: Sequence[Path], mode: str | None, llm_scope: str | None, version: str) -> str:
    """What a re-run of the same command over the same files with the same options shares."""
    listed = sorted(os.path.abspath(f) for f in files)
    return hashlib.sha256(json.dumps([version, mode, llm_scope, listed]).encode()).hexdigest()


def _run(engine: Engine, batch_id: str, total: int, settings: Any, progress: Any, *, driver: Driver | None,
         queue_window: int | None, model: bool) -> bool:
    """Work the batch with a live progress bar (and the driver's heartbeat); True when
    interrupted (Ctrl-C). `queue_window`: on PostgreSQL, the files moved in at a time
    (NIANBAO_BATCH_FEED_WINDOW); None on the embedded store. `model`: the extractions call it."""
    from service.batch import store

    with Session(engine) as session:
        done = store.counts(session, batch_id)
    task = progress.add_task("reading / 读取", total=total,
                             completed=done.succeeded + done.refused + done.failed + done.skipped)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(engine, batch_id, progress, task, stop, driver), daemon=True)
    watcher.start()
    try:
        if queue_window is None:
            from service.batch.runner import run_batch

            run_batch(engine, batch_id, settings)
        else:
            _feed_and_work(engine, batch_id, settings, queue_window, model)
            _wait_until_done(engine, batch_id)  # jobs other machines still hold
    except KeyboardInterrupt:
        return True
    finally:
        stop.set()
        watcher.join()
    return False


def _feed_and_work(engine: Engine, batch_id: str, settings: Any, window: int, model: bool) -> None:
    """PostgreSQL: a thread moves the files into the database and the queue as the jobs drain
    (`store.feed`, `window` files at a time); this thread works the queue (unless --workers 0)
    until every file is in and the queue is empty. `model`: the jobs take the model lock."""
    from service.batch import store
    from service.batch.queue import enqueue, run_worker

    local_worker = settings.workers > 0
    fed_all, stop = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def feed() -> bool:
        return store.feed(engine, batch_id, settings.max_upload_bytes, window,
                          lambda session, item_ids: enqueue(session, batch_id, model=model, item_ids=item_ids))

    def feeder() -> None:
        try:
            while not stop.is_set() and feed():
                stop.wait(_FEED_SECONDS)
        except BaseException as exc:  # re-raised in the command's thread
            failure.append(exc)
        finally:
            fed_all.set()

    if not feed():  # the first window before the worker starts (it stops on an empty queue)
        fed_all.set()
    else:
        threading.Thread(target=feeder, name="batch-feed", daemon=True).start()
    try:
        while True:
            last_round = fed_all.is_set()
            started = time.monotonic()
            if local_worker:
                run_worker(engine, settings, wait=False, signals=False)  # until the queue is empty
            if failure:
                raise failure[0]
            if last_round:
                return
            if time.monotonic() - started < _FEED_SECONDS:
                fed_all.wait(_FEED_SECONDS)  # the queue ran dry before the next files were in
    finally:
        stop.set()  # interrupted: the files not moved in stay registered (a run again reads them)


def _wait_until_done(engine: Engine, batch_id: str) -> None:
    from service.batch import store

    while True:
        with Session(engine) as session:
            left = store.counts(session, batch_id)
        if left.queued + left.running == 0:
            return
        time.sleep(_POLL_SECONDS)


def _watch(engine: Engine, batch_id: str, progress: Any, task: Any, stop: threading.Event,
           driver: Driver | None) -> None:
    """Progress from the database (items done here or by any other worker), and the driver's
    heartbeat every HEARTBEAT_SECONDS (a failed beat is tried again at the next)."""
    from sqlalchemy.exc import SQLAlchemyError

    from service.batch import store
    from service.batch.driver import HEARTBEAT_SECONDS

    beaten = time.monotonic()
    while True:
        stopping = stop.is_set()  # one last look after the work stopped: the bar ends where it did
        with Session(engine) as session:
            c = store.counts(session, batch_id)
        progress.update(task, completed=c.succeeded + c.refused + c.failed + c.skipped)
        if stopping:
            return
        if driver is not None and time.monotonic() - beaten >= HEARTBEAT_SECONDS:
            try:
                store.beat(engine, batch_id, driver)
                beaten = time.monotonic()
            except SQLAlchemyError:
                pass  # the database busy or away for a moment: the next beat is soon
        stop.wait(_POLL_SECONDS)


def _counted(sources: Any, progress: Any, task: Any) -> Any:
    for source in sources:
        yield source
        progress.advance(task)


def _progress() -> Any:
    """A bar with count, rate and ETA on stderr; nothing when stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Files per second."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f} files/s" if speed else "- files/s")

    console = Console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=console, disable=not console.is_terminal)


def _summary(engine: Engine, batch_id: str, interrupted: bool) -> int:
    """The counts, then every refused and failed file with its reason."""
    from service.batch import store

    with Session(engine) as session:
        view = store.get_batch(session, batch_id, with_items=False)
        assert view is not None
        listed = store.refused_items(session, batch_id)
    c = view.counts
    state = "interrupted / 已中断" if interrupted else "done / 完成"
    print(f"batch {batch_id} ({state}): {view.total} files: succeeded {c.succeeded}, refused {c.refused}, "
          f"failed {c.failed}, skipped {c.skipped} (already read by {view.reader_version})"
          + (f", left {c.queued + c.running}" if c.queued + c.running else ""))
    print(f"批次 {batch_id}：共 {view.total} 个文件，成功 {c.succeeded}，拒绝 {c.refused}，失败 {c.failed}，"
          f"跳过（已读取）{c.skipped}")
    for item in listed:
        code = f" [{item.code}]" if item.code else ""
        print(f"  {item.status}: {item.filename}{code}: {item.reason_zh} / {item.reason_en}")
    if interrupted:
        print("run the same command again to go on: what was read is skipped / 再次运行同一命令即可继续，已读取的文件会被跳过",
              file=sys.stderr)
        return 130
    return 1 if c.failed else 0


def _migrated(engine: Engine, command: str) -> bool:
    """The schema brought to head; False (and one line on stderr) when the database cannot be
    reached (a wrong DATABASE_URL, a server down) instead of a traceback."""
    from sqlalchemy.exc import OperationalError

    from service.store.db import migrate

    try:
        migrate(engine)
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0][:300]
        print(f"nianbao {command}: 无法连接数据库 / cannot reach the database ({engine.url.render_as_string()}): "
              f"{reason}", file=sys.stderr)
        return False
    return True


def cmd_worker(*, concurrency: int | None = None, stalled_seconds: float | None = None,
               heartbeat_seconds: float | None = None) -> int:
    """Work batch jobs from DATABASE_URL (PostgreSQL) until stopped."""
    import logging

    from service.batch import queue
    from service.config import get_settings
    from service.store.db import make_engine

    settings = get_settings()
    if concurrency is not None:
        settings = settings.model_copy(update={"workers": concurrency})
    engine = make_engine(settings.database_url)
    if engine.dialect.name != "postgresql":
        print("nianbao worker: workers need PostgreSQL (DATABASE_URL=postgresql://…); on SQLite a batch "
              "runs in the `nianbao batch` process / worker 需要 PostgreSQL；SQLite 上批次在 nianbao batch 进程内运行",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if not _migrated(engine, "worker"):
            return 2
        queue.run_worker(engine, settings,
                         stalled_seconds=stalled_seconds or queue.STALLED_SECONDS,
                         heartbeat_seconds=heartbeat_seconds or queue.HEARTBEAT_SECONDS)
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
    return 0
