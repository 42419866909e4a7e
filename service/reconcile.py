"""Reconcile: every reader's readings and the findings → one value per field, with confidence.

The level is the promise a reviewer relies on: `high` only when a value was read from an
unambiguous layout and nothing (rule, prose, search) argues against it.
"""

from __future__ import annotations

from service.checks import (
    Checked,
    missing_sections,
    sum_mismatches,
    template_mismatch,
    text_table_conflicts,
)
from service.contract import FieldResult, Finding, Level
from service.document import Document
from service.readings import Reading, SectionReading
from service.templates import paths_for, prose_checks

# Doubts that mean the layout admits another value for this cell: a person must look.
LOW_DOUBTS = frozenset({
    "several_readings_satisfy_rules",
    "several_readings_possible",
    "no_reading_satisfies_rules",
    "row_short_of_cells",
    "no_split_satisfies_row_total",
    "split_search_truncated",
    "table_search_truncated",
    "row_count_mismatch",
    "template_headers_conflict",
    "template_headers_not_found",
    "subrow_missing",
    "glued_split_unconfirmed",
    "several_numbers_in_cell",
    "cell_token_too_long",
    "extra_or_broken_number",
    "row_values_missing",
    "block_count_mismatch",
    "blank_may_have_vanished",
    "line_break_may_cut_number",
    "ocr_letter_alone",
    "row_reading_contradicted",
    "pipe_or_one",
    "row_may_be_subrow",
})
# Doubts that lower a value to medium when nothing else argues.
MEDIUM_DOUBTS = frozenset({"fuzzy_label", "partial_label", "not_stated", "subrows_not_printed",
                           "values_apart_from_labels", "ocr_letter", "thousands_separator",
                           "number_rejoined", "reading_unconfirmed"})
# Evidence that the layout itself was reconstructed (split, transposed, placed), so a failing
# rule is more likely a misreading than a printing error.
RECONSTRUCTED = frozenset({"glued_digits_split", "column_major_layout", "placed_by_position", "fuzzy_label",
                           "partial_label"})

CONFIDENCE = {"high": 0.95, "medium": 0.7, "low": 0.3}


def reconcile(doc: Document, sections: list[SectionReading]) -> tuple[list[FieldResult], list[Finding]]:
    by_name = {s.section: s for s in sections}
    meta = by_name.get("meta")
    template = str(meta.facts.get("template")) if meta else "2021"
    prose = by_name.get("narrative")
    readings: dict[str, Reading] = {}
    for s in sections:
        if s.section in ("active_disclosure", "applications", "reviews_and_litigation"):
            readings.update(s.readings)
    table_readings = dict(readings)
    if prose:
        readings.update(prose.readings)
    if meta:
        readings.update(meta.readings)

    checked: list[Checked] = []
    subrows = bool(by_name["applications"].facts.get("subrows_printed")) if "applications" in by_name else False
    checked += sum_mismatches(table_readings, subrows)
    year_r = readings.get("meta.report_year")
    year = int(year_r.value) if year_r and isinstance(year_r.value, int) else None
    checked += template_mismatch(template, year, meta.facts.get("table2_span") if meta else None)
    checked += missing_sections(by_name)
    conflicts = text_table_conflicts(table_readings, prose)
    checked += conflicts
    parse_findings = [f for s in sections for f in s.findings]

    flags_by_path: dict[str, set[str]] = {}
    for c in checked:
        for p in c.touches:
            flags_by_path.setdefault(p, set()).add(c.finding.kind)
    for f in parse_findings:
        flags_by_path.setdefault(f.path, set()).add(f.kind)
        for p in readings:
            if p.startswith(f.path + "."):
                flags_by_path.setdefault(p, set()).add(f.kind)
    conflict_by_path = {p: c.finding for c in conflicts for p in c.touches}
    _table_agreement(readings, table_readings)

    missing = {c.finding.path for c in checked if c.finding.kind == "missing_section"}
    fields: list[FieldResult] = []
    for path in paths_for(template):
        r = readings.get(path)
        flags = set(flags_by_path.get(path, set()))
        section = path.split(".")[0]
        if r is None:
            if section in missing:
                flags.add("missing_section")
            flags.add("not_found")
            level: Level = "low"
            fields.append(FieldResult(path=path, value=None, confidence=0.1, level=level,
                                      sources={}, span=None, flags=sorted(flags)))
            continue
        doubts = set(r.doubts)
        flags |= doubts
        if r.source == "text" and r.value is None:
            flags.add("not_stated")
        level = _level(r, flags)
        sources: dict[str, object] = {r.source: r.value}
        if r.alternatives:
            sources["alternatives"] = r.alternatives
        if path in conflict_by_path:
            sources["text"] = conflict_by_path[path].message
        fields.append(FieldResult(path=path, value=r.value, confidence=_confidence(level, flags),
                                  level=level, sources=sources, span=r.span, flags=sorted(flags)))
    findings = parse_findings + [c.finding for c in checked]
    return fields, _dedupe(findings)


def _table_agreement(readings: dict[str, Reading], table_readings: dict[str, Reading]) -> None:
    """A prose figure the table states too, with the same value: two independent readers agree."""
    for check in prose_checks():
        text_r, table_r = readings.get(check["narrative"]), table_readings.get(check["table"])
        if text_r is None or table_r is None or text_r.value is None or table_r.value is None:
            continue
        if text_r.value == table_r.value and "table_agrees" not in text_r.evidence:
            readings[check["narrative"]] = text_r.model_copy(
                update={"evidence": [*text_r.evidence, "table_agrees"]})


def _level(r: Reading, flags: set[str]) -> Level:
    if r.source == "text":
        return _text_level(r, flags)
    if flags & LOW_DOUBTS:
        return "low"
    if "sum_mismatch" in flags:
        # A failing rule over a reconstructed layout is more likely our misreading.
        return "low" if flags & RECONSTRUCTED else "medium"
    if flags & {"text_table_conflict", "template_mismatch"} or flags & MEDIUM_DOUBTS:
        return "medium"
    if "missing_cell" in flags or "extra_cell" in flags:
        return "medium"
    return "high"


# Prose doubts that a person resolving them would still trust at medium (the reader corrected a
# name to its official form, the text is silent); every other prose doubt means look.
TEXT_MEDIUM_DOUBTS = frozenset({"not_stated", "issuer_corrected_to_official_name"})


def _text_level(r: Reading, flags: set[str]) -> Level:
    """A prose value is read by keyword patterns, not a layout: `high` needs independent support
    (a second statement, the table, an official list), a doubt means a person should look."""
    if set(r.doubts) - TEXT_MEDIUM_DOUBTS or "text_table_conflict" in flags:
        return "low"
    if r.doubts or r.value is None:
        return "medium"
    return "high" if r.evidence else "medium"


def _confidence(level: Level, flags: set[str]) -> float:
    base = CONFIDENCE[level]
    if level == "high" and flags & RECONSTRUCTED:
        base -= 0.05
    return round(base, 2)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for f in findings:
        key = (f.kind, f.path, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
