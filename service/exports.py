"""Exports of every document's newest extraction with the reviewed values laid over it.

Long: one row per (document, path). Wide: one row per document, one column per path. Findings
go to a second sheet (xlsx) or a second file/part (csv, parquet). Writers are openpyxl and pyarrow.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import Workbook
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from service import templates
from service.errors import NianbaoError
from service.review import latest_extractions
from service.store.models import FieldReviewRow, FieldRow, FindingRow

FORMATS = ("csv", "xlsx", "parquet")
SHAPES = ("long", "wide")
PARTS = ("fields", "findings")
META_COLUMNS = ("document_id", "issuer", "division_code", "year")
LONG_COLUMNS = (*META_COLUMNS, "path", "value", "level", "confidence", "reviewed", "reviewed_by")
FINDING_COLUMNS = (*META_COLUMNS, "kind", "path", "message")


class InvalidExport(NianbaoError):
    status_code = 422
    code = "invalid_export"


def check_options(fmt: str, shape: str, part: str = "fields") -> None:
    for name, value, allowed in (("format", fmt, FORMATS), ("shape", shape, SHAPES), ("part", part, PARTS)):
        if value not in allowed:
            raise InvalidExport(f"{name} must be one of {', '.join(allowed)}", f"{name} 必须是 {'、'.join(allowed)} 之一")


def long_rows(session: Session) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(field rows, finding rows): reviewed values where a person gave one."""
    latest = latest_extractions(session)
    by_ext = {ext_id: doc_id for doc_id, ext_id in latest.items()}
    reviews = {(r.document_id, r.path): r for r in session.exec(select(FieldReviewRow)).all()}
    fields: list[dict[str, Any]] = []
    meta: dict[str, dict[str, Any]] = {}
    if by_ext:
        # Columns, not ORM objects: an export reads every field of every document.
        query = sa_select(col(FieldRow.extraction_id), col(FieldRow.path), col(FieldRow.value),
                          col(FieldRow.level), col(FieldRow.confidence)).where(col(FieldRow.extraction_id).in_(list(by_ext))).order_by(
            col(FieldRow.extraction_id), col(FieldRow.position))
        for ext_id, path, read, level, confidence in session.execute(query).all():
            doc_id = by_ext[ext_id]
            review = reviews.get((doc_id, path))
            value = review.value if review else read
            fields.append({"document_id": doc_id, "path": path, "value": value, "level": level,
                           "confidence": confidence, "reviewed": review is not None,
                           "reviewed_by": review.reviewed_by if review else None})
            key = {"meta.issuer": "issuer", "meta.division_code": "division_code",
                   "meta.report_year": "year"}.get(path)
            if key:
                meta.setdefault(doc_id, {})[key] = value
    for row in fields:
        row.update({k: meta.get(row["document_id"], {}).get(k) for k in ("issuer", "division_code", "year")})
    findings: list[dict[str, Any]] = []
    if by_ext:
        query2 = select(FindingRow).where(col(FindingRow.extraction_id).in_(list(by_ext))).order_by(
            col(FindingRow.extraction_id), col(FindingRow.position))
        for fd in session.exec(query2).all():
            doc_id = by_ext[fd.extraction_id]
            findings.append({"document_id": doc_id, **{k: meta.get(doc_id, {}).get(k)
                                                       for k in ("issuer", "division_code", "year")},
                             "kind": fd.kind, "path": fd.path, "message": fd.message})
    return [{c: r[c] for c in LONG_COLUMNS} for r in fields], findings


def wide_rows(fields: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per document: per path its value, `path:level` and `path:reviewed`."""
    catalog = [f.path for f in templates.catalog()]
    seen = {r["path"] for r in fields}
    paths = [p for p in catalog if p in seen] + sorted(seen - set(catalog))
    columns = [*META_COLUMNS] + [c for p in paths for c in (p, f"{p}:level", f"{p}:reviewed")]
    docs: dict[str, dict[str, Any]] = {}
    for r in fields:
        row = docs.setdefault(r["document_id"], {c: r[c] for c in META_COLUMNS})
        row[r["path"]] = r["value"]
        row[f"{r['path']}:level"] = r["level"]
        row[f"{r['path']}:reviewed"] = r["reviewed"]
    return columns, [{c: d.get(c) for c in columns} for d in docs.values()]


def tables(session: Session, shape: str) -> dict[str, tuple[list[str], list[dict[str, Any]]]]:
    fields, findings = long_rows(session)
    main = wide_rows(fields) if shape == "wide" else (list(LONG_COLUMNS), fields)
    return {"fields": main, "findings": (list(FINDING_COLUMNS), findings)}


def _cell(value: Any) -> Any:
    """Values keep their type; anything a cell cannot hold (lists) becomes JSON text."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value


def _csv_cell(value: Any) -> Any:
    """Blank for null (not 0), true/false for booleans as JSON writes them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _cell(value)


def to_csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_csv_cell(r[c]) for c in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 CSV as UTF-8


def to_xlsx(parts: dict[str, tuple[list[str], list[dict[str, Any]]]]) -> bytes:
    book = Workbook(write_only=True)
    for name, (columns, rows) in parts.items():
        sheet = book.create_sheet(name)
        sheet.append(columns)
        for r in rows:
            sheet.append([_cell(r[c]) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_parquet(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    """Value columns hold mixed types (numbers, text, dates): stored as JSON text so nothing is lost."""
    arrays = []
    for c in columns:
        values = [r[c] for r in rows]
        kinds = {type(v) for v in values if v is not None}
        is_value = c == "value" or (":" not in c and c not in (*LONG_COLUMNS, *FINDING_COLUMNS))
        if is_value or len(kinds) > 1:
            values = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
        arrays.append(pa.array(values))
    table = pa.Table.from_arrays(arrays, names=columns) if columns else pa.table({})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def export(session: Session, fmt: str, shape: str, part: str = "fields") -> bytes:
    check_options(fmt, shape, part)
    parts = tables(session, shape)
    if fmt == "xlsx":
        return to_xlsx(parts)
    columns, rows = parts[part]
    return to_csv(columns, rows) if fmt == "csv" else to_parquet(columns, rows)


MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}
