"""The public JSON of one extraction (../shared/spec/contract.md): API, CLI, exports and eval share it."""

# No `from __future__ import annotations`: pydantic would eval each field's annotation string
# when it builds the models, at every start-up (~1 ms of a `nianbao extract`).

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from service.document import Span, new_dict, new_list

Level = Literal["high", "medium", "low"]
# What a caller may ask for (CLI --mode / --llm-scope, API mode / llm_scope); defined here, not in
# service.model.run (which uses them), so that reading without a model does not import it.
Mode = Literal["auto", "deterministic", "llm"]
Scope = Literal["doubtful", "all"]
M = TypeVar("M", bound=BaseModel)
_new = object.__new__
_set = object.__setattr__
Value = bool | int | float | str | None

FINDING_KINDS = (
    "sum_mismatch",
    "missing_cell",
    "extra_cell",
    "text_table_conflict",
    "template_mismatch",
    "missing_section",
    "llm_parser_conflict",
    "damaged_cell",
    "missing_row",
)


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class DocumentInfo(BaseModel):
    id: str
    filename: str | None
    sha256: str
    media_type: str
    chars: int


class ExtractionInfo(BaseModel):
    id: str
    mode: Literal["deterministic", "llm"]
    model: str | None = None
    prompt_version: str | None = None
    created_at: datetime
    usage: Usage = Field(default_factory=Usage)
    notices: list[str] = Field(default_factory=new_list)
    # The model run's record (issue 8); null / zero / empty in deterministic mode.
    instructor_mode: str | None = None
    llm_scope: Scope | None = None
    latency_ms: float | None = None
    retries: int = 0
    cost: float | None = None
    calls: int = 0
    cached: int = 0
    failures: list[str] = Field(default_factory=new_list)
    asked: list[str] = Field(default_factory=new_list)  # the calls the model was asked (tables, "prose")


class FieldResult(BaseModel):
    path: str
    value: Value
    confidence: float
    level: Level
    sources: dict[str, Any] = Field(default_factory=new_dict)
    span: Span | None = None
    flags: list[str] = Field(default_factory=new_list)


class Finding(BaseModel):
    kind: str
    path: str
    message: str
    spans: list[Span] = Field(default_factory=new_list)


class Extraction(BaseModel):
    document: DocumentInfo
    extraction: ExtractionInfo
    fields: list[FieldResult]
    findings: list[Finding]

    def field(self, path: str) -> FieldResult | None:
        return next((f for f in self.fields if f.path == path), None)


def built(cls: type[M], fields: dict[str, Any]) -> M:
    """A model from values the caller already holds in their declared types (a Reading's value
    and span, a sorted flag list): validation would cost more than the rest of building a field
    in the per-cell loops (hundreds a report). `fields` names every field and becomes the
    model's own dict, so the caller passes fresh containers. tests/test_reader.py checks the
    result equals, and dumps as, the validated model."""
    obj = _new(cls)
    _set(obj, "__dict__", fields)
    _set(obj, "__pydantic_fields_set__", set(fields))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj
