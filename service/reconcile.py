"""Reconcile: every reader's readings and the findings → one value per field, with confidence.

The level is the promise a reviewer relies on: `high` only when a value was read from an
unambiguous layout and nothing (rule, prose, search) argues against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.checks import (
    Checked,
    equation_sides,
    holds,
    missing_sections,
    sum_mismatches,
    template_mismatch,
    text_table_conflicts,
)
from service.contract import FieldResult, Finding, Level, Value, built
from service.document import Document
from service.readings import Reading, SectionReading
from service.templates import Equation, equations, paths_for, prose_checks

if TYPE_CHECKING:  # the model's record is read only when there is one: reading alone does not import it
    from service.model.run import ModelRun

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
    "blank_where_rule_needs_value",
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


def reconcile(doc: Document, sections: list[SectionReading],
              model_run: ModelRun | None = None) -> tuple[list[FieldResult], list[Finding]]:
    """One FieldResult per template path; with a model run, each model reading is weighed
    against the parser's (see `_weigh`). Without one the result is the parsers' alone."""
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
    under = _paths_under(readings, {f.path for f in parse_findings}) if parse_findings else {}
    for f in parse_findings:
        flags_by_path.setdefault(f.path, set()).add(f.kind)
        for p in under.get(f.path, ()):
            flags_by_path.setdefault(p, set()).add(f.kind)
    conflict_by_path = {p: c.finding for c in conflicts for p in c.touches}
    _table_agreement(readings, table_readings)

    missing = {c.finding.path for c in checked if c.finding.kind == "missing_section"}
    model = model_run.readings if model_run is not None else {}
    rules = _Rules(table_readings, subrows) if model else None
    model_findings: list[Finding] = []
    fields: list[FieldResult] = []
    high = _ROUNDED["high"]
    for path in paths_for(template):
        r = readings.get(path)
        flagged = flags_by_path.get(path)
        m = model.get(path) if model else None
        if (r is not None and m is None and not flagged and not r.doubts and r.source != "text"
                and not r.alternatives and path not in conflict_by_path):
            # Most cells: a table reading nothing argues with, `high` by _level's rules (no flag
            # at all), built without the sets and sorting the other cases need.
            fields.append(built(FieldResult, {"path": path, "value": r.value, "confidence": high, "level": "high",
                                              "sources": {r.source: r.value}, "span": r.span, "flags": []}))
            continue
        flags = set(flagged) if flagged else set()
        section = path[: path.find(".")] if "." in path else path
        if r is None and m is not None:
            assert rules is not None
            field = _model_only(path, m, flags, rules)
            if field.value is None and section in missing:
                field.flags = sorted({*field.flags, "missing_section"})
            fields.append(field)
            continue
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
        value, span = r.value, r.span
        if m is not None:
            assert rules is not None
            value, span, level, conflict = _weigh(r, m, level, flags, sources, rules)
            if conflict is not None:
                model_findings.append(conflict)
        # Built, not validated: every value here comes from a Reading or is made here.
        fields.append(built(FieldResult, {"path": path, "value": value, "confidence": _confidence(level, flags),
                                          "level": level, "sources": sources, "span": span, "flags": sorted(flags)}))
    findings = parse_findings + [c.finding for c in checked] + model_findings
    return fields, _dedupe(findings)


# Flags under which the arithmetic (or the prose, or the template) argues against the parser's
# reading: a second reader agreeing does not make such a value high.
ARGUED = frozenset({"sum_mismatch", "text_table_conflict", "template_mismatch", "no_reading_satisfies_rules"})


class _Rules:
    """The template's equations over the parser's table values, asked one cell at a time: does
    every rule touching the cell hold with this value in it, and does any rule touch it at all?"""

    def __init__(self, table_readings: dict[str, Reading], subrows_printed: bool) -> None:
        self.values: dict[str, Value] = {p: r.value for p, r in table_readings.items()}
        self.by_path: dict[str, list[Equation]] = {}
        for eq in equations():
            if eq.when == "other_subrows_printed" and not subrows_printed:
                continue
            for p in eq.lhs + eq.rhs:
                self.by_path.setdefault(p, []).append(eq)

    def verdict(self, path: str, value: Value) -> tuple[bool, bool]:
        """(decisive, holds): decisive when some rule touching `path` can be evaluated with
        `value` in the cell; holds when every such rule does."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False, False
        values = {**self.values, path: value}
        sides = [equation_sides(values, eq) for eq in self.by_path.get(path, [])]
        known = [s for s in sides if s is not None]
        return bool(known), all(holds(s) for s in known)


def _paths_under(readings: dict[str, Reading], wanted: set[str]) -> dict[str, list[str]]:
    """Each `wanted` dotted prefix of the reading paths → the paths under it, in reading order: a
    finding about a row or a section flags its cells by one look-up, not a scan per finding.
    Only the prefixes findings name are collected (most prefixes no finding asks about)."""
    under: dict[str, list[str]] = {}
    for p in readings:
        cut = p.find(".")
        while cut >= 0:
            prefix = p[:cut]
            if prefix in wanted:
                under.setdefault(prefix, []).append(p)
            cut = p.find(".", cut + 1)
    return under


def _same(a: Value, b: Value) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) < 1e-9
    return a == b


def _grounded(m: Reading) -> bool:
    """A model value is evidence only when what it quotes was found in the report's text."""
    return m.span is not None and "llm_ungrounded" not in m.doubts


def _model_only(path: str, m: Reading, flags: set[str], rules: _Rules) -> FieldResult:
    """A value only the model found: medium at most, only when grounded, and low when a rule
    touching the cell fails with it."""
    flags |= {"llm_only", *m.doubts}
    if _grounded(m) and m.value is not None:
        decisive, ok = rules.verdict(path, m.value)
        level: Level = "low" if decisive and not ok else "medium"
        if level == "low":
            flags.add("llm_value_breaks_rule")
        value, span = m.value, m.span
    else:
        flags.add("not_found")
        level, value, span = "low", None, None
    return FieldResult(path=path, value=value, confidence=0.1 if value is None else CONFIDENCE[level],
                       level=level, sources={"llm": m.value}, span=span, flags=sorted(flags))


def _weigh(r: Reading, m: Reading, level: Level, flags: set[str], sources: dict[str, object],
           rules: _Rules) -> tuple[Value, tuple[int, int] | None, Level, Finding | None]:
    """The parser's reading `r` (at `level`) against the model's `m`: the value, span and level
    to keep, and the conflict to report. `flags` and `sources` are completed in place.

    An ungrounded model value changes nothing. Agreement, with no rule failing, lifts medium to
    high (two independent readers) and low to medium. Disagreement is a finding and `low`, with
    the parser's value kept, unless the arithmetic decides for the model (the parser's reading
    breaks a rule touching the cell, the model's satisfies every one: the model's value, medium)
    or the model chose a reading the parser itself offered as an alternative (medium). Where the
    rules point to the parser's value, the flag `arithmetic_chose_parser` says so.
    """
    sources["llm"] = m.value
    if not _grounded(m):
        flags.add("llm_ungrounded")
        return r.value, r.span, level, None
    if _same(r.value, m.value):
        flags.add("readers_agree")
        decisive, ok = rules.verdict(r.path, r.value)
        if flags & ARGUED or (decisive and not ok) or r.value is None:
            return r.value, r.span, level, None
        if level == "low":
            if r.alternatives:
                flags.add("llm_chose_reading")
            return r.value, r.span, "medium", None
        if m.doubts:  # the model's cell was repaired or found out of order: not a second reading
            flags |= set(m.doubts)
            return r.value, r.span, level, None
        return r.value, r.span, "high", None
    p_decisive, p_ok = rules.verdict(r.path, r.value)
    m_decisive, m_ok = rules.verdict(r.path, m.value)
    if p_decisive and m_decisive and m_ok and not p_ok:
        flags.add("arithmetic_chose_llm")
        return m.value, m.span, "medium", _conflict(r, m, "arithmetic_chose_llm")
    if p_decisive and m_decisive and p_ok and not m_ok:
        # The parser's value stays, but a reader disputes it: a person looks (the flag says
        # which way the rules point, so the look is quick).
        flags |= {"arithmetic_chose_parser", "llm_parser_conflict"}
        return r.value, r.span, "low", _conflict(r, m, "arithmetic_chose_parser")
    if level == "low" and any(_same(a, m.value) for a in r.alternatives) and (m_ok or not m_decisive) \
            and not flags & ARGUED and m.value is not None:
        flags.add("llm_chose_reading")
        return m.value, m.span, "medium", None
    flags.add("llm_parser_conflict")
    return r.value, r.span, "low", _conflict(r, m, None)


def _conflict(r: Reading, m: Reading, decided: str | None) -> Finding:
    verdict = {"arithmetic_chose_llm": "；表内合计支持模型的读数",
               "arithmetic_chose_parser": "；表内合计支持解析器的读数"}.get(decided or "", "")
    return Finding(
        kind="llm_parser_conflict", path=r.path,
        message=f"解析器读作 {r.value}，模型读作 {m.value}{verdict}",
        spans=[s for s in (r.span, m.span) if s is not None],
    )


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
    if level == "high" and flags & RECONSTRUCTED:
        return _RECONSTRUCTED_HIGH
    return _ROUNDED[level]


_ROUNDED = {level: round(c, 2) for level, c in CONFIDENCE.items()}  # asked once per field
_RECONSTRUCTED_HIGH = round(CONFIDENCE["high"] - 0.05, 2)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for f in findings:
        key = (f.kind, f.path, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
