"""What GET /batches and GET /batches/{id} answer (and what `nianbao batch` summarises)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ItemStatus = Literal["queued", "running", "succeeded", "refused", "failed", "skipped"]
BatchStatus = Literal["queued", "running", "interrupted", "done"]
STATUSES: tuple[str, ...] = ("queued", "running", "succeeded", "refused", "failed", "skipped")
FINAL: frozenset[str] = frozenset({"succeeded", "refused", "failed", "skipped"})


class BatchCounts(BaseModel):
    """Items per status; `queued + running` is what is left to do."""

    queued: int = 0
    running: int = 0
    succeeded: int = 0
    refused: int = 0
    failed: int = 0
    skipped: int = 0


class BatchItemPublic(BaseModel):
    """One file of a batch. `skipped`: these bytes were already read by the same reader version
    (`extraction_id` is that extraction). `refused`: the file is not something we read (the
    reason says why, in Chinese and English). `failed`: our fault; the reason says what broke."""

    position: int
    filename: str
    sha256: str | None = None
    size: int | None = None
    status: ItemStatus
    code: str | None = Field(default=None, description="the refusal's or failure's code, e.g. too_large")
    reason_en: str | None = None
    reason_zh: str | None = None
    document_id: str | None = None
    extraction_id: str | None = None
    attempts: int = 0
    updated_at: datetime


class BatchPublic(BaseModel):
    """A batch's progress. `status` is `done` once no item is queued or running; `interrupted`
    when the `nianbao batch` that drove it stopped (Ctrl-C, killed) with files left that nobody
    else will read: they stay `queued`; running the same command again goes on with them in a
    new batch (`continued_by`)."""

    id: str
    status: BatchStatus
    origin: str
    mode: str | None = None
    llm_scope: str | None = None
    reader_version: str
    total: int
    done: int = Field(description="items in a final state: succeeded + refused + failed + skipped")
    counts: BatchCounts
    created_at: datetime
    finished_at: datetime | None = Field(default=None, description="when the last item finished")
    interrupted_at: datetime | None = Field(default=None, description="when its driver was found gone")
    continued_by: str | None = Field(default=None, description="the batch a re-run started to go on with it")
    driver: str | None = Field(default=None, description="host:pid of the `nianbao batch` carrying it on, "
                               "while it does")
    items: list[BatchItemPublic] | None = Field(default=None, description="GET /batches/{id} only")


class BatchList(BaseModel):
    batches: list[BatchPublic]
