"""The model reader: located table regions and prose passages → Readings with source "llm".

Only what the model needs is sent: one call per located table with only that table's region, and
one call for the prose figures with only the passages around their keywords (plus the title and
the signature), never the whole report. With scope "doubtful" a table is asked about only when
the parser is unsure of it: a reading with doubts or alternatives, or a finding that says a
cell or row is damaged or a rule fails (`doubtful_sections`; reconcile's levels come later, so
this is the parser-side approximation of "a cell that is not high"); the caller may pass the
section names to ask about instead. Every printed string the model returns is grounded in the
normalized text (that gives its span) and read with the parser's own number helpers.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from pydantic import BaseModel

from service.config import Settings
from service.contract import Scope, Usage
from service.document import Document, Span
from service.model.client import AnswerCache, CallResult, call
from service.model.prompts import Prompt, render_prose, render_table
from service.model.run import ModelRun
from service.model.schema import (
    DERIVED_FIELDS,
    PROSE,
    TABLES,
    prose_fields,
    prose_name,
    response_model,
    schema_hash,
    table_spec,
)
from service.parse.rows import CompactText, number_token, read_token
from service.parse.solve import to_number
from service.readings import Reading, SectionReading
from service.templates import blank_markers, compact

DOUBTFUL_FINDINGS = frozenset({"sum_mismatch", "damaged_cell", "missing_row", "extra_cell"})
PASSAGE_REACH = 60  # characters kept on each side of a keyword, within its sentence
EDGE_CHARS = 160  # the title and the signature: this many characters at each end of the text
MAX_PROSE_CHARS = 4000
MAX_REGION_CHARS = 20_000  # a located table is 0.2-5k characters; past this the region is cut (and said so)
DIGIT_RUN_REACH = 40  # how far past the previous cell a number glued into a digit run may stand


def doubtful_sections(sections: Sequence[SectionReading]) -> set[str]:
    """Sections the parser is unsure of: what scope "doubtful" asks the model about."""
    out = set()
    for sec in sections:
        unsure = any(r.doubts or r.alternatives for r in sec.readings.values())
        if sec.section in TABLES:
            if unsure or any(f.kind in DOUBTFUL_FINDINGS for f in sec.findings):
                out.add(sec.section)
        elif sec.section in ("narrative", "meta") and (
            # A prose value is high only with independent evidence: without it the model is asked.
            unsure or any(not r.evidence for p, r in sec.readings.items() if p not in DERIVED_FIELDS)
        ):
            out.add(PROSE)
    return out


def read_with_model(
    doc: Document,
    sections: Sequence[SectionReading],
    *,
    settings: Settings,
    prompt_version: str = "v1",
    scope: Scope = "doubtful",
    only: Collection[str] | None = None,
) -> ModelRun:
    """Ask the configured endpoint about the report's tables and prose figures; never raises.

    `only`: section names ("active_disclosure", "applications", "reviews_and_litigation",
    "prose") to ask about, overriding what scope "doubtful" would choose.
    """
    run = ModelRun(prompt_version=prompt_version, model=settings.llm_model or "",
                   instructor_mode=settings.llm_instructor_mode)
    if not settings.llm_base_url or not settings.llm_model:
        run.failures.append("not_configured: no NIANBAO_LLM_BASE_URL / NIANBAO_LLM_MODEL")
        return run
    started = time.perf_counter()
    try:
        _read(doc, sections, settings, prompt_version, scope, only, run)
    except Exception as exc:  # noqa: BLE001 - the parser's result stands; the reason is recorded
        run.failures.append(f"error: reader: {type(exc).__name__}: {exc}"[:300])
    run.latency_ms = (time.perf_counter() - started) * 1000
    return run


def _read(doc: Document, sections: Sequence[SectionReading], settings: Settings, version: str,
          scope: Scope, only: Collection[str] | None, run: ModelRun) -> None:
    by_name = {s.section: s for s in sections}
    meta = by_name.get("meta")
    template = str((meta.facts.get("template") if meta else None) or "2021")
    wanted = set(only) if only is not None else ({*TABLES, PROSE} if scope == "all" else doubtful_sections(sections))
    plans: list[tuple[str, Prompt, Span | None]] = []
    for name in TABLES:
        sec = by_name.get(name)
        if name in wanted and sec is not None and sec.found and sec.span is not None:
            start, end = sec.span
            if end - start > MAX_REGION_CHARS:
                run.failures.append(f"region_truncated: {name}: {end - start} characters, sent {MAX_REGION_CHARS}")
                end = start + MAX_REGION_CHARS
            plans.append((name, render_table(name, template, doc.text[start:end], version), (start, end)))
    if PROSE in wanted:
        tables = [s.span for s in sections if s.section in TABLES and s.span is not None]
        passages = prose_passages(doc.text, tables, sections)
        if passages:
            plans.append((PROSE, render_prose(passages, version), None))
    run.asked = [p[0] for p in plans]
    if not plans:
        return
    cache = AnswerCache(settings.llm_cache_dir)
    model = settings.llm_model or ""

    def one(plan: tuple[str, Prompt, Span | None]) -> CallResult:
        kind, prompt, _ = plan
        rmodel = response_model(kind, template)
        key = cache.key(doc.sha256, version, model, schema_hash(kind, template), kind, prompt)
        try:
            hit = cache.get(key)
        except Exception:  # noqa: BLE001 - an unreadable cache is a miss
            hit = None
        if hit is not None:
            try:
                return CallResult(kind=kind, answer=rmodel.model_validate(hit[0]), cached=True)
            except ValueError:
                pass
        result = call(settings, kind, prompt, rmodel)
        try:
            cache.put(key, result)
        except Exception as exc:  # noqa: BLE001 - a cache that cannot be written costs a re-run only
            run.failures.append(f"cache_unwritable: {kind}: {type(exc).__name__}")
        return result

    with ThreadPoolExecutor(max_workers=min(settings.llm_concurrency, len(plans))) as pool:
        results = list(pool.map(one, plans))
    usage = Usage()
    for (kind, _prompt, span), res in zip(plans, results, strict=True):
        if res.cached:
            run.cached += 1
        else:
            run.calls += 1
            run.retries += res.retries
            usage.prompt_tokens += res.prompt_tokens
            usage.completion_tokens += res.completion_tokens
        if res.failure:
            run.failures.append(res.failure)
            continue
        assert res.answer is not None
        if kind == PROSE:
            run.readings.update(prose_readings(doc.text, res.answer))
        else:
            assert span is not None
            run.readings.update(table_readings(doc.text, kind, template, span, res.answer))
    run.usage = usage
    if settings.llm_price_in_per_1k is not None or settings.llm_price_out_per_1k is not None:
        run.cost = round(usage.prompt_tokens / 1000 * (settings.llm_price_in_per_1k or 0.0)
                         + usage.completion_tokens / 1000 * (settings.llm_price_out_per_1k or 0.0), 6)


# --- prose passages --------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[。！？；;\n]")


def _keywords() -> list[str]:
    from service.parse.prose import phrases

    unread: dict[str, Any] = phrases()["unread_keywords"]
    return sorted({k for spec in unread.values() for k in spec["keywords"]}, key=len, reverse=True)


def prose_passages(text: str, table_spans: Sequence[Span], sections: Sequence[SectionReading]) -> list[str]:
    """The title, the signature, and each sentence piece around a figure's keyword or a place the
    parser read a prose value, outside the tables; overlapping pieces merged, in text order."""
    windows: list[tuple[int, int]] = [(0, min(len(text), EDGE_CHARS)), (max(0, len(text) - EDGE_CHARS), len(text))]
    anchors: list[tuple[int, int]] = []
    for kw in _keywords():
        anchors += [(m.start(), m.end()) for m in re.finditer(re.escape(kw), text)]
    for sec in sections:
        if sec.section in ("narrative", "meta"):
            anchors += [r.span for r in sec.readings.values() if r.span is not None]
    for a, b in anchors:
        if any(s <= a < e for s, e in table_spans):
            continue
        lo = max(a - PASSAGE_REACH, 0)
        hi = min(b + PASSAGE_REACH, len(text))
        before = [m.end() for m in _SENTENCE_END.finditer(text, lo, a)]
        after = _SENTENCE_END.search(text, b, hi)
        windows.append((before[-1] if before else lo, after.end() if after else hi))
    windows.sort()
    merged: list[list[int]] = []
    for a, b in windows:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out: list[str] = []
    total = 0
    for a, b in merged:
        piece = text[a:b].strip()
        if piece and total + len(piece) <= MAX_PROSE_CHARS:
            out.append(piece)
            total += len(piece)
    return out


# --- grounding --------------------------------------------------------------------------------

class _Region:
    """A span of the text with its compacted form, to find labels and printed strings in it."""

    def __init__(self, text: str, span: Span) -> None:
        self.text = text
        self.start, self.end = span
        self.ct = CompactText.of(text, self.start, self.end)

    def find_label(self, forms: Sequence[str], cursor: int) -> Span | None:
        ci = bisect.bisect_left(self.ct.offsets, cursor)
        best: tuple[int, int] | None = None
        for form in forms:
            i = self.ct.text.find(form, ci) if form else -1
            if i >= 0 and (best is None or i < best[0]):
                best = (i, i + len(form))
        return self.ct.span(*best) if best else None

    def find_cell(self, printed: str, cursor: int) -> tuple[Span, list[str]] | None:
        """Where a printed cell stands: the next occurrence after the cursor not inside a longer
        number; else inside a digit run just after the cursor (a glued layout); else anywhere in
        the region (out of order). Doubts say which."""
        digit = printed[0].isdigit() or printed[-1].isdigit()
        bounded = re.compile(rf"(?<![\d.]){re.escape(printed)}(?![\d.])" if digit else re.escape(printed))
        m = bounded.search(self.text, cursor, self.end)
        if m:
            return (m.start(), m.end()), []
        i = self.text.find(printed, cursor, min(self.end, cursor + DIGIT_RUN_REACH))
        if i >= 0:
            return (i, i + len(printed)), ["llm_grounded_in_digit_run"]
        m = bounded.search(self.text, self.start, self.end)
        if m:
            return (m.start(), m.end()), ["llm_grounded_out_of_order"]
        return None


def _cell_value(printed: str, typ: str) -> tuple[Any, list[str]]:
    """A printed cell read with the parser's helpers: (value, doubts)."""
    m = number_token().fullmatch(printed)
    if not m:
        return None, ["llm_unreadable_cell"]
    tok = read_token(m)
    value = to_number(tok.clean, decimal=typ == "decimal")
    doubts = sorted({kind for _, kind in tok.repairs})
    if value is None:
        doubts.append("llm_unreadable_cell")
    return value, doubts


def table_readings(text: str, kind: str, template: str, span: Span, answer: BaseModel) -> dict[str, Reading]:
    """One Reading per answered cell, grounded in the table's region in printed order."""
    spec = table_spec(kind, template)
    region = _Region(text, span)
    blanks = blank_markers()
    out: dict[str, Reading] = {}
    cursor = region.start
    rows: list[Any] = list(getattr(answer, "rows", []))
    for row in rows:
        rspec = spec.row(row.key)
        forms = [f for f in (compact(row.label), *rspec.forms) if f]
        label = region.find_label(forms, cursor)
        if label is not None:
            cursor = label[1]
        for (col, _clabel, typ), printed in zip(rspec.columns, row.cells, strict=True):
            path = f"{kind}.{row.key}.{col}"
            if printed == "":
                out[path] = Reading(path=path, value=None, source="llm", doubts=["llm_ungrounded"])
                continue
            doubts: list[str] = []
            value: Any = None
            if printed not in blanks:
                value, doubts = _cell_value(printed, typ)
            where = region.find_cell(printed, cursor)
            if where is None:
                out[path] = Reading(path=path, value=value, source="llm", doubts=[*doubts, "llm_ungrounded"])
                continue
            cell_span, how = where
            if "llm_grounded_out_of_order" not in how:
                cursor = cell_span[1]
            out[path] = Reading(path=path, value=value, source="llm", span=cell_span, doubts=[*doubts, *how])
    _derive_other_total(kind, spec, out)
    return out


def _derive_other_total(kind: str, spec: Any, out: dict[str, Reading]) -> None:
    """applications (六) printed only as its three sub-rows: the row is their sum, as the parser does."""
    subs = [r.key for r in spec.rows if r.subrow_of]
    if kind != "applications" or not subs:
        return
    parent = spec.row(subs[0]).subrow_of
    for col, _label, _typ in spec.row(parent).columns:
        path = f"{kind}.{parent}.{col}"
        parts = [out.get(f"{kind}.{k}.{col}") for k in subs]
        if path in out or any(p is None for p in parts):
            continue
        values = [p.value for p in parts if p is not None]
        total = sum(v for v in values if isinstance(v, int | float)) if any(v is not None for v in values) else None
        doubts = ["llm_derived_from_subrows"]
        if any("llm_ungrounded" in p.doubts for p in parts if p is not None):
            doubts.append("llm_ungrounded")
        out[path] = Reading(path=path, value=total, source="llm", doubts=doubts)


def _find_quote(text: str, quote: str) -> Span | None:
    """The quote verbatim, else with white space ignored."""
    if not quote.strip():
        return None
    i = text.find(quote)
    if i >= 0:
        return (i, i + len(quote))
    needle = compact(quote)
    ct = CompactText.of(text, 0, len(text))
    j = ct.text.find(needle) if needle else -1
    return ct.span(j, j + len(needle)) if j >= 0 else None


def _value_in_quote(text: str, qspan: Span, value: Any, typ: str) -> Span | None:
    """Where the value itself stands inside its quote; None when the quote does not state it."""
    piece = text[qspan[0]:qspan[1]]
    if typ in ("int", "decimal"):
        printed = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        m = re.search(rf"(?<![\d.]){re.escape(printed)}(?![\d.])", piece)
        return (qspan[0] + m.start(), qspan[0] + m.end()) if m else None
    if typ == "date":
        y, mo, d = str(value).split("-")
        ok = re.search(rf"{y}\D{{1,3}}0?{int(mo)}\D{{1,3}}0?{int(d)}(?!\d)", compact(piece))
        return qspan if ok else None
    if typ == "str":
        i = compact(piece).find(compact(str(value)))
        return qspan if i >= 0 else None
    return qspan  # bool: the quote is the statement


def prose_readings(text: str, answer: BaseModel) -> dict[str, Reading]:
    """One Reading per prose field: grounded when its quote is in the text and states the value."""
    out: dict[str, Reading] = {}
    for path, _meaning, typ in prose_fields():
        figure = getattr(answer, prose_name(path))
        value, quote = figure.value, figure.quote
        if value is None:
            out[path] = Reading(path=path, value=None, source="llm", doubts=["llm_not_stated", "llm_ungrounded"])
            continue
        if typ == "date":
            try:
                value = date.fromisoformat(str(value)).isoformat()
            except ValueError:
                out[path] = Reading(path=path, value=None, source="llm",
                                    doubts=["llm_unreadable_value", "llm_ungrounded"], alternatives=[value])
                continue
        qspan = _find_quote(text, quote)
        where = _value_in_quote(text, qspan, value, typ) if qspan else None
        if where is None:
            doubts = ["llm_quote_not_found" if qspan is None else "llm_quote_lacks_value", "llm_ungrounded"]
            out[path] = Reading(path=path, value=value, source="llm", doubts=doubts)
        else:
            out[path] = Reading(path=path, value=value, source="llm", span=where)
    return out
