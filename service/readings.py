"""What a reader says about one field before reconcile weighs it: value, span, doubts."""

# No `from __future__ import annotations`: pydantic would eval each field's annotation string
# when it builds the models, at every start-up (~1 ms of a `nianbao extract`).

from typing import Any, Literal

from pydantic import BaseModel, Field

from service.contract import Finding, Value
from service.document import Span, new_dict, new_list

Source = Literal["parser", "text", "llm"]


class Reading(BaseModel):
    """One reader's value for one path.

    `doubts` are reasons the reader itself is unsure (an ambiguous split, a fuzzy label, a cell
    placed by position); `alternatives` are the other values the layout admits. `evidence` names
    support that is independent of the choice that produced the value (a second statement that
    agrees, an official list the name matches): a prose reading is `high` only with some.
    """

    path: str
    value: Value
    source: Source = "parser"
    span: Span | None = None
    doubts: list[str] = Field(default_factory=new_list)
    alternatives: list[Any] = Field(default_factory=new_list)
    evidence: list[str] = Field(default_factory=new_list)


class SectionReading(BaseModel):
    """A parser's output for one section (a table or the prose)."""

    section: str
    found: bool
    readings: dict[str, Reading] = Field(default_factory=new_dict)
    findings: list[Finding] = Field(default_factory=new_list)
    span: Span | None = None
    facts: dict[str, Any] = Field(default_factory=new_dict)
