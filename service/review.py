"""Reviewed values, document status, the review queue, the documents list and the template grid.

A reviewed value belongs to the document and the path, never to an extraction, so it survives
re-extraction; `disagrees` tells the reviewer when a newer extraction reads something else.
Every write appends an audit row in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Boolean, Numeric, String, case, func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, select

from service import templates
from service.auth import Principal
from service.document import Document
from service.errors import NianbaoError
from service.store import crud
from service.store.models import (
    AuditRow,
    DocumentRow,
    DocumentStatusRow,
    ExtractionRow,
    FieldReviewRow,
    FieldRow,
    FindingRow,
)

ACTIONS = ("accept", "edit", "blank", "alternative")
STATUSES = ("to_review", "reviewed")
SORTS = ("issuer", "year", "low", "findings", "created")


class NotFoundError(NianbaoError):
    status_code = 404
    code = "not_found"


class InvalidReview(NianbaoError):
    status_code = 422
    code = "invalid_review"


class StaleVersion(NianbaoError):
    """Someone else saved the field first; `field` is what is stored now (nothing is lost)."""

    status_code = 409
    code = "stale_version"

    def __init__(self, field: dict[str, Any]) -> None:
        super().__init__(
            f"the field changed meanwhile (now version {field['version']}); reload and try again",
            f"该字段已被他人修改（当前版本 {field['version']}），请刷新后重试",
        )
        self.field = field


def _missing_document(document_id: str) -> NotFoundError:
    return NotFoundError(f"no document with id {document_id!r}", f"没有编号为 {document_id!r} 的文档")


def latest_extractions(session: Session, document_id: str | None = None) -> dict[str, str]:
    """Document id → id of its newest extraction (ids only: the contract JSON stays unread)."""
    query = select(ExtractionRow.document_id, ExtractionRow.id)
    if document_id is not None:
        query = query.where(ExtractionRow.document_id == document_id)
    newest: dict[str, str] = {}
    for doc_id, ext_id in session.exec(query.order_by(col(ExtractionRow.created_at), col(ExtractionRow.id))).all():
        newest[doc_id] = ext_id  # oldest first: the last one wins
    return newest


def _latest(session: Session, document_id: str) -> str:
    ext_id = latest_extractions(session, document_id).get(document_id)
    if ext_id is None:
        raise _missing_document(document_id)
    return ext_id


def reviews_for(session: Session, document_id: str) -> dict[str, FieldReviewRow]:
    query = select(FieldReviewRow).where(FieldReviewRow.document_id == document_id)
    return {r.path: r for r in session.exec(query).all()}


def status_of(session: Session, document_id: str) -> str:
    row = session.get(DocumentStatusRow, document_id)
    return row.status if row else "to_review"


def _labels() -> dict[str, str]:
    return {f.path: f.label_zh for f in templates.catalog()}


BoxFinder = Callable[[int | None, int | None], dict[str, Any] | None]


def box_finder(boxes: list[dict[str, Any]] | None) -> BoxFinder:
    """span → the PDF cell box (page, bbox, page size) the span was read from, or None.

    A box belongs to the cell whose span in the text contains the field's span, or overlaps it
    most (a value read from part of a cell, or across two); an empty span (a blank cell) matches
    only the blank cell at that very position.
    """
    ordered = sorted((b for b in boxes or [] if _valid_box(b)), key=lambda b: (b["span"][0], b["span"][1]))
    starts = [b["span"][0] for b in ordered]

    def find(start: int | None, end: int | None) -> dict[str, Any] | None:
        if start is None or end is None or not ordered:
            return None
        best: dict[str, Any] | None = None
        best_overlap = 0
        # Cells do not overlap one another in the text: only those starting before `end` can touch.
        for box in reversed(ordered[:bisect_right(starts, max(start, end))]):
            s, e = box["span"]
            if start == end:
                if s == e == start:
                    return _box_view(box)
                if e < start:
                    break
                continue
            overlap = min(e, end) - max(s, start)
            if overlap > best_overlap:
                best, best_overlap = box, overlap
            if e <= start:
                break
        return _box_view(best) if best is not None else None

    return find


def _valid_box(box: Any) -> bool:
    return (isinstance(box, dict) and isinstance(box.get("span"), list | tuple) and len(box["span"]) == 2
            and isinstance(box.get("page"), int) and isinstance(box.get("bbox"), list | tuple)
            and len(box["bbox"]) == 4)


def _box_view(box: dict[str, Any]) -> dict[str, Any]:
    return {"page": box["page"], "bbox": list(box["bbox"]), "page_width": box["page_width"],
            "page_height": box["page_height"]}


def field_view(field: FieldRow, review: FieldReviewRow | None, labels: dict[str, str] | None = None,
               boxes: BoxFinder | None = None) -> dict[str, Any]:
    """One field as the review API shows it: the reviewed value wins where there is one; `box` is
    where on a PDF page its cell stood (None for other formats and for values read from prose)."""
    labels = labels if labels is not None else _labels()
    span = [field.span_start, field.span_end] if field.span_start is not None else None
    return {
        "path": field.path,
        "label_zh": labels.get(field.path, field.path),
        "value": review.value if review else field.value,
        "level": field.level,
        "confidence": field.confidence,
        "flags": field.flags,
        "sources": field.sources,
        "span": span,
        "reviewed": review is not None,
        "reviewed_value": review.value if review else None,
        "version": review.version if review else 0,
        "disagrees": review is not None and not same_value(review.value, field.value),
        "box": boxes(field.span_start, field.span_end) if boxes is not None else None,
    }


def same_value(a: Any, b: Any) -> bool:
    """Numbers compare by value (0 == 0.0), as the scoring rules do; bools are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return bool(a == b)


def document_review(session: Session, document_id: str) -> dict[str, Any]:
    document = crud.get_document(session, document_id)
    if document is None:
        raise _missing_document(document_id)
    latest = _latest(session, document_id)
    reviews = reviews_for(session, document_id)
    labels = _labels()
    fields = crud.get_fields(session, latest)
    by_path = {f.path: f for f in fields}
    template = by_path["meta.template"].value if "meta.template" in by_path else None
    boxes = box_finder(document.boxes)
    return {
        "document": {"id": document.id, "filename": document.filename, "media_type": document.media_type,
                     "chars": document.chars, "pages": document.pages},
        "extraction_id": latest,
        "template": template,
        "status": status_of(session, document_id),
        "fields": [field_view(f, reviews.get(f.path), labels, boxes) for f in fields],
        "findings": [{"kind": f.kind, "path": f.path, "message": f.message, "spans": f.spans}
                     for f in crud.get_findings(session, latest)],
    }


def _field_row(session: Session, document_id: str, path: str) -> FieldRow:
    latest = _latest(session, document_id)
    query = select(FieldRow).where(FieldRow.extraction_id == latest, FieldRow.path == path)
    field = session.exec(query).first()
    if field is None:
        raise NotFoundError(f"document {document_id!r} has no field {path!r}",
                            f"文档 {document_id!r} 没有字段 {path!r}")
    return field


def _boxes_of(session: Session, document_id: str) -> BoxFinder:
    """The document's cell boxes (the column alone: the row carries the whole text)."""
    boxes = session.exec(select(DocumentRow.boxes).where(DocumentRow.id == document_id)).first()
    return box_finder(boxes)


def current_field(session: Session, document_id: str, path: str) -> dict[str, Any]:
    field = _field_row(session, document_id, path)
    review = session.exec(select(FieldReviewRow).where(
        FieldReviewRow.document_id == document_id, FieldReviewRow.path == path)).first()
    return field_view(field, review, boxes=_boxes_of(session, document_id))


def coerce_value(path: str, value: Any) -> Any:
    """A reviewer's value in the field's type (schemas/fields.tsv), or a 422 saying what is wrong."""
    kind = templates.field_types().get(path, "str")
    if value is None:
        return None
    wrong = InvalidReview(f"{path} takes a value of type {kind}, not {value!r}",
                          f"{path} 的值应为 {kind} 类型，而不是 {value!r}")
    if kind == "int":
        if isinstance(value, bool):
            raise wrong
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or value < 0:
            raise wrong
        return value
    if kind == "decimal":
        if isinstance(value, bool):
            raise wrong
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise wrong from exc
        if not number.is_finite() or number < 0:
            raise wrong
        result = float(number)
        return int(result) if result.is_integer() and math.isfinite(result) else result
    if kind == "bool":
        if not isinstance(value, bool):
            raise wrong
        return value
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError as exc:
            raise wrong from exc
    if not isinstance(value, str) or not value.strip():
        raise wrong
    return value.strip()


@dataclass(frozen=True)
class Change:
    action: str
    value: Any = None
    value_given: bool = False


def _new_value(change: Change, field: FieldRow) -> Any:
    if change.action not in ACTIONS:
        raise InvalidReview(f"action must be one of {', '.join(ACTIONS)}", f"操作必须是 {'、'.join(ACTIONS)} 之一")
    if change.action == "accept":
        return field.value
    if change.action == "blank":
        return None
    if not change.value_given:
        raise InvalidReview(f"action {change.action!r} needs a value", f"操作 {change.action!r} 需要提供值")
    value = coerce_value(field.path, change.value)
    if change.action == "alternative":
        offered = [*(field.sources.get("alternatives") or []),
                   *(v for k, v in field.sources.items() if k != "alternatives")]
        if not any(same_value(value, o) for o in offered if not isinstance(o, list | dict)):
            raise InvalidReview(f"{value!r} is not one of the readings offered for {field.path}",
                                f"{value!r} 不在 {field.path} 的候选读数之中")
    return value


def apply_review(session: Session, document_id: str, path: str, change: Change, version: int,
                 user: Principal) -> dict[str, Any]:
    """Save a reviewer's decision if `version` is the stored one; StaleVersion (409) otherwise."""
    field = _field_row(session, document_id, path)
    new = _new_value(change, field)
    review = session.exec(select(FieldReviewRow).where(
        FieldReviewRow.document_id == document_id, FieldReviewRow.path == path)).first()
    stored_version = review.version if review else 0
    if version != stored_version:
        raise StaleVersion(field_view(field, review, boxes=_boxes_of(session, document_id)))
    old = review.value if review else field.value
    now = dt.datetime.now(dt.UTC)
    if review is None:
        review = FieldReviewRow(document_id=document_id, path=path, value=new, action=change.action,
                                version=1, reviewed_by=user.username, reviewed_at=now)
        session.add(review)
    else:
        # Compare-and-set on the version: of two writers that read the same version, one wins.
        updated = session.execute(
            FieldReviewRow.__table__.update()  # type: ignore[attr-defined]
            .where(col(FieldReviewRow.id) == review.id, col(FieldReviewRow.version) == stored_version)
            .values(value=new, action=change.action, version=stored_version + 1,
                    reviewed_by=user.username, reviewed_at=now)
        )
        if updated.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            raise StaleVersion(current_field(session, document_id, path))
    session.add(AuditRow(at=now, user=user.username, document_id=document_id, path=path,
                         action=change.action, old=old, new=new, version=stored_version + 1))
    try:
        session.commit()
    except IntegrityError as exc:  # a first review saved by someone else at the same moment
        session.rollback()
        raise StaleVersion(current_field(session, document_id, path)) from exc
    session.expire_all()
    return current_field(session, document_id, path)


def history(session: Session, document_id: str, path: str) -> list[dict[str, Any]]:
    _field_row(session, document_id, path)
    query = (select(AuditRow).where(AuditRow.document_id == document_id, AuditRow.path == path)
             .order_by(col(AuditRow.id)))
    return [{"at": a.at, "user": a.user, "action": a.action, "old": a.old, "new": a.new, "version": a.version}
            for a in session.exec(query).all()]


def set_status(session: Session, document_id: str, status: str, user: Principal) -> dict[str, Any]:
    if crud.get_document(session, document_id) is None:
        raise _missing_document(document_id)
    if status not in STATUSES:
        raise InvalidReview(f"status must be one of {', '.join(STATUSES)}", f"状态必须是 {'、'.join(STATUSES)} 之一")
    row = session.get(DocumentStatusRow, document_id)
    old = row.status if row else "to_review"
    now = dt.datetime.now(dt.UTC)
    if row is None:
        row = DocumentStatusRow(document_id=document_id, status=status, updated_by=user.username, updated_at=now)
    else:
        row.status, row.updated_by, row.updated_at = status, user.username, now
    session.add(row)
    session.add(AuditRow(at=now, user=user.username, document_id=document_id, action="status", old=old, new=status))
    session.commit()
    return {"document_id": document_id, "status": status}


def record_reextract(session: Session, document_id: str, old_id: str, new_id: str, user: Principal) -> None:
    session.add(AuditRow(user=user.username, document_id=document_id, action="reextract", old=old_id, new=new_id))
    session.commit()


def queue(session: Session, limit: int, level: str | None = None) -> list[dict[str, Any]]:
    """Fields no one has reviewed yet, lowest confidence first, across every document's newest
    extraction; `level` keeps one level only."""
    latest = _latest_subquery()
    reviewed = (select(FieldReviewRow.id)
                .where(FieldReviewRow.document_id == latest.c.document_id, FieldReviewRow.path == FieldRow.path)
                .exists())
    query = (select(FieldRow, latest.c.document_id)
             .join(latest, latest.c.extraction_id == col(FieldRow.extraction_id))
             .where(~reviewed))
    if level is not None:
        query = query.where(FieldRow.level == level)
    query = query.order_by(col(FieldRow.confidence), col(FieldRow.extraction_id), col(FieldRow.position)).limit(limit)
    return [{"document_id": doc_id, "path": f.path, "value": f.value, "level": f.level, "confidence": f.confidence}
            for f, doc_id in session.exec(query).all()]


def _latest_subquery() -> Any:
    """(document_id, extraction_id) of every document's newest extraction, in SQL (a window)."""
    rank = func.row_number().over(partition_by=col(ExtractionRow.document_id),
                                  order_by=(col(ExtractionRow.created_at).desc(), col(ExtractionRow.id).desc()))
    ranked = select(col(ExtractionRow.document_id).label("document_id"),
                    col(ExtractionRow.id).label("extraction_id"), rank.label("rank")).subquery("ranked")
    return select(ranked.c.document_id, ranked.c.extraction_id).where(ranked.c.rank == 1).cte("latest")


class _JsonText(FunctionElement[str]):
    """A JSON column's value as SQL text when it is a JSON string (else NULL), compared bytewise."""

    type = String()
    inherit_cache = True


class _JsonNumber(FunctionElement[Any]):
    """A JSON column's value as an SQL number when it is a JSON number (else NULL)."""

    type = Numeric()
    inherit_cache = True


class _Contains(FunctionElement[bool]):
    """Whether the first text contains the second, case-sensitively (LIKE is not, on SQLite)."""

    type = Boolean()
    inherit_cache = True


class _Bytewise(FunctionElement[str]):
    """Text ordered by code point on every backend (SQLite's default; PostgreSQL's "C" collation)."""

    type = String()
    inherit_cache = True


def _args(element: Any, compiler: Any, **kw: Any) -> list[str]:
    return [compiler.process(arg, **kw) for arg in element.clauses]


@compiles(_JsonText, "sqlite")
def _json_text_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = _args(element, compiler, **kw)
    return f"(CASE WHEN json_type({arg}) = 'text' THEN json_extract({arg}, '$') END)"


@compiles(_JsonText, "postgresql")
def _json_text_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = _args(element, compiler, **kw)
    return f"((CASE WHEN json_typeof({arg}) = 'string' THEN ({arg} #>> '{{}}') END) COLLATE \"C\")"


@compiles(_JsonNumber, "sqlite")
def _json_number_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = _args(element, compiler, **kw)
    return f"(CASE WHEN json_type({arg}) IN ('integer', 'real') THEN json_extract({arg}, '$') END)"


@compiles(_JsonNumber, "postgresql")
def _json_number_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = _args(element, compiler, **kw)
    return f"(CASE WHEN json_typeof({arg}) = 'number' THEN CAST(({arg} #>> '{{}}') AS NUMERIC) END)"


@compiles(_Contains, "sqlite")
def _contains_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    haystack, needle = _args(element, compiler, **kw)
    return f"(instr({haystack}, {needle}) > 0)"


@compiles(_Contains, "postgresql")
def _contains_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    haystack, needle = _args(element, compiler, **kw)
    return f"(strpos({haystack}, {needle}) > 0)"


@compiles(_Bytewise)
def _bytewise(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = _args(element, compiler, **kw)
    return arg


@compiles(_Bytewise, "postgresql")
def _bytewise_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    (arg,) = _args(element, compiler, **kw)
    return f'({arg} COLLATE "C")'


def list_documents(session: Session, *, issuer: str | None = None, year: int | None = None,
                   status: str | None = None, finding_kind: str | None = None, sort: str = "created",
                   order: str = "desc", page: int = 1, per_page: int = 50) -> dict[str, Any]:
    """The documents list of the review UI: filtered, sorted and paged by the database, and the
    total. Each document is shown by its newest extraction; an unknown issuer or year sorts last."""
    if status is not None and status not in STATUSES:
        raise InvalidReview(f"status must be one of {', '.join(STATUSES)}", f"状态必须是 {'、'.join(STATUSES)} 之一")
    if sort not in SORTS:
        raise InvalidReview(f"sort must be one of {', '.join(SORTS)}", f"排序必须是 {'、'.join(SORTS)} 之一")
    if order not in ("asc", "desc"):
        raise InvalidReview("order must be asc or desc", "顺序必须是 asc 或 desc")
    latest = _latest_subquery()
    ext = latest.c.extraction_id
    # One pass over the newest extractions' fields (by the extraction_id index) gives what the
    # list filters and sorts on; the page's own meta values are read afterwards, as stored.
    per_field = (sa_select(
        col(FieldRow.extraction_id).label("extraction_id"),
        func.sum(case((col(FieldRow.level) == "low", 1), else_=0)).label("low"),
        func.max(case((col(FieldRow.path) == "meta.issuer", _JsonText(FieldRow.value)))).label("issuer"),
        func.max(case((col(FieldRow.path) == "meta.report_year", _JsonNumber(FieldRow.value)))).label("year"))
        .join(latest, ext == col(FieldRow.extraction_id))
        .group_by(col(FieldRow.extraction_id)).subquery("per_field"))
    per_finding = (sa_select(col(FindingRow.extraction_id).label("extraction_id"), func.count().label("n"))
                   .join(latest, ext == col(FindingRow.extraction_id))
                   .group_by(col(FindingRow.extraction_id)).subquery("per_finding"))
    low = func.coalesce(per_field.c.low, 0)
    findings = func.coalesce(per_finding.c.n, 0)
    state = func.coalesce(col(DocumentStatusRow.status), "to_review")
    issuer_text, year_number = per_field.c.issuer, per_field.c.year
    # Columns, not rows: a document row carries its whole text.
    query = (sa_select(col(DocumentRow.id), col(DocumentRow.filename), col(DocumentRow.created_at), ext,
                       state, low, findings, func.count().over().label("total"))
             .select_from(DocumentRow)
             .join(latest, latest.c.document_id == col(DocumentRow.id))
             .outerjoin(per_field, per_field.c.extraction_id == ext)
             .outerjoin(per_finding, per_finding.c.extraction_id == ext)
             .outerjoin(DocumentStatusRow, col(DocumentStatusRow.document_id) == col(DocumentRow.id)))
    if issuer:
        query = query.where(_Contains(issuer_text, issuer))
    if year is not None:
        query = query.where(year_number == year)
    if status:
        query = query.where(state == status)
    if finding_kind:
        query = query.where(select(FindingRow.id).where(col(FindingRow.extraction_id) == ext,
                                                        FindingRow.kind == finding_kind).exists())
    key = {"issuer": issuer_text, "year": year_number, "low": low, "findings": findings,
           "created": col(DocumentRow.created_at)}[sort]
    doc_id = _Bytewise(col(DocumentRow.id))
    direction = (lambda e: e.desc()) if order == "desc" else (lambda e: e.asc())
    query = query.order_by(
        case((key.is_(None), 1), else_=0),  # unknown issuer/year: always last, by id
        direction(key),
        case((key.is_(None), doc_id), else_=None).asc(),
        direction(doc_id),
    ).offset((page - 1) * per_page).limit(per_page)
    rows = session.execute(query).all()
    if rows:
        total = int(rows[0].total)  # counted before LIMIT by the window: one statement, not two
    else:  # a page past the end: count on its own
        total = int(session.execute(sa_select(func.count()).select_from(
            query.limit(None).offset(None).order_by(None).subquery())).scalar_one())
    meta: dict[str, dict[str, Any]] = {row[3]: {} for row in rows}
    if meta:
        values = select(FieldRow.extraction_id, FieldRow.path, FieldRow.value).where(
            col(FieldRow.extraction_id).in_(list(meta)),
            col(FieldRow.path).in_(["meta.issuer", "meta.report_year", "meta.template"]))
        for ext_id, path, value in session.exec(values).all():
            meta[ext_id][path] = value
    items = [
        {"id": d, "filename": filename, "issuer": meta[ext_id].get("meta.issuer"),
         "year": meta[ext_id].get("meta.report_year"), "template": meta[ext_id].get("meta.template"),
         "status": status_value, "low_count": int(low_count), "findings_count": int(findings_count),
         "extraction_id": ext_id, "created_at": created_at}
        for d, filename, created_at, ext_id, status_value, low_count, findings_count, _ in rows
    ]
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def grid(template: str) -> dict[str, Any]:
    """The three tables as the official forms lay them out, built from schemas/ only."""
    if template not in templates.TEMPLATES:
        raise InvalidReview(f"template must be one of {', '.join(templates.TEMPLATES)}",
                            f"模板必须是 {'、'.join(templates.TEMPLATES)} 之一")
    known = set(templates.paths_for(template))
    raw = templates.raw()

    def cell(path: str) -> str | None:
        return path if path in known else None

    # 表二: groups (one per article) with their own columns; one grid with the union of columns.
    columns: list[dict[str, str]] = []
    rows: list[dict[str, Any]] = []
    for group in templates.table2(template):
        for c in group.columns:
            if all(c.key != x["key"] for x in columns):
                columns.append({"key": c.key, "label": c.label})
        rows += [{"key": r.key, "label": r.label, "group": group.article} for r in group.rows]
    table2 = {"key": "active_disclosure", "title_zh": raw["active_disclosure"]["section_zh"],
              "columns": columns, "rows": rows,
              "cell_paths": [[cell(f"active_disclosure.{r['key']}.{c['key']}") for c in columns] for r in rows]}
    t3_rows = [r for r in templates.table3_rows() if template in r.templates]
    t3_cols = templates.table3_columns()
    table3 = {"key": "applications", "title_zh": raw["applications"]["section_zh"],
              "columns": [{"key": c.key, "label": c.label} for c in t3_cols],
              "rows": [{"key": r.key, "label": r.label, "group": r.group} for r in t3_rows],
              "cell_paths": [[cell(f"applications.{r.key}.{c.key}") for c in t3_cols] for r in t3_rows]}
    groups, t4_cols = templates.table4_groups(), templates.table4_columns()
    flat = [{"key": f"{g.key}.{c.key}", "label": c.label} for g in groups for c in t4_cols]
    table4 = {"key": "reviews_and_litigation", "title_zh": raw["reviews_and_litigation"]["section_zh"],
              "columns": flat,
              "column_groups": [{"key": g.key, "label": g.label, "span": len(t4_cols)} for g in groups],
              "rows": [{"key": "counts", "label": raw["reviews_and_litigation"]["section_zh"]}],
              "cell_paths": [[cell(f"reviews_and_litigation.{c['key']}") for c in flat]]}
    return {"template": template, "tables": [table2, table3, table4]}


def stored_document(document: DocumentRow) -> Document:
    """The stored document as the readers take it. Only the normalized text is kept, so it is read
    again as text under the stored identity; refused when it does not read back identically
    (spans of the new extraction must point into the text we serve)."""
    from service.ingest import ingest

    doc = ingest(document.text.encode("utf-8"), "stored.txt")
    if doc.text != document.text:
        raise InvalidReview("the stored text does not read back identically; upload the original file again",
                            "存储的文本无法原样重新读取，请重新上传原文件")
    return doc.model_copy(update={"filename": document.filename, "sha256": document.sha256,
                                  "media_type": document.media_type, "encoding": document.encoding,
                                  "pages": document.pages})


def reread_document(session: Session, document: DocumentRow) -> Document:
    """The stored document read again: from the uploaded bytes when they were kept (the whole
    ingest, so a new reader sees what the file holds and a PDF gets its cell boxes), else from
    the stored text (documents stored before the bytes were kept)."""
    from service.ingest import ingest

    source = crud.get_source(session, document.id)
    if source is None:
        return stored_document(document)
    doc = ingest(source, document.filename)
    if doc.sha256 != document.sha256:  # a damaged store: never file a reading under another document
        raise InvalidReview("the stored file does not match the document; upload the original file again",
                            "存储的原文件与文档不符，请重新上传原文件")
    return doc


def reviewed_gold(session: Session) -> list[tuple[DocumentRow, dict[str, Any]]]:
    """People's reviews as gold files: a document marked `reviewed` vouches for every field (its
    reviewed value, else the value it was shown); elsewhere only the fields someone reviewed."""
    latest = latest_extractions(session)
    statuses = {r.document_id: r.status for r in session.exec(select(DocumentStatusRow)).all()}
    out: list[tuple[DocumentRow, dict[str, Any]]] = []
    for document in session.exec(select(DocumentRow).order_by(col(DocumentRow.id))).all():
        reviews = reviews_for(session, document.id)
        if document.id not in latest or (not reviews and statuses.get(document.id) != "reviewed"):
            continue
        fields: dict[str, Any] = {}
        if statuses.get(document.id) == "reviewed":
            fields = {f.path: f.value for f in crud.get_fields(session, latest[document.id])}
        fields.update({path: r.value for path, r in reviews.items()})
        out.append((document, {"document": document.filename or document.id, "fields": fields,
                               "expected_findings": []}))
    return out
