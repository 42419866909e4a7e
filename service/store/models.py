"""Tables. Changes here go through an Alembic migration in service/store/migrations/versions/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text
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
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


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
