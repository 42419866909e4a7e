"""Tables. Changes here go through an Alembic migration in service/store/migrations/versions/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

# Stable constraint names, so migrations can refer to them on every backend.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class DocumentRow(SQLModel, table=True):
    """One uploaded document, identified by its content (sha256): re-uploads share the row."""

    __tablename__ = "document"

    id: str = Field(primary_key=True, max_length=64)
    sha256: str = Field(max_length=64, unique=True)
    filename: str | None = None
    media_type: str = Field(max_length=128)
    encoding: str | None = Field(default=None, max_length=64)
    pages: int | None = None
    chars: int
    # The normalized text every span of every extraction points into.
    text: str = Field(sa_column=Column(Text, nullable=False))
    # Where each grid cell of a PDF stood on its page (page number, box, page size), keyed by the
    # cell's span in `text`: what the review UI draws over the page image. Null for other formats.
    boxes: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class DocumentSourceRow(SQLModel, table=True):
    """The bytes as uploaded: re-extraction with a new reader and PDF page images need them."""

    __tablename__ = "document_source"

    document_id: str = Field(foreign_key="document.id", primary_key=True, max_length=64)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ExtractionRow(SQLModel, table=True):
    """One run of the pipeline over a document; `contract` is the full public JSON."""

    __tablename__ = "extraction"

    id: str = Field(primary_key=True, max_length=64)
    document_id: str = Field(foreign_key="document.id", index=True, max_length=64)
    mode: str = Field(max_length=32)
    model: str | None = None
    prompt_version: str | None = None
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    contract: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class FieldRow(SQLModel, table=True):
    """One field of one extraction, queryable without unpacking the contract JSON."""

    __tablename__ = "extraction_field"

    id: int | None = Field(default=None, primary_key=True)
    extraction_id: str = Field(foreign_key="extraction.id", index=True, max_length=64)
    position: int
    path: str = Field(index=True)
    value: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    confidence: float
    level: str = Field(max_length=16)
    sources: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    span_start: int | None = None
    span_end: int | None = None
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class FindingRow(SQLModel, table=True):
    """One finding of one extraction (a failed rule, a missing cell, a conflict)."""

    __tablename__ = "finding"

    id: int | None = Field(default=None, primary_key=True)
    extraction_id: str = Field(foreign_key="extraction.id", index=True, max_length=64)
    position: int
    kind: str = Field(index=True, max_length=64)
    path: str
    message: str = Field(sa_column=Column(Text, nullable=False))
    spans: list[list[int]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class UserRow(SQLModel, table=True):
    """A person who may write reviews; `password_hash` is argon2 (service.auth)."""

    __tablename__ = "user_account"  # `user` is reserved in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=256)
    role: str = Field(max_length=16)
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class ApiTokenRow(SQLModel, table=True):
    """An API token for scripts; only its sha256 is stored, the token is shown once."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class SessionRow(SQLModel, table=True):
    """A signed-in browser: the cookie carries a random id whose sha256 is stored here, so
    logout really ends the session; the CSRF token is checked on every write."""

    __tablename__ = "user_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class FieldReviewRow(SQLModel, table=True):
    """A person's value for one field of one document; it outlives re-extractions."""

    __tablename__ = "field_review"
    __table_args__ = (UniqueConstraint("document_id", "path", name="uq_field_review_document_id_path"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: str = Field(foreign_key="document.id", index=True, max_length=64)
    path: str = Field(max_length=255)
    value: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    action: str = Field(max_length=16)
    version: int
    reviewed_by: str = Field(max_length=64)
    reviewed_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class AuditRow(SQLModel, table=True):
    """Append-only record of every write a person made (reviews, status changes, re-extractions)."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    user: str = Field(max_length=64)
    document_id: str = Field(index=True, max_length=64)
    path: str | None = Field(default=None, max_length=255)
    action: str = Field(max_length=32)
    old: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    new: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    version: int | None = None


class DocumentStatusRow(SQLModel, table=True):
    """A document's review status; no row means `to_review`."""

    __tablename__ = "document_status"

    document_id: str = Field(foreign_key="document.id", primary_key=True, max_length=64)
    status: str = Field(max_length=16)
    updated_by: str = Field(max_length=64)
    updated_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class BatchRow(SQLModel, table=True):
    """A batch of files read together (`nianbao batch`, POST /batches); its counts come from its items."""

    __tablename__ = "batch"

    id: str = Field(primary_key=True, max_length=32)
    origin: str = Field(max_length=16)  # cli | api
    mode: str | None = Field(default=None, max_length=32)
    llm_scope: str | None = Field(default=None, max_length=32)
    # The reader version the batch's extractions are recorded under (service.batch.version).
    reader_version: str = Field(max_length=255)
    total: int
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    # Who drives the batch (service.batch.driver). A `nianbao batch` process: its host, pid and
    # start token, and a heartbeat it renews every few seconds; none for a batch the server
    # (SQLite: resumed at its start-up) or the queue (PostgreSQL jobs) carries on.
    driver_host: str | None = Field(default=None, max_length=255)
    driver_pid: int | None = None
    driver_token: str | None = Field(default=None, max_length=128)
    heartbeat_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    # Set when the driver is gone with work left that nobody else will do (status `interrupted`).
    interrupted_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    # The batch a re-run of the same command started to go on with this one's work.
    continued_by: str | None = Field(default=None, max_length=32)
    # sha256 of the command's inputs (resolved paths and options): how a re-run finds this batch.
    inputs_key: str | None = Field(default=None, max_length=64, index=True)


class BatchItemRow(SQLModel, table=True):
    """One file of a batch: queued → running → succeeded | refused | failed | skipped."""

    __tablename__ = "batch_item"
    __table_args__ = (UniqueConstraint("batch_id", "position", name="uq_batch_item_batch_id_position"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(foreign_key="batch.id", index=True, max_length=32)
    position: int
    filename: str = Field(max_length=512)
    sha256: str | None = Field(default=None, max_length=64, index=True)
    size: int | None = None
    status: str = Field(max_length=16, index=True)
    code: str | None = Field(default=None, max_length=64)
    reason_en: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reason_zh: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    document_id: str | None = Field(default=None, max_length=64)
    extraction_id: str | None = Field(default=None, max_length=64, index=True)  # who already owns an extraction
    # Where the bytes lie when they are not in batch_source (`nianbao batch` on the embedded
    # store): a file's path, or a zip's path and the member's name in it. Read when claimed.
    source_path: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    source_member: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    attempts: int = 0
    updated_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class BatchSourceRow(SQLModel, table=True):
    """An item's bytes until it is done, in the database so that any machine's worker can read
    them; deleted when the item reaches a final state (the document keeps its own copy)."""

    __tablename__ = "batch_source"

    item_id: int = Field(foreign_key="batch_item.id", primary_key=True)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ExtractionVersionRow(SQLModel, table=True):
    """Which bytes (sha256) an extraction read under which reader version: a batch skips bytes
    already read by the same version, and the unique key stores each such extraction once.
    The foreign key is checked at commit, so this row can be written in the same transaction
    as the extraction it names, whatever order the store flushes in."""

    __tablename__ = "extraction_version"
    __table_args__ = (
        UniqueConstraint("sha256", "reader_version", name="uq_extraction_version_sha256_reader_version"),
    )

    extraction_id: str = Field(
        sa_column=Column(
            String(64),
            ForeignKey("extraction.id", deferrable=True, initially="DEFERRED",
                       name="fk_extraction_version_extraction_id_extraction"),
            primary_key=True,
        )
    )
    sha256: str = Field(max_length=64)
    reader_version: str = Field(max_length=255)
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
