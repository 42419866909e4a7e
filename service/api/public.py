"""What the routes return and accept (the FastAPI template's *Public models)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator


class ErrorPublic(BaseModel):
    error: str
    reason: str
    reason_zh: str
    reason_en: str


class ExtractTextRequest(BaseModel):
    """POST /extract as JSON: the report's text, and optionally the name it came under."""

    model_config = ConfigDict(extra="forbid")

    text: str
    filename: str | None = None


class DocumentPublic(BaseModel):
    id: str
    filename: str | None
    sha256: str
    media_type: str
    encoding: str | None
    pages: int | None
    chars: int
    created_at: datetime
    extraction_ids: list[str]

    @field_validator("created_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        """SQLite hands back naive datetimes; we always store UTC, so say so on every backend."""
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class HealthPublic(BaseModel):
    status: Literal["ok", "error"]
    version: str
    database: Literal["ok", "error"]
    mode: Literal["deterministic", "llm"]
