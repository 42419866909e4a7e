"""Storage on both backends: migrations, round trips, one document per sha256, atomic saves."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from service.contract import DocumentInfo, Extraction, ExtractionInfo, FieldResult, Finding
from service.document import Document
from service.errors import UnreadableDocument
from service.store import crud
from service.store.db import (
    alembic_config,
    current_revision,
    database_is_ok,
    head_revision,
    json_dumps,
    make_engine,
    migrate,
    normalize_database_url,
    write_transaction,
    writing,
)
from service.store.models import DocumentRow, DocumentSourceRow, FieldRow, UserRow

REPORT_TEXT = "某某县人民政府2021年政府信息公开工作年度报告\n本年新收政府信息公开申请 12 件，予以公开 4 件。\n"


def make_document(text: str = REPORT_TEXT, filename: str | None = "报告.txt") -> Document:
    return Document(
        filename=filename,
        media_type="text/plain",
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        encoding="utf-8",
        text=text,
    )


def span_of(text: str, needle: str) -> tuple[int, int]:
    start = text.index(needle)
    return start, start + len(needle)


def make_extraction(doc: Document, extraction_id: str | None = None) -> Extraction:
    """An extraction exercising every kind of value the contract allows, with real spans."""
    text = doc.text
    return Extraction(
        document=DocumentInfo(
            id=doc.id, filename=doc.filename, sha256=doc.sha256, media_type=doc.media_type, chars=len(text)
        ),
        extraction=ExtractionInfo(
            id=extraction_id or "ext_" + uuid.uuid4().hex[:16],
            mode="deterministic",
            created_at=datetime.now(UTC),
            notices=["测试 / test"],
        ),
        fields=[
            FieldResult(path="meta.issuer", value="某某县人民政府", confidence=0.9, level="high",
                        sources={"parser": "某某县人民政府"}, span=span_of(text, "某某县人民政府")),
            FieldResult(path="meta.year", value=2021, confidence=0.95, level="high", span=span_of(text, "2021")),
            FieldResult(path="applications.new", value=12, confidence=0.7, level="medium",
                        sources={"parser": 12, "text": 12}, span=span_of(text, "12"), flags=["checked"]),
            FieldResult(path="x.ratio", value=1.5, confidence=0.5, level="medium"),
            FieldResult(path="x.flag", value=True, confidence=0.4, level="low"),
            FieldResult(path="applications.granted.total", value=None, confidence=0.0, level="low",
                        flags=["missing_cell", "text_table_conflict"]),
        ],
        findings=[
            Finding(kind="text_table_conflict", path="applications.granted.total",
                    message="正文称予以公开 4 件，表格为空", spans=[span_of(text, "予以公开 4 件")]),
        ],
    )


def test_migration_reaches_head_and_matches_the_models(engine: Engine) -> None:
    assert current_revision(engine) == head_revision() is not None
    migrate(engine)  # a second upgrade is a no-op, not an error
    assert database_is_ok(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                SQLModel.metadata)
    assert diff == [], "models and migrations disagree; write a migration"


def test_migrations_downgrade_to_nothing_and_back(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert not database_is_ok(engine)
    with engine.connect() as connection:
        assert not set(crud.TABLES_BY_NAME) & set(inspect(connection).get_table_names())
    migrate(engine)
    assert database_is_ok(engine)


def test_round_trip_keeps_every_value(session: Session) -> None:
    doc = make_document()
    extraction = make_extraction(doc)
    row = crud.save_extraction(session, doc, extraction)

    assert row.document_id == doc.id
    assert crud.get_extraction(session, extraction.extraction.id) == extraction
    stored_doc = crud.get_document(session, doc.id)
    assert stored_doc is not None
    assert (stored_doc.text, stored_doc.sha256, stored_doc.chars) == (doc.text, doc.sha256, len(doc.text))

    fields = crud.get_fields(session, extraction.extraction.id)
    assert [f.path for f in fields] == [f.path for f in extraction.fields]
    for stored, original in zip(fields, extraction.fields, strict=True):
        assert stored.value == original.value
        assert type(stored.value) is type(original.value)  # True stays a bool, 12 stays an int
        assert stored.sources == original.sources
        assert stored.flags == original.flags
        assert (stored.span_start, stored.span_end) == (original.span or (None, None))
        if original.span:
            assert doc.text[stored.span_start : stored.span_end] == str(original.value)

    findings = crud.get_findings(session, extraction.extraction.id)
    assert [(f.kind, f.path, f.message) for f in findings] == [
        (f.kind, f.path, f.message) for f in extraction.findings
    ]
    assert [f.spans for f in findings] == [[list(s) for s in f.spans] for f in extraction.findings]


def test_same_document_twice_is_one_document_with_two_extractions(session: Session) -> None:
    first, second = make_document(), make_document(filename="again.txt")
    ext1, ext2 = make_extraction(first), make_extraction(second)
    crud.save_extraction(session, first, ext1)
    crud.save_extraction(session, second, ext2)

    counts = crud.row_counts(session)
    assert counts["document"] == 1
    assert counts["extraction"] == 2
    assert counts["extraction_field"] == len(ext1.fields) + len(ext2.fields)
    assert counts["finding"] == len(ext1.findings) + len(ext2.findings)
    assert crud.extraction_ids_for(session, first.id) == [ext1.extraction.id, ext2.extraction.id]


def test_a_failed_save_stores_nothing(session: Session) -> None:
    crud.save_extraction(session, make_document(), make_extraction(make_document(), "ext_duplicate"))
    before = crud.row_counts(session)
    other = make_document(REPORT_TEXT + "另一份报告\n")
    with pytest.raises(IntegrityError):
        crud.save_extraction(session, other, make_extraction(other, "ext_duplicate"))
    session.rollback()
    assert crud.row_counts(session) == before
    assert crud.get_document(session, other.id) is None


def test_a_failure_mid_save_stores_nothing(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """The document, its source, the extraction and its fields are written before the findings:
    a findings insert the database refuses must take all of them back."""
    doc = make_document()
    extraction = make_extraction(doc)
    real_rows = crud._finding_rows

    def broken_rows(ext: Extraction) -> list[dict[str, Any]]:
        return [{**row, "message": None} for row in real_rows(ext)]  # NOT NULL on every backend

    monkeypatch.setattr(crud, "_finding_rows", broken_rows)
    with pytest.raises(IntegrityError):
        crud.save_extraction(session, doc, extraction, source=doc.text.encode())
    session.rollback()
    assert set(crud.row_counts(session).values()) == {0}
    assert session.exec(select(func.count()).select_from(DocumentSourceRow)).one() == 0
    monkeypatch.undo()
    crud.save_extraction(session, doc, extraction, source=doc.text.encode())
    counts = crud.row_counts(session)
    assert (counts["extraction_field"], counts["finding"]) == (len(extraction.fields), len(extraction.findings))


def test_concurrent_saves_all_land(engine: Engine) -> None:
    """Writers in threads, each with its own session, some on the same new document: none fails
    (no "database is locked" on SQLite), one document per sha256, every field stored."""
    docs = [make_document(REPORT_TEXT + f"第 {n % 4} 份\n") for n in range(12)]
    extractions = [make_extraction(doc) for doc in docs]

    def save(n: int) -> str:
        with Session(engine) as own:
            return crud.save_extraction(own, docs[n], extractions[n]).document_id

    with ThreadPoolExecutor(max_workers=6) as threads:
        stored = list(threads.map(save, range(len(docs))))
    assert stored == [doc.id for doc in docs]
    with Session(engine) as check:
        counts = crud.row_counts(check)
    assert counts["document"] == 4 and counts["extraction"] == 12
    assert counts["extraction_field"] == sum(len(e.fields) for e in extractions)
    assert counts["finding"] == sum(len(e.findings) for e in extractions)


def test_read_then_write_transactions_beside_saves_are_not_refused(engine: Engine) -> None:
    """Other writers (a review, a login) read, then write, in one transaction without asking for
    IMMEDIATE: beside concurrent saves they must wait their turn, never fail with "database is
    locked" (what a read snapshot taken before the write turns into under WAL)."""
    stop = threading.Event()
    errors: list[str] = []

    def saver() -> None:
        while not stop.is_set():
            doc = make_document(REPORT_TEXT + f"{uuid.uuid4()}\n")
            with Session(engine) as own:
                crud.save_extraction(own, doc, make_extraction(doc))

    def read_then_write(k: int) -> None:
        for i in range(10):
            try:
                with Session(engine) as own:
                    own.exec(select(func.count()).select_from(DocumentRow)).one()
                    time.sleep(0.005)
                    own.add(UserRow(username=f"u{k}_{i}", password_hash="x", role="reviewer"))
                    own.commit()
            except Exception as exc:  # what the test is looking for
                errors.append(str(exc).splitlines()[0])

    savers = [threading.Thread(target=saver) for _ in range(2)]
    others = [threading.Thread(target=read_then_write, args=(k,)) for k in range(3)]
    for thread in [*savers, *others]:
        thread.start()
    for thread in others:
        thread.join()
    stop.set()
    for thread in savers:
        thread.join()
    assert errors == []
    with Session(engine) as check:
        assert check.exec(select(func.count()).select_from(UserRow)).one() == 30


def test_a_sqlite_write_transaction_holds_the_write_lock_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "lock.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        migrate(engine)
        with Session(engine) as session:
            write_transaction(session)
            other = sqlite3.connect(path, timeout=0)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
            session.rollback()
    finally:
        engine.dispose()


def test_sqlite_writers_queue_on_a_lock_file_other_processes_see(tmp_path: Path) -> None:
    """The API's reader processes each store what they read: a writer holds an flock beside the
    database for its whole transaction (a second open of the file, as another process has,
    cannot take it), and lets go when done, committed or rolled back."""
    path = tmp_path / "queue.db"
    engine = make_engine(f"sqlite:///{path}")

    def taken_by_someone() -> bool:
        fd = os.open(f"{path}-writer", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops our own flock, if we got it
        return False

    try:
        migrate(engine)
        with Session(engine) as session:
            with writing(session):
                assert taken_by_someone()
                session.add(UserRow(username="a", password_hash="x", role="reviewer"))
                session.commit()
            assert not taken_by_someone()
            with pytest.raises(RuntimeError), writing(session):
                assert taken_by_someone()
                raise RuntimeError("mid-write")
            assert not taken_by_someone()
            assert session.exec(select(func.count()).select_from(UserRow)).one() == 1
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with engine.connect() as connection:
            pragmas = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                       for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")}
    finally:
        engine.dispose()
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 30_000, "synchronous": 1, "foreign_keys": 1}


_JSONABLE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(_JSONABLE)
def test_the_json_columns_text_is_exactly_what_json_dumps_writes(value: Any) -> None:
    assert json_dumps(value) == json.dumps(value)


def test_text_with_nul_is_refused_on_every_backend(session: Session) -> None:
    doc = make_document(REPORT_TEXT + "\x00")
    with pytest.raises(UnreadableDocument):
        crud.save_extraction(session, doc, make_extraction(doc))
    assert set(crud.row_counts(session).values()) == {0}


def test_changed_normalization_serves_the_newest_text(session: Session) -> None:
    old = make_document()
    crud.save_extraction(session, old, make_extraction(old))
    newer = old.model_copy(update={"text": old.text.replace("\n", " ")})
    crud.save_extraction(session, newer, make_extraction(newer))
    stored = crud.get_document(session, old.id)
    assert stored is not None and stored.text == newer.text and stored.chars == len(newer.text)


def test_unknown_ids_are_none(session: Session) -> None:
    assert crud.get_document(session, "doc_missing") is None
    assert crud.get_extraction(session, "ext_missing") is None
    assert crud.extraction_ids_for(session, "doc_missing") == []


def test_field_rows_are_queryable_by_path(session: Session) -> None:
    doc = make_document()
    crud.save_extraction(session, doc, make_extraction(doc))
    rows = session.exec(select(FieldRow).where(FieldRow.path == "applications.new")).all()
    assert [(r.value, r.level) for r in rows] == [(12, "medium")]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///./nianbao.db", "sqlite:///./nianbao.db"),
    ],
)
def test_postgres_urls_use_psycopg3(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


def test_sqlite_file_in_a_missing_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "still" / "nianbao.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        migrate(engine)
        assert path.exists() and database_is_ok(engine)
    finally:
        engine.dispose()


def test_unreachable_database_is_not_ok() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    try:
        assert not database_is_ok(engine)
    finally:
        engine.dispose()
