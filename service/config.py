"""One frozen settings object, read from the environment (NIANBAO_* and DATABASE_URL)."""

from __future__ import annotations

import os
from typing import Literal

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
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    # How instructor asks for structure: providers differ (OpenAI, DeepSeek, Qwen: tools; vLLM,
    # llama.cpp: json_schema; a server with neither: md_json).
    llm_instructor_mode: Literal["tools", "json_schema", "md_json"] = "tools"
    # Bounded on both layers: HTTP retries (429 honouring Retry-After, 5xx, timeouts) and
    # instructor's re-asks after an answer that fails the schema.
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    # Calls in flight at once, per extraction and across the whole process.
    llm_concurrency: int = Field(default=8, gt=0, le=256)
    # Optional prices (any currency) per 1000 tokens; unset: no cost is computed.
    llm_price_in_per_1k: float | None = Field(default=None, ge=0)
    llm_price_out_per_1k: float | None = Field(default=None, ge=0)
    # Answers cached by (document, prompt version, model, schema, call): a re-run costs nothing.
    # An empty value turns the cache off.
    llm_cache_dir: str = ".nianbao-cache/llm"
    # What the model is asked by default (the CLI's --llm-scope / the API's llm_scope override it):
    # only tables with cells in doubt, or every table; and which prompt version under prompts/.
    llm_scope: Literal["doubtful", "all"] = "doubtful"
    llm_prompt_version: str = "v1"
    # Worker processes reading documents (service/pool.py): one per core by default; 0 reads in
    # the calling thread (no processes: tests that patch the pipeline, one-shot commands).
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=0, le=256)
    # Extractions that may wait for a busy worker; past workers + pool_queue in flight,
    # POST /extract answers 503 with Retry-After instead of building an unbounded backlog.
    pool_queue: int = Field(default=32, ge=0, le=10_000)


def get_settings() -> Settings:
    return Settings()
