"""The model reader's contract with the rest of the pipeline (issue 8).

`read_with_model` sends the located table regions and the prose passages to an OpenAI-compatible
endpoint through instructor and returns one `Reading` per path it answered (source "llm"), plus
the record of the run. reconcile weighs these readings against the parser's; the CLI, the API and
the eval harness only choose the mode and pass the settings.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.contract import Usage
from service.readings import Reading


class ModelRun(BaseModel):
    """What one extraction's model calls returned and cost.

    `readings`: path → Reading with source "llm"; `span` is set only when the value is grounded
    (its quote, or its printed cell string, found in the region's normalized text); an ungrounded
    value carries the doubt `llm_ungrounded`. `failures` lists every failed call with its reason
    (timeout, http_429, http_5xx, malformed_json, schema_violation, truncated, refusal,
    wrong_table, …); a failure never raises out of `read_with_model`.
    """

    readings: dict[str, Reading] = Field(default_factory=dict)
    prompt_version: str
    model: str
    instructor_mode: str
    usage: Usage = Field(default_factory=Usage)
    latency_ms: float = 0.0
    retries: int = 0
    cost: float | None = None
    calls: int = 0
    cached: int = 0  # calls answered from the cache
    failures: list[str] = Field(default_factory=list)
    asked: list[str] = Field(default_factory=list)  # the calls made or answered from the cache
