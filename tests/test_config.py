"""Settings from the environment: the same rules as pydantic-settings' BaseSettings (which the
extract path no longer imports), read once per environment, and a bad variable named clearly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices, Field, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.config import Settings, SettingsError, get_settings
from service.errors import NianbaoError

REPO = Path(__file__).resolve().parent.parent
NIANBAO = REPO / ".venv" / "bin" / "nianbao"
SEED = REPO / "evals" / "docs" / "seeds" / "000_7d2da7d165fec642.txt"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from no NIANBAO_* variable and no DATABASE_URL."""
    for key in list(os.environ):
        if key.upper().startswith("NIANBAO_") or key.upper() == "DATABASE_URL":
            monkeypatch.delenv(key)


def reference() -> type[BaseSettings]:
    """A BaseSettings with Settings' own fields: what the environment gave before the change."""
    fields: dict[str, Any] = {name: (info.annotation, info) for name, info in Settings.model_fields.items()}
    default = Settings.model_fields["database_url"].default
    fields["database_url"] = (str, Field(default=default,
                                         validation_alias=AliasChoices("DATABASE_URL", "NIANBAO_DATABASE_URL")))
    model: type[BaseSettings] = create_model(
        "Reference", __base__=BaseSettings, **fields)
    model.model_config = SettingsConfigDict(env_prefix="NIANBAO_", frozen=True, extra="ignore")
    model.model_rebuild(force=True)
    return model


ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"NIANBAO_MAX_PAGES": "7", "NIANBAO_PDF_SECONDS": "0.5", "NIANBAO_LLM_SCOPE": "all"},
    {"nianbao_workers": "0", "Nianbao_Llm_Model": "m"},  # names match whatever their case
    {"DATABASE_URL": "postgresql://a/b", "NIANBAO_DATABASE_URL": "sqlite:///x.db"},  # the bare name wins
    {"NIANBAO_DATABASE_URL": "sqlite:///only.db"},
    {"NIANBAO_LLM_BASE_URL": "", "NIANBAO_LLM_CACHE_DIR": ""},  # empty is a value, not unset
    {"NIANBAO_LLM_PRICE_IN_PER_1K": "0.002", "NIANBAO_UNKNOWN": "ignored"},
]
INVALID: list[dict[str, str]] = [
    {"NIANBAO_MAX_PAGES": "0"},
    {"NIANBAO_WORKERS": "many"},
    {"NIANBAO_LLM_INSTRUCTOR_MODE": "xml"},
    {"NIANBAO_LLM_PRICE_OUT_PER_1K": ""},
]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_environment_reads_as_base_settings_read_it(environment: dict[str, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    expected = reference()().model_dump()
    assert Settings().model_dump() == expected
    assert get_settings().model_dump() == expected


@pytest.mark.parametrize("environment", INVALID)
def test_what_base_settings_refused_is_refused(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError):
        reference()()
    with pytest.raises(SettingsError) as raised:
        get_settings()
    (name,) = environment
    assert name in raised.value.message_en and name in raised.value.message_zh
    assert isinstance(raised.value, NianbaoError) and isinstance(raised.value, ValueError)


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://env/db")
    monkeypatch.setenv("NIANBAO_MAX_CHARS", "1000")
    monkeypatch.setenv("NIANBAO_LLM_MODEL", "from-env")
    s = Settings(DATABASE_URL="sqlite:///given.db", llm_model=None)
    assert (s.database_url, s.llm_model, s.max_chars) == ("sqlite:///given.db", None, 1000)
    assert Settings(database_url="sqlite:///by-name.db").database_url == "sqlite:///by-name.db"
    assert Settings.model_validate({"DATABASE_URL": "sqlite:///v.db"}).database_url == "sqlite:///v.db"
    assert s.model_copy(update={"workers": 3}).workers == 3


def test_settings_are_read_once_per_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIANBAO_MAX_PAGES", "9")
    first = get_settings()
    assert get_settings() is first  # an extraction asks several times: one reading
    monkeypatch.setenv("NIANBAO_MAX_PAGES", "11")
    assert get_settings().max_pages == 11  # a changed environment is read again
    monkeypatch.setenv("NIANBAO_MAX_PAGES", "9")
    assert get_settings().max_pages == 9


@pytest.mark.parametrize("command", [["extract", str(SEED)], ["serve", "--port", "1"], ["batch", str(SEED)],
                                     ["worker"]])
def test_cli_names_a_bad_variable_and_exits_2(command: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("NIANBAO_")}
    env["NIANBAO_MAX_UPLOAD_BYTES"] = "lots"
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'n.db'}"
    done = subprocess.run([str(NIANBAO), *command], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 2, done.stderr[-500:]
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert "NIANBAO_MAX_UPLOAD_BYTES" in done.stderr and "无效" in done.stderr
