"""One frozen settings object, read from the environment (NIANBAO_* and DATABASE_URL)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NIANBAO_", frozen=True, extra="ignore")

    database_url: str = Field(
        default="sqlite:///./nianbao.db",
        validation_alias=AliasChoices("DATABASE_URL", "NIANBAO_DATABASE_URL"),
    )
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    # What one document may cost to read, whatever its upload size: real reports are 5-60 pages
    # and under 200k characters; a .docx's XML is a few MB, a page's HTML a few thousand tags.
    # Beyond these, a 413 (CLI: exit 2).
    max_pages: int = Field(default=100, gt=0)
    max_chars: int = Field(default=500_000, gt=0)
    max_inflated_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    max_html_tags: int = Field(default=200_000, gt=0)
    # CPU seconds a PDF's pages may take to read (checked between pages): past it, a 413 saying
    # the PDF is too complex to read in bounded time. Keeps every upload under ~2 s of CPU.
    pdf_seconds: float = Field(default=1.5, gt=0)
    # Model endpoint (any OpenAI-compatible server). None configured: deterministic mode.
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None
    llm_timeout_seconds: float = 60.0


def get_settings() -> Settings:
    return Settings()
