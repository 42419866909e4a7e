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
    max_upload_bytes: int = 20 * 1024 * 1024
    # Model endpoint (any OpenAI-compatible server). None configured: deterministic mode.
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None
    llm_timeout_seconds: float = 60.0


def get_settings() -> Settings:
    return Settings()
