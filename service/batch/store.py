"""Batch rows and the one place an item's status changes.

Exactly once: the extraction a batch makes of some bytes under a reader version has an id
derived from the two (`extraction_key`), so the extraction table's primary key itself refuses a
second copy, whoever stores it (a job run twice after its worker died, two workers given the
same file, the same file twice in a batch). The writer that loses finds the row and records
its item `skipped`; a run that died between storing and recording finds its own row and
records `succeeded`. Every write transaction is one `store.db.writing` block: on SQLite it
begins as a writer (BEGIN IMMEDIATE), after the writers of every process (the reader processes
store their own items) took turns on a lock, so the embedded store waits for its lock instead
of failing, and without the busy handler's sleeps.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select, update

from service.batch.driver import Driver
from service.batch.public import (
    FINAL,
    BatchCounts,
    BatchItemPublic,
    BatchPublic,
    BatchStatus,
)
from service.batch.sources import Source
from service.contract import Extraction
from service.document import Document
from service.errors import NianbaoError
from service.store import crud
from service.store.db import writing
from service.store.models import (
    BatchItemRow,
    BatchRow,
    BatchSourceRow,
    ExtractionRow,
    ExtractionVersionRow,
    utc_now,
)

# Flush (and let go of) this many new item rows at a time while creating a batch.
_FLUSH_EVERY = 50
# Items moved into the database per transaction by `feed`.
_FEED_CHUNK = 32


def new_batch_id() -> str:
    return "bat_" + uuid.uuid4().hex[:16]


def create_batch(session: Session, sources: Iterable[Source], *, origin: str, mode: str | None,
                 llm_scope: str | None, reader_version: str, driver: Driver | None = None,
                 inputs_key: str | None = None) -> BatchRow:
    """The batch and its items, in the session's transaction (the caller commits, after
    enqueueing the jobs in the same transaction on PostgreSQL). A refused source is an item
    `refused` at once; bytes already read by `reader_version` an item `skipped`; the rest
    `queued`, their bytes in `batch_source` so that any machine's worker can read them. A
    source registered by its path (no bytes: `sources.register_paths`, this machine only) is
    queued with the path; its bytes are read, hashed and perhaps skipped when claimed.
    `driver`: the process that carries the batch on (`nianbao batch`), None when the server or
    the queue does; `inputs_key`: what a re-run of the same command finds it by."""
    batch = BatchRow(id=new_batch_id(), origin=origin, mode=mode, llm_scope=llm_scope,
                     reader_version=reader_version, total=0, inputs_key=inputs_key)
    if driver is not None:
        batch.driver_host, batch.driver_pid, batch.driver_token = driver.host, driver.pid, driver.token
        batch.heartbeat_at = utc_now()
    session.add(batch)
    session.flush()
    position = 0
    for position, source in enumerate(sources, start=1):
        item = BatchItemRow(batch_id=batch.id, position=position, filename=source.name[:512],
                            status="queued")
        if source.refusal is not None or (source.data is None and source.path is None):
            _set_refused(item, source.refusal)
            item.size = source.size
            session.add(item)
            continue
        if source.data is None:
            item.source_path, item.source_member, item.size = source.path, source.member, source.size
            session.add(item)
            if position % _FLUSH_EVERY == 0:
                _let_go(session, batch)
            continue
        item.sha256 = hashlib.sha256(source.data).hexdigest()
        item.size = len(source.data)
        done = done_extraction(session, item.sha256, reader_version)
        if done is not None:
            item.status = "skipped"
            item.extraction_id, item.document_id = done
            session.add(item)
            continue
        session.add(item)
        session.flush()
        assert item.id is not None
        content = BatchSourceRow(item_id=item.id, content=source.data)
        session.add(content)
        session.flush()
        session.expunge(content)  # the bytes are in the database now: one file in memory at a time
        if position % _FLUSH_EVERY == 0:
            _let_go(session, batch)
    batch.total = position
    session.add(batch)
    session.flush()
    return batch


def _let_go(session: Session, batch: BatchRow) -> None:
    """Flush the rows added so far and forget them (thousands of items need not stay in the
    session), keeping the batch."""
    session.flush()
    session.expunge_all()
    session.add(batch)


def feed(engine: Engine, batch_id: str, limit: int, window: int, enqueue: Any) -> bool:
    """PostgreSQL, `nianbao batch`: move the next items registered by path into the database
    (their bytes into batch_source, their jobs into the queue via `enqueue(session, item_ids)`,
    a transaction per _FEED_CHUNK items) until `window` items of the batch are in flight; False once no
    item is left to move. The database then holds the bytes of at most `window` files (plus
    those whose items are running), not the whole batch. An item that cannot be read is
    refused here; bytes already read by the batch's reader version are skipped here."""
    from service.batch.sources import load

    fed = (select(func.count()).select_from(BatchItemRow).where(BatchItemRow.batch_id == batch_id)
           .where(col(BatchItemRow.status).in_(("queued", "running")))
           .where(col(BatchItemRow.source_path).is_(None)))
    with Session(engine) as session:
        batch = session.get(BatchRow, batch_id)
        if batch is None:
            return False
        version = batch.reader_version
        room = window - session.exec(fed).one()
        waiting = session.exec(
            select(BatchItemRow).where(BatchItemRow.batch_id == batch_id).where(BatchItemRow.status == "queued")
            .where(col(BatchItemRow.source_path).is_not(None)).order_by(col(BatchItemRow.position))
            .limit(max(room, 1))).all()
        registered = [(i.id, Source(i.filename, None, path=i.source_path, member=i.source_member))
                      for i in waiting if i.id is not None]
    if not registered:
        return False
    todo = registered[:max(room, 0)]
    for start in range(0, len(todo), _FEED_CHUNK):
        with Session(engine) as session, writing(session):
            moved = []
            for item_id, source in todo[start:start + _FEED_CHUNK]:
                item = _locked_item(session, item_id)
                if item is None or item.status in FINAL or item.source_path is None:
                    continue
                loaded = load(source, limit)  # one file in memory at a time
                item.source_path = item.source_member = None
                if _take_bytes(session, item, loaded, version) is not None or loaded.data is None:
                    continue
                session.add(item)
                content = BatchSourceRow(item_id=item_id, content=loaded.data)
                session.add(content)
                session.flush()
                session.expunge(content)
                moved.append(item_id)
            if moved:
                enqueue(session, moved)
            session.commit()
    return True


def queued_item_ids(session: Session, batch_id: str) -> list[int]:
    """What is left to do in a batch (queued or left running by a process that died), in order."""
    query = (select(BatchItemRow.id).where(BatchItemRow.batch_id == batch_id)
             .where(col(BatchItemRow.status).in_(("queued", "running")))
             .order_by(col(BatchItemRow.position)))
    return [i for i in session.exec(query).all() if i is not None]


def unfinished_batch_ids(session: Session) -> list[str]:
    """Batches the server carries on (no `nianbao batch` drives them, none was interrupted) with
    items queued or running, oldest first."""
    query = (select(BatchItemRow.batch_id)
             .join(BatchRow, col(BatchRow.id) == col(BatchItemRow.batch_id))
             .where(col(BatchItemRow.status).in_(("queued", "running")))
             .where(col(BatchRow.driver_pid).is_(None)).where(col(BatchRow.interrupted_at).is_(None))
             .group_by(col(BatchItemRow.batch_id)).order_by(func.min(BatchItemRow.id)))
    return list(session.exec(query).all())


def done_extraction(session: Session, sha256: str, reader_version: str) -> tuple[str, str] | None:
    """(extraction id, document id) of the extraction these bytes got from this reader version."""
    query = (select(ExtractionVersionRow.extraction_id, ExtractionRow.document_id)
             .join(ExtractionRow, col(ExtractionRow.id) == col(ExtractionVersionRow.extraction_id))
             .where(ExtractionVersionRow.sha256 == sha256)
             .where(ExtractionVersionRow.reader_version == reader_version))
    row = session.exec(query).first()
    return None if row is None else (row[0], row[1])


@dataclass(frozen=True)
class Claim:
    """An item a worker is now reading: its bytes and how to read them."""

    item_id: int
    batch_id: str
    filename: str
    data: bytes
    mode: str | None
    llm_scope: str | None
    reader_version: str  # this worker's, for the batch's options: what the extraction is stored under


def claim(engine: Engine, item_id: int, reader_version_of: Any, limit: int) -> Claim | str:
    """Mark the item running and hand out its bytes; or its final status when there is nothing
    to do (already final, or its bytes already read by this reader version: now `skipped`).
    `reader_version_of(batch)` is this worker's reader version for the batch's options. An item
    registered by its path is read now, before the write lock is taken (`limit`: the upload
    limit, NIANBAO_MAX_UPLOAD_BYTES); a file gone or grown past the limit is `refused`."""
    with Session(engine) as session:  # one connection for the whole claim
        loaded = _load_registered(session, item_id, limit)
        with writing(session):
            item = _open_item(session, item_id)
            if isinstance(item, str):
                return item
            batch = session.get(BatchRow, item.batch_id)
            assert batch is not None
            version = reader_version_of(batch)
            final = _take_bytes(session, item, loaded, version)
            if final is not None:
                session.commit()
                return final
            data = loaded.data if loaded is not None else None
            source = None if data is not None else session.get(BatchSourceRow, item_id)
            if source is not None:
                data = source.content
            if data is None:
                item.code, item.reason_en, item.reason_zh = (
                    "source_missing", "the item's bytes are no longer stored", "该文件的内容已不在数据库中")
                _finish(session, item, "failed")
                session.commit()
                return "failed"
            claimed = Claim(item_id=item_id, batch_id=batch.id, filename=item.filename, data=data,
                            mode=batch.mode, llm_scope=batch.llm_scope,  # before the commit expires them
                            reader_version=version)
            item.status = "running"
            item.attempts += 1
            item.updated_at = utc_now()
            session.add(item)
            session.commit()
            return claimed


def _take_bytes(session: Session, item: BatchItemRow, loaded: Source | None, version: str) -> str | None:
    """Record what reading the item's file gave (`loaded`; None: its bytes were stored before):
    `refused` when it could not be read, `skipped` when these bytes were already read by
    `version`, each final (returned); None when the item is still to be read."""
    if loaded is not None:
        if loaded.data is None:
            _set_refused(item, loaded.refusal)
            _finish(session, item, "refused")
            return "refused"
        item.sha256 = hashlib.sha256(loaded.data).hexdigest()
        item.size = len(loaded.data)
    if item.sha256 is None:
        return None
    done = done_extraction(session, item.sha256, version)
    if done is None:
        return None
    item.extraction_id, item.document_id = done
    # The item was running when its worker died (a retried job), and the batch extraction of its
    # bytes has no owner: that run stored it before it could record it. The item is done, not
    # skipped. (An item of a new batch given bytes an interrupted batch read is `skipped`.)
    own = (item.status == "running" and done[0] == extraction_key(item.sha256, version)
           and not _owned(session, done[0]))
    status = "succeeded" if own else "skipped"
    _finish(session, item, status)
    return status


def _load_registered(session: Session, item_id: int, limit: int) -> Source | None:
    """The bytes (or the refusal) of an item registered by its path, read before the item is
    locked (a slow disk holds no lock); None for an item whose bytes are in batch_source, or one
    already final."""
    from service.batch.sources import load

    item = session.get(BatchItemRow, item_id)
    if item is None or item.source_path is None or item.status in FINAL:
        return None
    registered = Source(item.filename, None, path=item.source_path, member=item.source_member)
    return load(registered, limit)


def extraction_key(sha256: str, reader_version: str) -> str:
    """The id of the extraction these bytes get from this reader version in a batch."""
    return "ext_" + hashlib.sha256(f"{sha256} {reader_version}".encode()).hexdigest()[:16]


def store_extraction(engine: Engine, item_id: int, reader_version: str, doc: Document,
                     extraction: Extraction, data: bytes) -> str:
    """Store the item's extraction exactly once (see the module docstring); its final status."""
    key = extraction_key(doc.sha256, reader_version)
    with Session(engine) as session:
        item = session.get(BatchItemRow, item_id)
        if item is None:
            return "failed"
        if item.status in FINAL:
            return item.status  # another run of this job recorded it first
        done = done_extraction(session, doc.sha256, reader_version)
    if done is not None:
        # Read before: under another id (another batch's item, a single upload) it stands and
        # this item is skipped; under this id (the version row is written with the extraction)
        # by a run of this job that died before recording it, or by another item (`_record`).
        return _record(engine, item_id, done[0], done[1], "succeeded" if done[0] == key else "skipped")
    extraction.extraction.id = key
    try:
        with Session(engine) as session:
            crud.save_extraction(session, doc, extraction, source=data, reader_version=reader_version)
    except IntegrityError:
        if not _extraction_exists(engine, key):
            raise
        return _record(engine, item_id, key, doc.id, "skipped")
    return _record(engine, item_id, key, doc.id, "succeeded")


def _extraction_exists(engine: Engine, extraction_id: str) -> bool:
    with Session(engine) as session:  # the id only, not the contract
        return session.exec(select(ExtractionRow.id).where(ExtractionRow.id == extraction_id)).first() is not None


def _owned(session: Session, extraction_id: str) -> bool:
    """Whether an item already succeeded with this extraction (it is that item's, not ours)."""
    return session.exec(select(BatchItemRow.id).where(BatchItemRow.extraction_id == extraction_id)
                        .where(BatchItemRow.status == "succeeded")).first() is not None


def _record(engine: Engine, item_id: int, extraction_id: str, document_id: str, status: str) -> str:
    """The item's outcome (the extraction's version row was written with the extraction, by
    crud.save_extraction). `succeeded` turns `skipped` when another item already owns the
    extraction."""
    with Session(engine) as session, writing(session):
        item = _open_item(session, item_id)
        if isinstance(item, str):
            return item
        if status == "succeeded" and _owned(session, extraction_id):
            status = "skipped"
        item.extraction_id, item.document_id = extraction_id, document_id
        item.code = item.reason_en = item.reason_zh = None
        _finish(session, item, status)
        session.commit()
        return status


def store_refusal(engine: Engine, item_id: int, refusal: NianbaoError | None) -> str:
    """The item is not something we read: `refused`, with the reason."""
    return _final(engine, item_id, "refused", refusal)


def store_failure(engine: Engine, item_id: int, error: BaseException) -> str:
    """Our fault (a bug, a dead worker after its retries): `failed`, with what broke."""
    message = f"{type(error).__name__}: {error}"[:500]
    failure = NianbaoError(f"internal error: {message}", f"内部错误：{message}")
    failure.code = "internal_error"
    return _final(engine, item_id, "failed", failure)


def requeue(engine: Engine, item_id: int) -> None:
    """Back to `queued` (the queue will try again), unless another run finished it."""
    with Session(engine) as session, writing(session):
        item = _locked_item(session, item_id)
        if item is not None and item.status not in FINAL:
            item.status = "queued"
            item.updated_at = utc_now()
            session.add(item)
            session.commit()


# --- who drives a batch (service.batch.driver) --------------------------------------------------

def beat(engine: Engine, batch_id: str, driver: Driver) -> None:
    """The driver is alive: its heartbeat, now (only while it still drives the batch)."""
    with Session(engine) as session, writing(session):
        session.exec(update(BatchRow).where(col(BatchRow.id) == batch_id)
                     .where(col(BatchRow.driver_pid) == driver.pid).where(col(BatchRow.driver_token) == driver.token)
                     .values(heartbeat_at=utc_now()))
        session.commit()


def release(engine: Engine, batch_id: str) -> bool:
    """The driver stops driving (done, or Ctrl-C): see `_let_driver_go`. True when the batch is
    now `interrupted`."""
    with Session(engine) as session, writing(session):
        batch = _locked_batch(session, batch_id)
        if batch is None or batch.driver_pid is None:
            return batch is not None and batch.interrupted_at is not None
        interrupted = _let_driver_go(session, batch)
        session.commit()
        return interrupted


def mark_abandoned(engine: Engine, batch_id: str | None = None) -> list[str]:
    """Batches (`batch_id`: that one only) whose `nianbao batch` driver is gone without saying so
    (SIGKILL, a closed terminal, a lost machine): let go of that driver (`_let_driver_go`). The
    ids now `interrupted`. A batch whose driver is alive is never touched."""
    from service.batch.driver import alive

    query = select(BatchRow).where(col(BatchRow.driver_pid).is_not(None))
    if batch_id is not None:
        query = query.where(BatchRow.id == batch_id)
    now = utc_now()
    with Session(engine) as session:  # a few rows: the batches being driven now
        gone = [row.id for row in session.exec(query).all()
                if not alive(row.driver_host, row.driver_pid, row.driver_token, row.heartbeat_at, now)]
    interrupted = []
    for gone_id in gone:
        with Session(engine) as session, writing(session):
            batch = _locked_batch(session, gone_id)  # looked at again under the lock: it may have just ended
            if batch is None or batch.driver_pid is None or \
                    alive(batch.driver_host, batch.driver_pid, batch.driver_token, batch.heartbeat_at, utc_now()):
                continue
            if _let_driver_go(session, batch):
                interrupted.append(gone_id)
            session.commit()
    return interrupted


def link_successor(session: Session, batch: BatchRow) -> list[str]:
    """A re-run of the same command (same `inputs_key`): the interrupted batches it goes on from
    now name it as their successor (in the session's transaction). Their ids."""
    if batch.inputs_key is None:
        return []
    earlier = session.exec(select(BatchRow).where(BatchRow.inputs_key == batch.inputs_key)
                           .where(BatchRow.id != batch.id).where(col(BatchRow.interrupted_at).is_not(None))
                           .where(col(BatchRow.continued_by).is_(None))).all()
    for row in earlier:
        row.continued_by = batch.id
        session.add(row)
    return [row.id for row in earlier]


def _let_driver_go(session: Session, batch: BatchRow) -> bool:
    """The driver no longer carries the batch on. What its process was reading is queued again
    (embedded store: the process is gone). Work left that only a driver does (embedded: every
    item not final; PostgreSQL: the items never moved into the queue) makes the batch
    `interrupted`; on PostgreSQL with every item in the queue, the queue carries it on (workers
    finish it). True when interrupted."""
    queue = session.get_bind().dialect.name == "postgresql"
    if not queue:
        for item in session.exec(select(BatchItemRow).where(BatchItemRow.batch_id == batch.id)
                                 .where(BatchItemRow.status == "running")).all():
            item.status = "queued"
            session.add(item)
    left = (select(func.count()).select_from(BatchItemRow).where(BatchItemRow.batch_id == batch.id)
            .where(col(BatchItemRow.status).in_(("queued", "running"))))
    if queue:
        left = left.where(col(BatchItemRow.source_path).is_not(None))
    interrupted = session.exec(left).one() > 0
    if interrupted:
        batch.interrupted_at = utc_now()
    batch.driver_pid = None  # what the batch recorded of its driver (host, token) stays
    session.add(batch)
    return interrupted


def _locked_batch(session: Session, batch_id: str) -> BatchRow | None:
    return session.exec(select(BatchRow).where(BatchRow.id == batch_id).with_for_update()).first()


def _final(engine: Engine, item_id: int, status: str, reason: NianbaoError | None) -> str:
    with Session(engine) as session, writing(session):
        item = _locked_item(session, item_id)
        if item is None:
            return status
        if item.status in FINAL:
            return item.status
        if status == "refused":
            _set_refused(item, reason)
        elif reason is not None:
            item.code, item.reason_en, item.reason_zh = reason.code, reason.message_en, reason.message_zh
        _finish(session, item, status)
        session.commit()
        return status


def _set_refused(item: BatchItemRow, refusal: NianbaoError | None) -> None:
    item.status = "refused"
    if refusal is not None:
        item.code, item.reason_en, item.reason_zh = refusal.code, refusal.message_en, refusal.message_zh


def _finish(session: Session, item: BatchItemRow, status: str) -> None:
    """A final status; the item's bytes are no longer needed (a stored document keeps its own)."""
    item.status = status
    item.updated_at = utc_now()
    session.add(item)
    if item.id is not None:
        session.exec(delete(BatchSourceRow).where(col(BatchSourceRow.item_id) == item.id))


def _open_item(session: Session, item_id: int) -> BatchItemRow | str:
    """Lock the item (inside `writing`); its status instead when there is nothing left to do on
    it (`failed` when it is gone, its final status when another run finished it)."""
    item = _locked_item(session, item_id)
    if item is None:
        return "failed"
    return item.status if item.status in FINAL else item


def _locked_item(session: Session, item_id: int) -> BatchItemRow | None:
    """The item, locked until the transaction ends (FOR UPDATE on PostgreSQL; SQLite locks the
    whole database on write instead)."""
    return session.exec(select(BatchItemRow).where(BatchItemRow.id == item_id).with_for_update()
                        .execution_options(populate_existing=True)).first()  # as it is now, not as read before


# --- reading ----------------------------------------------------------------------------------

def counts(session: Session, batch_id: str) -> BatchCounts:
    query = (select(BatchItemRow.status, func.count()).where(BatchItemRow.batch_id == batch_id)
             .group_by(col(BatchItemRow.status)))
    return BatchCounts(**{status: n for status, n in session.exec(query).all()})


def batch_public(session: Session, batch: BatchRow, *, with_items: bool = False) -> BatchPublic:
    tally = counts(session, batch.id)
    left = tally.queued + tally.running
    started = tally.running or tally.succeeded or tally.refused or tally.failed or tally.skipped
    status: BatchStatus = "done" if left == 0 else (
        "interrupted" if batch.interrupted_at is not None else "running" if started else "queued")
    finished_at: datetime | None = None
    if status == "done":
        finished_at = session.exec(select(func.max(BatchItemRow.updated_at))
                                   .where(BatchItemRow.batch_id == batch.id)).one()
    items = None
    if with_items:
        rows = session.exec(select(BatchItemRow).where(BatchItemRow.batch_id == batch.id)
                            .order_by(col(BatchItemRow.position))).all()
        items = [BatchItemPublic.model_validate(row, from_attributes=True) for row in rows]
    return BatchPublic(
        id=batch.id, status=status, origin=batch.origin, mode=batch.mode, llm_scope=batch.llm_scope,
        reader_version=batch.reader_version, total=batch.total, done=batch.total - left, counts=tally,
        created_at=batch.created_at, finished_at=finished_at or batch.created_at if status == "done" else None,
        interrupted_at=batch.interrupted_at, continued_by=batch.continued_by,
        driver=None if batch.driver_pid is None else f"{batch.driver_host}:{batch.driver_pid}",
        items=items,
    )


def get_batch(session: Session, batch_id: str, *, with_items: bool = True) -> BatchPublic | None:
    batch = session.get(BatchRow, batch_id)
    return None if batch is None else batch_public(session, batch, with_items=with_items)


def list_batches(session: Session, limit: int = 100, offset: int = 0) -> list[BatchPublic]:
    rows = session.exec(select(BatchRow).order_by(col(BatchRow.created_at).desc(), col(BatchRow.id))
                        .offset(offset).limit(limit)).all()
    return [batch_public(session, row) for row in rows]


def refused_items(session: Session, batch_id: str, statuses: tuple[str, ...] = ("refused", "failed")
                  ) -> list[BatchItemRow]:
    return list(session.exec(select(BatchItemRow).where(BatchItemRow.batch_id == batch_id)
                             .where(col(BatchItemRow.status).in_(statuses))
                             .order_by(col(BatchItemRow.position))).all())
