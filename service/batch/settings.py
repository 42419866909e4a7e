"""Batch settings from the environment (NIANBAO_BATCH_*); each file of a batch still obeys the
upload limits of service.config (NIANBAO_MAX_UPLOAD_BYTES, NIANBAO_MAX_PAGES, …)."""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "NIANBAO_BATCH_"


class BatchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="ignore")

    # The most one POST /batches body may carry (all files, or the zip, together); beyond: 413.
    max_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    # The most files one POST /batches may carry as separate parts (a zip may hold more).
    max_files: int = Field(default=5000, gt=0)
    # PostgreSQL, `nianbao batch`: how many files' bytes (and jobs) may wait in the database at
    # once; the command moves the next ones in as workers (on any machine) finish these.
    feed_window: int = Field(default=200, gt=0)


def batch_settings() -> BatchSettings:
    """The batch settings; a variable that does not validate is a SettingsError naming it (CLI:
    one line and exit 2; API: the refusal with its reason), never a traceback."""
    from service.config import settings_error

    try:
        return BatchSettings()
    except ValidationError as exc:
        raise settings_error(exc, PREFIX) from None
