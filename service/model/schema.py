"""Response models for the model reader, generated from `schemas/` (never a label typed here).

A table answer is shaped the way the parser reads a table: one entry per printed row, with the
row's key, its label as printed and its cells as printed strings ("" for a blank), so that the
model's reading and the parser's compare cell by cell. A prose answer gives, per figure, a value
and the short verbatim quote it was read from. `schema_hash` fingerprints every model (it keys
the answer cache: a template change invalidates cached answers).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from service.templates import (
    catalog,
    table2,
    table3_columns,
    table3_rows,
    table4_columns,
    table4_groups,
)

TABLES = ("active_disclosure", "applications", "reviews_and_litigation")
PROSE = "prose"
# Fields computed from others, never printed: the model is not asked for them.
DERIVED_FIELDS = frozenset({"meta.division_code", "meta.division_name", "meta.template"})


@dataclass(frozen=True)
class RowSpec:
    """One template row as the model sees it: key, printed label, its columns (key, label, type)."""

    key: str
    label: str
    columns: tuple[tuple[str, str, str], ...]
    group: str | None = None
    subrow_of: str | None = None
    forms: tuple[str, ...] = ()  # every printed form, compacted, longest first (for grounding)


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    rows: tuple[RowSpec, ...]

    def row(self, key: str) -> RowSpec:
        return next(r for r in self.rows if r.key == key)


@cache
def table_spec(name: str, template: str) -> TableSpec:
    """The rows and columns of one table on one template, from schemas/templates.json."""
    if name == "active_disclosure":
        rows = tuple(
            RowSpec(r.key, r.label, tuple((c.key, c.label, c.type) for c in g.columns), group=g.article,
                    forms=tuple(r.forms()))
            for g in table2(template) for r in g.rows
        )
        return TableSpec(name, "二、主动公开政府信息情况", rows)
    if name == "applications":
        cols = tuple((c.key, c.label, c.type) for c in table3_columns())
        rows = tuple(
            RowSpec(r.key, r.label, cols, group=r.group, subrow_of=r.subrow_of, forms=tuple(r.forms()))
            for r in table3_rows() if template in r.templates
        )
        return TableSpec(name, "三、收到和处理政府信息公开申请情况", rows)
    if name == "reviews_and_litigation":
        cols = tuple((c.key, c.label, c.type) for c in table4_columns())
        rows = tuple(RowSpec(g.key, g.label, cols, forms=tuple(g.forms())) for g in table4_groups())
        return TableSpec(name, "四、政府信息公开行政复议、行政诉讼情况", rows)
    raise KeyError(name)


def _model_name(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_")) + "Table"


@cache
def table_model(name: str, template: str) -> type[BaseModel]:
    """`{table, rows: [{key, label, cells}]}`: keys limited to the template's rows, cell counts checked."""
    spec = table_spec(name, template)
    widths = {r.key: len(r.columns) for r in spec.rows}
    key_type: Any = Literal[tuple(widths)]

    def cells_fit(self: Any) -> Any:
        want = widths[self.key]
        if len(self.cells) != want:
            raise ValueError(f"row {self.key} has {want} cells, got {len(self.cells)}")
        return self

    def strip_cells(cls: Any, v: Any) -> Any:
        return [str(c).strip() if c is not None else "" for c in v] if isinstance(v, list) else v

    validators: dict[str, Any] = {
        "cells_fit": model_validator(mode="after")(cells_fit),
        "strip_cells": field_validator("cells", mode="before")(strip_cells),
    }
    row_model = create_model(
        _model_name(name) + "Row",
        __config__=ConfigDict(extra="forbid"),
        __doc__="One printed row: its key, its label as printed, every cell as printed (\"\" for a blank).",
        __validators__=validators,
        key=(key_type, Field(description="the template row key")),
        label=(str, Field(description="the row label exactly as printed")),
        cells=(list[str], Field(description="each cell exactly as printed, in column order; \"\" for a blank")),
    )

    def unique_rows(self: Any) -> Any:
        keys = [r.key for r in self.rows]
        if len(keys) != len(set(keys)):
            raise ValueError("each row key at most once")
        return self

    table_validators: dict[str, Any] = {"unique_rows": model_validator(mode="after")(unique_rows)}
    table_type: Any = Literal[name]
    model: type[BaseModel] = create_model(
        _model_name(name),
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"The printed rows of table {spec.title} (the prompt lists its rows and columns).",
        __validators__=table_validators,
        table=(table_type, Field(description="which table this answer is for")),
        rows=(list[row_model], Field(description="the rows printed in the table, in printed order")),  # type: ignore[valid-type]
    )
    return model


_VALUE_TYPES: dict[str, Any] = {"int": int | None, "decimal": float | None, "bool": bool | None,
                                "str": str | None, "date": str | None}


@cache
def prose_fields() -> tuple[tuple[str, str, str], ...]:
    """(path, meaning, type) of the figures the prose states: narrative.* and the printed meta.*."""
    return tuple(
        (f.path, f.label_zh, f.type) for f in catalog()
        if f.path.split(".")[0] in ("meta", "narrative") and f.path not in DERIVED_FIELDS
    )


def prose_name(path: str) -> str:
    """The answer field for a catalog path (`narrative.npc_suggestions` → `npc_suggestions`)."""
    return path.split(".", 1)[1]


@cache
def prose_model() -> type[BaseModel]:
    """One `{value, quote}` per prose figure; quote is the verbatim sentence piece it was read from."""
    fields: dict[str, Any] = {}
    for path, meaning, typ in prose_fields():
        hint = " (YYYY-MM-DD)" if typ == "date" else ""
        figure = create_model(
            "Figure_" + prose_name(path),
            __config__=ConfigDict(extra="forbid"),
            value=(_VALUE_TYPES[typ], Field(description=meaning + hint + "; null when not stated")),
            quote=(str, Field(default="", description="the exact characters the value was read from (≤ 60); \"\" when null")),
        )
        fields[prose_name(path)] = (figure, Field(description=meaning))
    model: type[BaseModel] = create_model(
        "ProseFigures",
        __config__=ConfigDict(extra="forbid"),
        __doc__="The figures the report's prose and signature state, each with a verbatim quote.",
        **fields,
    )
    return model


def response_model(kind: str, template: str) -> type[BaseModel]:
    return prose_model() if kind == PROSE else table_model(kind, template)


def schema_hash(kind: str, template: str) -> str:
    """A stable fingerprint of one call's response schema."""
    schema = response_model(kind, template).model_json_schema()
    blob = json.dumps(schema, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
