"""Locate stage: find tables 2, 3 and 4 by their content (column headers, row labels), not headings."""

from __future__ import annotations

import re
from functools import cache

from pydantic import BaseModel

from service.document import Document, Span
from service.parse.rows import CompactText
from service.templates import (
    compact,
    strip_numbering,
    table2,
    table3_rows,
    table4_columns,
    table4_groups,
)


class Regions(BaseModel):
    """Character ranges of each table in the document's text (None: not found)."""

    table2: Span | None = None
    table3: Span | None = None
    table4: Span | None = None
    template: str | None = None
    template_votes: dict[str, int] = {}
    template_span: Span | None = None  # the first column header of the winning template


@cache
def template_markers() -> dict[str, tuple[str, ...]]:
    """Column labels that belong to one template only (neither contains the other's)."""
    forms: dict[str, set[str]] = {}
    for tpl in ("2019", "2021"):
        forms[tpl] = {compact(c.label) for g in table2(tpl) for c in g.columns}
    out: dict[str, tuple[str, ...]] = {}
    for tpl, other in (("2019", "2021"), ("2021", "2019")):
        mine = {f for f in forms[tpl] if not any(f in o or o in f for o in forms[other])}
        out[tpl] = tuple(sorted(mine, key=len, reverse=True))
    return out


@cache
def column_labels() -> tuple[str, ...]:
    """Every table-2 column header as printed in either template: where table 2 starts."""
    return tuple({compact(c.label) for tpl in ("2019", "2021") for g in table2(tpl) for c in g.columns})


def _find_all(ct: CompactText, needle: str) -> list[int]:
    out: list[int] = []
    pos = 0
    while True:
        i = ct.text.find(needle, pos)
        if i < 0:
            return out
        out.append(i)
        pos = i + 1


def locate(doc: Document) -> Regions:
    text = doc.text
    ct = CompactText.of(text, 0, len(text))
    regions = Regions()

    # Table 2: where the template's column headers are.
    votes: dict[str, int] = {}
    first_t2: int | None = None
    marker_spans: dict[str, Span] = {}
    for tpl, markers in template_markers().items():
        for m in markers:
            hits = _find_all(ct, m)
            if hits:
                votes[tpl] = votes.get(tpl, 0) + 1
                span = ct.span(hits[0], hits[0] + len(m))
                if tpl not in marker_spans or span[0] < marker_spans[tpl][0]:
                    marker_spans[tpl] = span
    for m in column_labels():
        hits = _find_all(ct, m)
        if hits:
            first_t2 = hits[0] if first_t2 is None else min(first_t2, hits[0])
    regions.template_votes = votes
    if votes:
        regions.template = max(votes, key=lambda k: (votes[k], k))
        regions.template_span = marker_spans[regions.template]

    # Table 3: its header markers or its first row label.
    t3_candidates: list[int] = []
    for marker in ("勾稽关系", "申请人情况"):
        t3_candidates += _find_all(ct, marker)[:1]
    new_received = table3_rows()[0]
    for form in new_received.forms():
        t3_candidates += _find_all(ct, form)[:1]
    if not t3_candidates:
        # OCR may misspell one character of the first row's label (公开 → 公幵).
        t3_candidates += _find_one_slip(ct, strip_numbering(new_received.forms()[0]))[:1]
    carried_forward = table3_rows()[-1]
    t3_start = min(t3_candidates) if t3_candidates else None
    t3_end_c: int | None = None
    if t3_start is not None:
        cf = [i for f in carried_forward.forms() for i in _find_all(ct, f) if i > t3_start]
        if cf:
            t3_end_c = min(cf)

    # Table 4: 行政复议 followed closely by 行政诉讼 and the result columns.
    t4_start = _find_table4(ct, after=t3_start if t3_start is not None else 0)
    if t4_start is None and t3_start is not None:
        t4_start = _find_table4(ct, after=0)

    n = len(ct.text)

    def off(c: int) -> int:
        return ct.at(c) if c < n else len(text)

    if first_t2 is not None:
        ends = [x for x in (t3_start, t4_start) if x is not None and x > first_t2]
        # Back up to the 第二十条 heading of the first group, when it is close.
        start_c = first_t2
        art = ct.text.rfind("第二十条", max(0, first_t2 - 60), first_t2)
        if art >= 0:
            start_c = art
        end_c = min(ends) if ends else min(n, first_t2 + 1500)
        regions.table2 = (off(start_c), off(end_c))
    if t3_start is not None:
        if t4_start is not None and t4_start > t3_start:
            end = off(t4_start)
        elif t3_end_c is not None:
            end = _line_end(text, off(t3_end_c) + 10, extra_lines=12)
        else:
            end = min(len(text), off(t3_start) + 6000)
        regions.table3 = (off(t3_start), end)
    if t4_start is not None:
        start = off(t4_start)
        regions.table4 = (start, _table4_end(text, start))
    return regions


def _find_one_slip(ct: CompactText, form: str) -> list[int]:
    """Where `form` stands with at most one character misread (long labels only)."""
    if len(form) < 10:
        return []
    slips = "|".join(re.escape(form[:i]) + "." + re.escape(form[i + 1 :]) for i in range(len(form)))
    return [m.start() for m in re.finditer(slips, ct.text)]


def _find_table4(ct: CompactText, after: int) -> int | None:
    review = table4_groups()[0].label
    cols = [f for c in table4_columns() for f in c.forms()]
    pos = after
    while True:
        i = ct.text.find(review, pos)
        if i < 0:
            return None
        window = ct.text[i : i + 400]
        if "行政诉讼" in window and sum(window.count(c) for c in cols) >= 3:
            return i
        pos = i + 1


_SECTION_AFTER_T4 = re.compile(
    r"\n\s*(?:[五六]\s*、|[（(][五六][)）]|五\s|[56]\s*[、.]|[^\n]{0,20}存在的主要问题|[^\n]{0,20}其他需要报告)"
)


def _table4_end(text: str, start: int) -> int:
    m = _SECTION_AFTER_T4.search(text, start + 20)
    end = m.start() if m else min(len(text), start + 2500)
    glued = re.search(r"[五六]、\s*(?:存在|政府信息公开工作存在|其他需要)", text[start:end])
    if glued:
        end = start + glued.start()
    return end


def _line_end(text: str, pos: int, extra_lines: int = 0) -> int:
    for _ in range(extra_lines + 1):
        nl = text.find("\n", pos)
        if nl < 0:
            return len(text)
        pos = nl + 1
    return pos
