"""One frozen settings object, read from the environment (NIANBAO_* and DATABASE_URL).

A plain pydantic model filled from os.environ, not pydantic-settings' BaseSettings: that
library (and the asyncio it imports) cost a one-shot CLI run ~45 ms of its ~0.25 s, and every
`Settings()` re-read and re-validated the environment (~1 ms, several times per extraction).
The rules are BaseSettings' own: keyword arguments win over the environment, which wins over
the defaults; names are matched without regard to case; unknown names are ignored.
"""

# No `from __future__ import annotations`: pydantic would eval each field's annotation string
# when it builds the models, at every start-up (~1 ms of a `nianbao extract`).

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from service.errors import NianbaoError

PREFIX = "NIANBAO_"
# database_url also answers to the bare DATABASE_URL every hosting platform sets (it wins).
ALIASES = {"DATABASE_URL": "database_url", "NIANBAO_DATABASE_URL": "database_url"}


class SettingsError(NianbaoError, ValueError):
    """A setting in the environment that does not validate: refused at start-up with the
    variable's name (CLI exit 2), never a traceback."""

    code = "invalid_setting"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    database_url: str = "sqlite:///./nianbao.db"
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

    def __init__(self, **values: Any) -> None:
        """Any name the environment uses (DATABASE_URL too), as BaseSettings' signature allowed."""
        super().__init__(**values)

    @model_validator(mode="before")
    @classmethod
    def _environment_under_arguments(cls, data: Any) -> Any:
        """Fields not given as arguments come from the environment (as BaseSettings did)."""
        if not isinstance(data, dict):
            return data
        given = {_field_name(str(key)): value for key, value in data.items()}
        return {**_from_environment(_environment()), **given}


def _field_name(key: str) -> str:
    return ALIASES.get(key.upper(), key.lower())


def _environment() -> tuple[tuple[str, str], ...]:
    """The variables that can set a field, upper-cased and sorted: the cache key of a reading."""
    return tuple(sorted((k.upper(), v) for k, v in os.environ.items()
                        if k[:8].upper() == PREFIX or k.upper() == "DATABASE_URL"))


def _from_environment(environment: tuple[tuple[str, str], ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in environment:
        if key in ALIASES:
            continue
        name = key[len(PREFIX):].lower()
        if name in Settings.model_fields:
            values[name] = value
    # DATABASE_URL before NIANBAO_DATABASE_URL, whatever the order the environment lists them.
    for key in ALIASES:
        found = dict(environment).get(key)
        if found is not None:
            values["database_url"] = found
            break
    return values


_cache: dict[tuple[tuple[str, str], ...], Settings] = {}


def get_settings() -> Settings:
    """The settings of the current environment, read and validated once per distinct
    environment (an extraction asks several times; tests change the environment between calls).
    A variable that does not validate is a SettingsError naming it."""
    environment = _environment()
    cached = _cache.get(environment)
    if cached is not None:
        return cached
    try:
        settings = Settings()
    except ValidationError as exc:
        raise settings_error(exc) from None
    if len(_cache) > 64:  # bounded: a long test session sets many environments
        _cache.clear()
    _cache[environment] = settings
    return settings


def settings_error(exc: ValidationError, prefix: str = PREFIX) -> SettingsError:
    """Name the environment variable (`prefix` + the field) and say what it should be, in both
    languages."""
    parts_en: list[str] = []
    parts_zh: list[str] = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        variable = "DATABASE_URL" if field == "database_url" else prefix + field.upper()
        parts_en.append(f"{variable}={error.get('input')!r}: {error['msg']}")
        parts_zh.append(f"环境变量 {variable} 的值 {error.get('input')!r} 无效（{error['msg']}）")
    return SettingsError("invalid setting " + "; ".join(parts_en), "设置无效：" + "；".join(parts_zh))
