"""The templates and the field catalog, read once from `schemas/`; nothing else re-types a label."""

# No `from __future__ import annotations`: pydantic would eval each field's annotation string
# when it builds the models, at every start-up.

import csv
import json
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
TEMPLATES = ("2019", "2021")


class FieldSpec(BaseModel):
    path: str
    label_zh: str
    type: str
    templates: tuple[str, ...]


class Label(BaseModel):
    """A row, column or group: its key, printed label and the variants real reports use."""

    key: str
    label: str
    variants: list[str] = []
    group: str | None = None
    subrow_of: str | None = None
    templates: list[str] = list(TEMPLATES)
    type: str = "int"

    def forms(self) -> list[str]:
        """Every printed form, normalized for matching, longest first."""
        return list(_forms(self.label, tuple(self.variants)))


class Table2Group(BaseModel):
    article: str
    columns: list[Label]
    rows: list[Label]


class Equation(BaseModel):
    """One instance of a consistency rule: sum(lhs) == sum(rhs)."""

    rule: str
    path: str
    lhs: list[str]
    rhs: list[str]
    when: str | None = None
    description_zh: str


@cache
def _forms(label: str, variants: tuple[str, ...]) -> tuple[str, ...]:
    """Label.forms, computed once per label: the row finders ask for it for every row and line."""
    seen = {compact(x) for x in [label, *variants]}
    seen |= {strip_numbering(x) for x in seen}
    return tuple(sorted((x for x in seen if x), key=len, reverse=True))


def compact(text: str) -> str:
    """NFKC and no white space: how labels are compared across layouts."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


_NUMBERING = re.compile(r"^(?:[一二三四五六七八九十]+[、.．]|\(?[一二三四五六七八九十]+\)|\d+[.、．]?)+")


def strip_numbering(text: str) -> str:
    """Drop a leading 一、 / (三) / 1. so that renumbered labels still match."""
    return _NUMBERING.sub("", text)


@cache
def raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS_DIR / "templates.json").read_text("utf-8"))
    return data


@cache
def catalog() -> tuple[FieldSpec, ...]:
    with (SCHEMAS_DIR / "fields.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    specs = []
    for r in rows:
        tpl = TEMPLATES if r["template"] == "all" else tuple(r["template"].split(","))
        specs.append(FieldSpec(path=r["path"], label_zh=r["label_zh"], type=r["type"], templates=tpl))
    return tuple(specs)


@cache
def field_types() -> dict[str, str]:
    return {f.path: f.type for f in catalog()}


def paths_for(template: str) -> list[str]:
    """Every catalog path a report on this template has, in catalog order."""
    return list(_paths_for(template))


@cache
def _paths_for(template: str) -> tuple[str, ...]:
    return tuple(f.path for f in catalog() if template in f.templates)


@cache
def table2(template: str) -> tuple[Table2Group, ...]:
    groups = raw()["active_disclosure"]["templates"][template]
    return tuple(Table2Group.model_validate(g) for g in groups)


@cache
def table3_rows() -> tuple[Label, ...]:
    return tuple(Label.model_validate(r) for r in raw()["applications"]["rows"])


@cache
def table3_columns() -> tuple[Label, ...]:
    return tuple(Label.model_validate(c) for c in raw()["applications"]["columns"])


@cache
def table3_result_rows() -> tuple[str, ...]:
    return tuple(raw()["applications"]["result_rows"])


@cache
def table4_groups() -> tuple[Label, ...]:
    return tuple(Label.model_validate(g) for g in raw()["reviews_and_litigation"]["groups"])


@cache
def table4_columns() -> tuple[Label, ...]:
    return tuple(Label.model_validate(c) for c in raw()["reviews_and_litigation"]["columns"])


@cache
def blank_markers() -> frozenset[str]:
    """The printed blank markers, built once (every cell of every row asks)."""
    return frozenset(raw()["blank_markers"])


@cache
def ocr_digit_confusions() -> dict[str, str]:
    """Letter → the digit OCR mistook it for (schemas/templates.json `ocr_digit_confusions`)."""
    mapping: dict[str, str] = raw()["ocr_digit_confusions"]["map"]
    return mapping


def _domain(name: str) -> list[str]:
    if name == "applications.rows":
        return [r.key for r in table3_rows()]
    if name == "applications.columns":
        return [c.key for c in table3_columns()]
    if name == "reviews_and_litigation.groups":
        return [g.key for g in table4_groups()]
    raise KeyError(name)


@cache
def equations() -> tuple[Equation, ...]:
    """The rules of schemas/templates.json expanded into concrete equations over field paths."""
    out: list[Equation] = []
    for rule in raw()["rules"]:
        ((var, domain),) = rule["for_each"].items()
        for key in _domain(domain):
            sub = {var: key}
            out.append(
                Equation(
                    rule=rule["id"],
                    path=rule["path"].format(**sub),
                    lhs=[p.format(**sub) for p in rule["lhs"]],
                    rhs=[p.format(**sub) for p in rule["rhs"]],
                    when=rule.get("when"),
                    description_zh=rule["description_zh"],
                )
            )
    return tuple(out)


def prose_checks() -> list[dict[str, str]]:
    checks: list[dict[str, str]] = raw()["prose_checks"]
    return checks
