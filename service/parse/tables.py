"""Deterministic readers of tables 2, 3 and 4 over any text layout, choosing readings by the rules."""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from service.checks import equation_sides, holds
from service.contract import Finding, built
from service.document import Span
from service.parse.han import has_han
from service.parse.rows import (
    Anchor,
    RawRow,
    Slot,
    cut_slots,
    find_anchors,
    numbering_of,
    strip_footers,
)
from service.parse.solve import (
    Assignment,
    CellValue,
    Choice,
    RowOptions,
    Solution,
    row_options,
    slot_value,
    solve,
    too_long,
)
from service.readings import Reading, SectionReading
from service.templates import (
    Equation,
    Label,
    Table2Group,
    equations,
    strip_numbering,
    table2,
    table3_columns,
    table3_rows,
    table4_columns,
    table4_groups,
)

MAX_PLACEMENTS = 400


@dataclass
class RowRead:
    """One template row as read: the options it admits and why it is in doubt."""

    key: str
    options: RowOptions
    span: Span | None
    placed_by_position: bool = False


# ---- shared ------------------------------------------------------------------------------


def _row_assignment(prefix: str, columns: Sequence[str], row: Sequence[CellValue]) -> Assignment:
    return {f"{prefix}.{c}": cell for c, cell in zip(columns, row, strict=True)}


def _readings_from(
    solution: Solution,
    rows: dict[str, RowRead],
    prefix: str,
    columns: Sequence[str],
    doubts_by_row: dict[str, list[str]],
) -> dict[str, Reading]:
    out: dict[str, Reading] = {}
    truncated = ["table_search_truncated"] if solution.truncated else []
    ambiguous = "several_readings_satisfy_rules" if solution.consistent else "no_reading_satisfies_rules"
    for key in rows:
        # A row's doubts are sorted once; a cell with alternatives adds one more.
        row_doubts = [*doubts_by_row.get(key, []), *truncated]
        plain = sorted(set(row_doubts))
        for c in columns:
            path = f"{prefix}.{key}.{c}"
            cell = solution.assignment.get(path)
            if cell is None:
                continue
            value, span = cell
            alts = solution.ambiguous_paths.get(path)
            # Built, not validated (the table's cells are most of a report's readings): the value
            # and span are the solver's, a number or None and a slot's offsets.
            out[path] = built(Reading, {
                "path": path, "value": value, "source": "parser", "span": span,
                "doubts": sorted({*row_doubts, ambiguous}) if alts else list(plain),
                "alternatives": list(alts) if alts else [], "evidence": []})
    return out


def _blank_findings(readings: dict[str, Reading], slots_blank: set[str]) -> list[Finding]:
    out = []
    for path in sorted(slots_blank):
        r = readings.get(path)
        if r is not None and r.value is None and "cell_token_too_long" not in r.doubts:
            out.append(Finding(kind="missing_cell", path=path, message=f"表格单元格为空：{path}",
                               spans=[r.span] if r.span else []))
    return out


def _extra_finding(path: str, extra: Sequence[Slot]) -> Finding:
    return Finding(
        kind="extra_cell", path=path,
        message=f"该行多出 {len(extra)} 个数值（{'、'.join(s.text or '空' for s in extra)}），未移入下一行",
        spans=[s.span for s in extra],
    )


def _extra_findings(prefix: str, rows: dict[str, RowRead]) -> list[Finding]:
    return [_extra_finding(f"{prefix}.{key}", rr.options.extra) for key, rr in rows.items() if rr.options.extra]


REPAIR_FINDINGS = {
    "several_numbers_in_cell": "单元格内有多个数字（疑为数字被换行拆开），无法确定取值",
    "cell_token_too_long": "单元格数字位数超出该栏可能的长度，已视为损坏",
}


def mark_repairs(readings: dict[str, Reading], slots: Sequence[Slot]) -> list[Finding]:
    """Doubts for cells whose printed token was not a clean number, and findings for damaged ones.

    A repaired token (OCR letters, a thousands separator) is read as a person would but never
    trusted at `high`; a cell holding several numbers or an impossible digit count is damaged.
    """
    findings: list[Finding] = []
    by_start: list[tuple[int, int, str]] | None = None  # (span start, reading order, path)
    widest = 0
    for slot in slots:
        long_token = too_long(slot)
        if not slot.repairs and not long_token:
            continue
        kinds = {k for _, k in slot.repairs}
        shifted = "thousands_separator" in kinds  # offsets inside the slot no longer map 1:1
        if by_start is None:
            # Readings by where they start, built once: each damaged slot looks up the few
            # readings it overlaps instead of scanning them all (OCR text repairs many slots).
            by_start = sorted((r.span[0], i, p) for i, (p, r) in enumerate(readings.items())
                              if r.span is not None)
            widest = max((r.span[1] - r.span[0] for r in readings.values() if r.span is not None), default=0)
        lo = bisect.bisect_left(by_start, (slot.span[0] - widest, -1, ""))
        hi = bisect.bisect_left(by_start, (slot.span[1], -1, ""))
        for path in [p for _, _, p in sorted(by_start[lo:hi], key=lambda e: e[1])]:
            r = readings[path]
            if r.span is None or r.span[1] <= slot.span[0] or r.span[0] >= slot.span[1]:
                continue
            hit = kinds if shifted else {k for at, k in slot.repairs if r.span[0] <= at < r.span[1]}
            if long_token and r.value is None:
                hit = hit | {"cell_token_too_long"}
            if not hit:
                continue
            readings[path] = r.model_copy(update={"doubts": sorted(set(r.doubts) | hit)})
            for kind in sorted(hit & REPAIR_FINDINGS.keys()):
                findings.append(Finding(kind="damaged_cell", path=path,
                                        message=f"{REPAIR_FINDINGS[kind]}：{path}", spans=[slot.span]))
    return findings


def missing_rows(
    readings: dict[str, Reading], prefix: str, keys: Sequence[str], columns: Sequence[str],
    labels: dict[str, Label],
) -> list[Finding]:
    """A template row whose label was not found, or whose values are all absent (not printed blank:
    absent), is a lost row: one finding for the row, and its cells are `low`."""
    out: list[Finding] = []
    for key in keys:
        paths = [f"{prefix}.{key}.{c}" for c in columns]
        cells = [readings.get(p) for p in paths]
        if all(r is None for r in cells):
            why = "表格中未找到该行"
        elif all(r is None or (r.value is None and r.span is None) for r in cells):
            why = "该行的数值缺失"
            for p, r in zip(paths, cells, strict=True):
                if r is not None:
                    readings[p] = r.model_copy(update={"doubts": sorted({*r.doubts, "row_values_missing"})})
        else:
            continue
        out.append(Finding(kind="missing_row", path=f"{prefix}.{key}",
                           message=f"{why}：{labels[key].label}"))
    return out


def _all_slots(raws: Sequence[RawRow]) -> list[Slot]:
    return [s for raw in raws for s in (*raw.slots, *raw.leading_blanks, *raw.trailing_blanks)]


# Readings chosen among several ways to read the layout: their cells need a rule to confirm them.
CHOSEN_LAYOUTS = frozenset({"glued_digits_split", "column_major_layout", "placed_by_position",
                            "number_rejoined"})
# Where the row's own total built the reading (a split computes it; a placed row's total holds
# wherever it is placed), that total is no evidence for it.
SELF_CONFIRMING = frozenset({"glued_digits_split", "placed_by_position", "number_rejoined"})


def confirm_choices(
    readings: dict[str, Reading], eqs: Sequence[Equation], own: dict[str, set[str]], multi: set[str],
) -> None:
    """`high` needs evidence independent of the choice that produced a value.

    A cell of a reconstructed layout (split, transposed, placed, rejoined) is confirmed by the
    rules that hold over it, less its row's own total when that total built the reading (`own`:
    path → equation paths). One such rule confirms a reading that was the layout's only one; a
    reading picked among several (`multi`) was chosen by a rule, so it needs a second. Otherwise
    the cell is `reading_unconfirmed` (at most medium). A row its own total built, with a cell
    that another rule contradicts, may be split wrong as a whole: all its cells are `low`.

    A printed blank is unknown to the rules, so none fails over it; but where a rule fails even
    with its blanks read as 0, the total says a number stood there (an OCR `|` for 1 reads as one
    more cell separator): those blanks are `blank_where_rule_needs_value` (low), not the medium
    of an ordinary blank.
    """
    values = {p: r.value for p, r in readings.items()}
    cover: dict[str, list[str]] = {}
    broken: dict[str, list[str]] = {}
    printed_blanks = {p for p, r in readings.items() if r.value is None and r.span is not None}
    needed: set[str] = set()
    for eq in eqs:
        sides = equation_sides(values, eq)
        if sides is not None:
            into = cover if holds(sides) else broken
            for p in (*eq.lhs, *eq.rhs):
                into.setdefault(p, []).append(eq.path)
        elif printed_blanks:
            blanks = [p for p in (*eq.lhs, *eq.rhs) if p in printed_blanks]
            zeroed = equation_sides({p: 0 if p in printed_blanks else values.get(p)
                                     for p in (*eq.lhs, *eq.rhs)}, eq) if blanks else None
            if zeroed is not None and not holds(zeroed):
                needed.update(blanks)
    for path in needed:
        blank = readings[path]
        readings[path] = blank.model_copy(update={"doubts": sorted({*blank.doubts, "blank_where_rule_needs_value"})})
    contradicted = {frozenset(own[p]) for p in own
                    if any(e not in own[p] for e in broken.get(p, []))}
    for path in own:
        r = readings.get(path)
        if r is not None and frozenset(own[path]) in contradicted:
            readings[path] = r.model_copy(update={"doubts": sorted({*r.doubts, "row_reading_contradicted"})})
    for path, r in readings.items():
        if r.value is None or not CHOSEN_LAYOUTS & set(r.doubts):
            continue
        tests = [e for e in cover.get(path, []) if e not in own.get(path, set())]
        if len(tests) < (2 if path in multi else 1):
            readings[path] = r.model_copy(update={"doubts": sorted({*r.doubts, "reading_unconfirmed"})})


def _choice_paths(choices: Sequence[Choice]) -> set[str]:
    return {p for c in choices if len(c.options) > 1 for o in c.options for p in o}


def _option_choice(prefix: str, key: str, columns: Sequence[str], opts: RowOptions) -> Choice:
    return Choice(name=f"{prefix}.{key}",
                  options=[_row_assignment(f"{prefix}.{key}", columns, o) for o in opts.options])


# ---- table 3 -------------------------------------------------------------------------------


_SUBROWS = ("other_overdue_correction", "other_overdue_fee", "other_misc")


def _line_mode(text: str, start: int, end: int) -> bool:
    """Rows one per line (tab, markdown, rendered HTML/PDF/DOCX) vs cells spread over lines."""
    count = 0
    for line in text[start:end].split("\n"):
        if len(_NUMBER_CELL.findall(line)) >= 4:
            count += 1
    return count >= 5


# A cell (between `\t`/`|` delimiters or the line's ends) holding one number and white space:
# what `NUMBER.fullmatch(cell.strip())` accepts, found by one scan of the line.
_NUMBER_CELL = re.compile(r"(?:^|(?<=[\t|]))[^\S\t]*-?\d+(?:\.\d+)?[^\S\t]*(?=[\t|]|$)")


def read_table3(text: str, region: Span, grid_cells: frozenset[int] = frozenset()) -> SectionReading:
    text = strip_footers(text)
    start, end = region
    labels = list(table3_rows())
    columns = [c.key for c in table3_columns()]
    n = len(columns)
    anchors = find_anchors(text, start, end, labels)
    found = {a.key for a in anchors}
    subrows_printed = sum(1 for k in _SUBROWS if k in found) >= 2
    # With sub-rows printed, (六)其他处理 is their header: it holds values only when printed so.
    value_rows = [r.key for r in labels
                  if (r.key not in _SUBROWS or subrows_printed)
                  and not (r.key == "other_total" and subrows_printed)]
    groups = [(n - 1, list(range(n - 1)))]

    cut: list[RawRow] = []
    if _line_mode(text, start, end):
        rows, choices, layout = _table3_lines(text, start, end, anchors, value_rows, n, groups,
                                              grid_cells, cut)
    else:
        rows, choices, layout = _table3_segments(text, start, end, anchors, labels, value_rows, n,
                                                 groups, grid_cells, cut)

    if subrows_printed and "other_total" in rows and not any(
        v is not None for o in rows["other_total"].options.options for v, _ in o
    ):
        del rows["other_total"]
    elif subrows_printed and "other_total" in rows and any(k not in rows for k in _SUBROWS):
        # (六) read with values while one of its printed sub-rows is lost: the values may be
        # that sub-row's, its label cut into (六)'s.
        rows["other_total"].options.doubts.append("row_may_be_subrow")
    fixed: Assignment = {}
    for key, rr in rows.items():
        if len(rr.options.options) == 1:
            fixed.update(_row_assignment(f"applications.{key}", columns, rr.options.options[0]))
        else:
            choices.append(_option_choice("applications", key, columns, rr.options))
    eqs = [e for e in equations() if e.rule.startswith("applications.")
           and (e.when != "other_subrows_printed" or subrows_printed)]
    derive_other = subrows_printed and "other_total" not in rows
    derived = ({f"applications.other_total.{c}": [f"applications.{k}.{c}" for k in _SUBROWS] for c in columns}
               if derive_other else {})
    solution = solve(fixed, choices, eqs, derived)
    doubts_by_row = {k: list(rr.options.doubts) + (["placed_by_position"] if rr.placed_by_position else [])
                     for k, rr in rows.items()}
    readings = _readings_from(solution, rows, "applications", columns, doubts_by_row)
    if derive_other:
        values = {p: r.value for p, r in readings.items() if not isinstance(r.value, str | bool)}
        _derive_other_total(values, columns)
        for c in columns:
            path = f"applications.other_total.{c}"
            parts = [readings.get(f"applications.{k}.{c}") for k in _SUBROWS]
            doubts = sorted({d for p in parts if p for d in p.doubts})
            if any(p is None or p.value is None for p in parts):
                doubts.append("subrow_missing")
            readings[path] = Reading(path=path, value=values.get(path), span=None,
                                     doubts=doubts + ["derived_from_subrows"])
    if not subrows_printed and "other_total" in rows and not any(k in found for k in _SUBROWS):
        # (六) printed as one row, as the 2019 template and many 2021 reports do: its sub-rows are
        # not stated, which is no defect to review.
        for k in _SUBROWS:
            for c in columns:
                path = f"applications.{k}.{c}"
                readings[path] = Reading(path=path, value=None, doubts=["subrows_not_printed"])
    self_built = [key for key, rr in rows.items()
                  if SELF_CONFIRMING & set(rr.options.doubts) or rr.placed_by_position]
    own = {f"applications.{key}.{c}": {f"applications.{key}"} for key in self_built for c in columns}
    confirm_choices(readings, eqs, own, _choice_paths(choices))
    blanks = {p for p, (v, s) in solution.assignment.items() if v is None and s is not None}
    findings = mark_repairs(readings, _all_slots(cut))
    findings += _blank_findings(readings, blanks) + _extra_findings("applications", rows)
    expected = [k for k in value_rows if not (derive_other and k == "other_total")]
    findings += missing_rows(readings, "applications", expected, columns, {lab.key: lab for lab in labels})
    return SectionReading(
        section="applications", found=bool(anchors), readings=readings, findings=findings,
        span=region,
        facts={"subrows_printed": subrows_printed, "layout": layout,
               "consistent": solution.consistent, "rows_found": sorted(rows)},
    )


def _derive_other_total(values: dict[str, int | float | None], columns: Sequence[str]) -> None:
    for c in columns:
        parts = [values.get(f"applications.{k}.{c}") for k in _SUBROWS]
        values[f"applications.other_total.{c}"] = (
            None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
        )


def _table3_segments(
    text: str, start: int, end: int, anchors: list[Anchor], labels: list[Label],
    value_rows: list[str], n: int, groups: list[tuple[int, list[int]]],
    grid_cells: frozenset[int], cut: list[RawRow],
) -> tuple[dict[str, RowRead], list[Choice], str]:
    """Anchor-to-anchor segments: one cell per line, glued text, column-major PDF dumps."""
    by_key = {lab.key: lab for lab in labels}
    raws: list[tuple[Anchor, RawRow]] = []
    for i, a in enumerate(anchors):
        nxt = anchors[i + 1] if i + 1 < len(anchors) else None
        seg_end = nxt.start if nxt else end
        # Peel the next label's number off this row only when the anchor did not take it.
        numbering = numbering_of(by_key[nxt.key]) if nxt and not text[nxt.start].isdigit() else None
        raws.append((a, cut_slots(text, a.end, seg_end, numbering, grid_cells)))
    cut.extend(raw for _, raw in raws)
    rows: dict[str, RowRead] = {}
    choices: list[Choice] = []
    layout = "segments"
    columns = [c.key for c in table3_columns()]
    i = 0
    while i < len(raws):
        a, raw = raws[i]
        if a.key not in value_rows:
            i += 1
            continue
        # Column-major block: labels with no values, then all their values after the last one.
        k = len(raw.slots)
        block = _column_major_block(raws, i, value_rows) if k > n else None
        if block is not None:
            layout = "column_major"
            keys = [b.key for b, _ in block]
            options, block_doubts = _block_options(raw.slots, keys, n, columns)
            for key, (b, _) in zip(keys, block, strict=True):
                rows[key] = RowRead(key, RowOptions([], doubts=["column_major_layout", *block_doubts]),
                                    (b.start, b.end))
            if options:
                choices.append(Choice(name="block:" + keys[0], options=options))
            i += 1
            continue
        opts = row_options(raw.slots, raw.leading_blanks, raw.trailing_blanks, n, groups=groups)
        rows[a.key] = RowRead(a.key, opts, (a.start, a.end))
        if a.fuzzy:
            opts.doubts.append("fuzzy_label")
        i += 1
    # Rows of a column-major block carry no options of their own: the block choice holds them.
    rows = {k: r for k, r in rows.items() if r.options.options or "column_major_layout" in r.options.doubts}
    fixed_rows = {k: r for k, r in rows.items() if r.options.options}
    block_rows = {k: r for k, r in rows.items() if not r.options.options}
    for r in block_rows.values():
        # A placeholder the block's choice overrides: its values come from the choice.
        r.options = RowOptions([[(None, None)] * n], doubts=r.options.doubts)
    merged = {**fixed_rows, **block_rows}
    return merged, choices, layout


def _column_major_block(
    raws: list[tuple[Anchor, RawRow]], i: int, value_rows: list[str]
) -> list[tuple[Anchor, RawRow]] | None:
    """The value rows whose labels precede row i with no values of their own, and row i (headers
    such as （六）其他处理 above printed sub-rows are passed over); None when no label precedes."""
    block: list[tuple[Anchor, RawRow]] = [raws[i]]
    j = i - 1
    while j >= 0 and not raws[j][1].slots:
        if raws[j][0].key in value_rows:
            block.insert(0, raws[j])
        j -= 1
    return block if len(block) >= 2 else None


MAX_BLOCK_OPTIONS = 1000


def _block_options(
    slots: Sequence[Slot], keys: list[str], n: int, columns: list[str]
) -> tuple[list[Assignment], list[str]]:
    """Every way a column-by-column dump may place its values under the block's labels.

    When the values fill every labelled row, only the reading order is in question. When whole
    rows' values are missing (a row printed blank keeps its label), every choice of the missing
    rows is a candidate and the rules choose; when the count fits no whole number of rows, no
    placement can be trusted and the block's cells stay unread (`low`).
    """
    m, k = len(keys), len(slots)
    short = m * n - k
    if short < 0 or short % n:
        return [], ["block_count_mismatch"]
    missing_sets = itertools.combinations(range(m), short // n)
    options: list[Assignment] = []
    truncated = False
    for missing in missing_sets:
        present = [r for r in range(m) if r not in missing]
        for column_major, order in itertools.product((True, False), _column_orders(n)):
            grid = _grid(slots, len(present), n, column_major=column_major)
            opt: Assignment = {}
            for r, key in enumerate(keys):
                cells = grid[present.index(r)] if r in present else [(None, None)] * n
                opt.update(_row_assignment(f"applications.{key}", columns,
                                           [cells[order.index(j)] for j in range(n)]))
            if all(opt != o for o in options):
                options.append(opt)
        if len(options) >= MAX_BLOCK_OPTIONS:
            truncated = True
            break
    doubts = ["rows_missing_from_dump"] if short else []
    return options, doubts + (["table_search_truncated"] if truncated else [])


def _column_orders(n: int) -> list[list[int]]:
    """Orders in which a text dump may list a table's columns: as printed, or with the total
    column read before the last one (a PDF whose 总计 text objects precede 其他)."""
    identity = list(range(n))
    swapped = [*identity[:-2], identity[-1], identity[-2]] if n >= 2 else identity
    return [identity, swapped]


def _grid(slots: Sequence[Slot], m: int, n: int, *, column_major: bool) -> list[list[CellValue]]:
    cells = [slot_value(s) for s in slots]
    if column_major:
        return [[cells[c * m + r] for c in range(n)] for r in range(m)]
    return [cells[r * n : (r + 1) * n] for r in range(m)]


def _table3_lines(
    text: str, start: int, end: int, anchors: list[Anchor], value_rows: list[str], n: int,
    groups: list[tuple[int, list[int]]], grid_cells: frozenset[int], cut: list[RawRow],
) -> tuple[dict[str, RowRead], list[Choice], str]:
    """One row per line; lines whose label was cut off are placed between labelled rows."""
    entries: list[tuple[str | None, RawRow, Span]] = []
    hints: dict[int, str] = {}  # entry index → the cut label printed before its values
    pending: Anchor | None = None  # a label whose values have not come yet
    crowded = False  # a label already waited since the last values
    label_above: set[str] = set()
    pos = start
    used: set[str] = set()
    starts = [a.start for a in anchors]  # find_anchors sorts them by start
    for line in text[start:end].split("\n"):
        lstart, lend = pos, pos + len(line)
        pos = lend + 1
        line_anchors = anchors[bisect.bisect_left(starts, lstart) : bisect.bisect_left(starts, lend)]
        # The line's first value: read from its start and after each label on it; a number right
        # before a label is its numbering (`3 危及…`), not a value.
        # A line with no label is cut once: the probe from its start would read a prefix of it.
        whole = None if line_anchors else cut_slots(text, lstart, lend, grid_cells=grid_cells)
        # After the line's last label the whole cut is made at once: that label is nearly always
        # the row's, and its probe would read a prefix of the same cut.
        after_last = cut_slots(text, line_anchors[-1].end, lend, grid_cells=grid_cells) if line_anchors else None
        values = [sl for x in (lstart, *(a.end for a in line_anchors))
                  for sl in (whole or (after_last if x == line_anchors[-1].end else None)
                             or cut_slots(text, x, lend, grid_cells=grid_cells, first_only=True)).slots[:1]
                  if not any(not text[sl.span[1] : a.start].strip() for a in line_anchors if a.start >= sl.span[1])]
        first_value = min((sl.span[0] for sl in values), default=lend)
        # A label is the row's when printed before its values; a label after them (cut across
        # lines) begins the next row.
        on_line = [a for a in line_anchors if a.start < first_value]
        label = on_line[-1] if on_line else None
        seg_start = label.end if label else lstart
        raw = whole or (after_last if label is line_anchors[-1] else None) or cut_slots(
            text, seg_start, lend, grid_cells=grid_cells)
        cut.append(raw)
        hint = ""
        if label is None:
            # An unlabeled line: a row whose label was cut off, or stray numbers. Leading cells
            # with text are what is left of its label.
            label_end = _label_cells_end(text, lstart, lend)
            hint = re.sub(r"[\s|]", "", text[lstart:label_end])
            if label_end > lstart:
                raw = cut_slots(text, label_end, lend, grid_cells=grid_cells)
            if len(raw.slots) + len(raw.trailing_blanks) < n - 1:
                if not hint and raw.slots and entries and entries[-1][1].slots and not entries[-1][1].slots[-1].closed \
                        and entries[-1][2][1] < lstart and "\n" not in text[entries[-1][1].slots[-1].span[1] : lstart - 1]:
                    # The rest of a number the line break cut (`…1⏎4 |`): the row above reads it.
                    entries[-1][1].slots.extend(raw.slots)
                continue
            if has_han(hint):
                hints[len(entries)] = hint
            elif has_han(text[lstart:lend]):
                continue
            elif pending is not None and pending.key not in used:
                # A label printed on the lines above its values (`一、本年新收…` then `| 0 | 0 |…`).
                label, pending = pending, None
                label_above.add(label.key)
        elif not raw.slots and (label.key in value_rows or label.key == "other_total"):
            # Two labels waiting for values: which values are whose is for the rules to decide.
            pending = label if pending is None and not crowded else None
            crowded = True
            continue
        if not raw.slots:
            continue
        pending, crowded = None, False
        accept = label is not None and (label.key in value_rows or label.key == "other_total")
        key = label.key if label and accept and label.key not in used else None
        if label is not None and key is None and label.key in used:
            continue
        if key:
            used.add(key)
        entries.append((key, raw, (label.start, label.end) if label else (lstart, lend)))
    partial = _resolve_cut_labels(entries, hints, value_rows, used)

    rows: dict[str, RowRead] = {}
    choices: list[Choice] = []
    columns = [c.key for c in table3_columns()]
    position = {k: i for i, k in enumerate(value_rows)}
    # Walk labelled entries; collect unlabeled runs between them.
    labelled_idx = [i for i, (k, _, _) in enumerate(entries) if k is not None]
    bounds = [-1, *labelled_idx, len(entries)]
    for lkey, raw, span in (entries[i] for i in labelled_idx):
        assert lkey is not None
        opts = row_options(raw.slots, raw.leading_blanks, raw.trailing_blanks, n, groups=groups)
        anchor = next((a for a in anchors if a.key == lkey), None)
        if lkey in partial or lkey in label_above:
            opts.doubts.append("partial_label")
        elif anchor and anchor.fuzzy:
            opts.doubts.append("fuzzy_label")
        rows[lkey] = RowRead(lkey, opts, span)
    for lo, hi in itertools.pairwise(bounds):
        run = entries[lo + 1 : hi]
        if not run:
            continue
        p_lo = _position(position, entries[lo][0], after=True) if lo >= 0 else -1
        p_hi = _position(position, entries[hi][0], after=False) if hi < len(entries) else len(value_rows)
        gap = [k for k in value_rows[p_lo + 1 : p_hi] if k not in rows]
        if lo < 0 and hi < len(entries):
            gap = gap[-len(run):] if len(run) <= len(gap) else gap
        if hi >= len(entries) and lo >= 0:
            gap = gap[: len(run)] if len(run) <= len(gap) else gap
        opts_list = [row_options(r.slots, r.leading_blanks, r.trailing_blanks, n, groups=groups)
                     for _, r, _ in run]
        if len(run) == len(gap):
            for gk, o, (_, _, sp) in zip(gap, opts_list, run, strict=True):
                rows[gk] = RowRead(gk, o, sp, placed_by_position=True)
            continue
        if len(run) < len(gap):
            placements = list(itertools.islice(itertools.combinations(gap, len(run)), MAX_PLACEMENTS))
            options: list[Assignment] = []
            for placement in placements:
                opt: Assignment = {}
                for k in gap:
                    opt.update(_row_assignment(f"applications.{k}", columns, [(None, None)] * n))
                for k, o in zip(placement, opts_list, strict=True):
                    opt.update(_row_assignment(f"applications.{k}", columns, o.options[0]))
                options.append(opt)
            choices.append(Choice(name=f"placement:{gap[0]}", options=options))
            for k in gap:
                rows[k] = RowRead(k, RowOptions([], doubts=["placed_by_position", "row_count_mismatch"]), None)
        # More unlabeled rows than places: they cannot be placed; leave them unread.
    for r in rows.values():
        if not r.options.options:
            r.options = RowOptions([[(None, None)] * n], doubts=r.options.doubts)
    # Rows handled by a placement choice must not be fixed to the placeholder.
    return rows, choices, "lines"


def _label_cells_end(text: str, start: int, end: int) -> int:
    """Where the leading cells holding text (not numbers) of a delimited line end."""
    pos = start
    seen_text = False
    for m in re.finditer(r"[^\t|]*(?:[\t|]|$)", text[start:end]):
        cell = m.group(0).strip(" \t|")
        if (cell or seen_text) and not has_han(cell):
            break  # a number, a blank marker, or an empty cell after the label: the values
        seen_text = seen_text or bool(cell)
        pos = start + m.end() - (1 if m.group(0)[-1:] in ("\t", "|") else 0)  # at the delimiter
        if m.end() >= end - start:
            break
    return pos


def _resolve_cut_labels(
    entries: list[tuple[str | None, RawRow, Span]], hints: dict[int, str], value_rows: list[str],
    used: set[str],
) -> set[str]:
    """Rows whose label was cut across lines (`4.保护第三`, `律行政法规禁止公开`, `度继续办理`): the
    piece printed before the values names a row when exactly one unread row between its labelled
    neighbours contains it (and has its numbering). Returns the rows so named."""
    labels = {r.key: r for r in table3_rows()}
    position = {k: i for i, k in enumerate(value_rows)}
    named: set[str] = set()
    for idx, hint in sorted(hints.items()):
        before = [k for k, _, _ in entries[:idx] if k is not None]
        after = [k for k, _, _ in entries[idx + 1 :] if k is not None]
        lo = _position(position, before[-1], after=True) if before else -1
        hi = _position(position, after[0], after=False) if after else len(value_rows)
        fits = [k for k in value_rows[lo + 1 : hi] if k not in used and _cut_label_fits(hint, labels[k])]
        if len(fits) == 1:
            _, raw, span = entries[idx]
            entries[idx] = (fits[0], raw, span)
            used.add(fits[0])
            named.add(fits[0])
    return named


def _cut_label_fits(piece: str, label: Label) -> bool:
    core = strip_numbering(piece)
    if len(core) < 2:
        return False
    number = re.match(r"(\d+)[.、．]", piece)
    own = numbering_of(label)
    if number and own and number.group(1) != own:
        return False
    return any(core in form for form in label.forms())


def _position(position: dict[str, int], key: str | None, *, after: bool) -> int:
    """Template position of a labelled row; the (六) header sits just before its sub-rows."""
    if key is None:
        return -1 if after else len(position)
    if key in position:
        return position[key]
    nxt = position.get("other_overdue_correction")
    return (nxt - 1) if nxt is not None else len(position)


# ---- table 4 -------------------------------------------------------------------------------


def read_table4(text: str, region: Span, grid_cells: frozenset[int] = frozenset()) -> SectionReading:
    text = strip_footers(text)
    start, end = region
    groups = [g.key for g in table4_groups()]
    cols = [c.key for c in table4_columns()]
    n = len(groups) * len(cols)
    # The data begins at the first digit after the header labels.
    m = re.search(r"-?\d", text[start:end])
    if not m:
        return SectionReading(section="reviews_and_litigation", found=False, span=region)
    data_start = start + m.start()
    # Include blank cells on the data line before the first digit.
    line_start = text.rfind("\n", start, data_start) + 1
    seg_start = max(line_start, start)
    raw = cut_slots(text, seg_start, end, grid_cells=grid_cells)
    data_line_end = text.find("\n", data_start, end)
    first_line = cut_slots(text, seg_start, end if data_line_end < 0 else data_line_end, grid_cells=grid_cells)
    _continue_split_table4(text, end, first_line, len(cols), n, grid_cells)
    if len(first_line.slots) == n:
        raw = first_line  # one group per line: what followed a line was the next group's, or noise
    if seg_start == line_start and text[line_start:data_start].strip() == "":
        pieces = re.split(r"[\t|]", text[line_start:data_start])
        lead = [Slot("", (line_start, line_start), blank=True) for p in pieces[1:] if not p.strip()]
        if text[line_start:data_start].startswith("\t"):
            raw.leading_blanks = lead
    _continue_split_table4(text, end, raw, len(cols), n, grid_cells)
    sum_groups = [(gi * len(cols) + len(cols) - 1, [gi * len(cols) + j for j in range(len(cols) - 1)])
                  for gi in range(len(groups))]
    opts = row_options(raw.slots, raw.leading_blanks, raw.trailing_blanks, n, groups=sum_groups)
    paths = [f"reviews_and_litigation.{g}.{c}" for g in groups for c in cols]
    eqs = [e for e in equations() if e.rule.startswith("reviews_and_litigation.")]
    choices = []
    fixed: Assignment = {}
    if len(opts.options) == 1:
        fixed = dict(zip(paths, opts.options[0], strict=True))
    else:
        choices.append(Choice(name="table4", options=[dict(zip(paths, o, strict=True)) for o in opts.options]))
    solution = solve(fixed, choices, eqs)
    readings: dict[str, Reading] = {}
    for path in paths:
        value, span = solution.assignment[path]
        doubts = list(opts.doubts)
        alts = solution.ambiguous_paths.get(path, [])
        if alts:
            doubts.append("several_readings_satisfy_rules" if solution.consistent else "no_reading_satisfies_rules")
        readings[path] = Reading(path=path, value=value, span=span, doubts=sorted(set(doubts)), alternatives=alts)
    split = bool(SELF_CONFIRMING & set(opts.doubts))
    own = {p: {e.path for e in eqs} for p in paths} if split else {}
    confirm_choices(readings, eqs, own, set(paths) if len(opts.options) > 1 else set())
    blanks = {p for p, (v, s) in solution.assignment.items() if v is None and s is not None}
    findings = mark_repairs(readings, _all_slots([raw]))
    findings += _blank_findings(readings, blanks)
    if "no_split_satisfies_row_total" in opts.doubts:
        findings += _mismatches_in_any_reading(opts.options, paths, eqs)
    if opts.extra:
        findings.append(_extra_finding("reviews_and_litigation", opts.extra))
    return SectionReading(section="reviews_and_litigation", found=True, readings=readings,
                          findings=findings, span=region, facts={"consistent": solution.consistent})


def _mismatches_in_any_reading(options: Sequence[Sequence[CellValue]], paths: Sequence[str],
                               eqs: Sequence[Equation]) -> list[Finding]:
    """No split of the digits satisfies every total: which total is wrong depends on the split,
    so each one that the closest splits break is reported."""
    broken: dict[str, Equation] = {}
    for option in options:
        values = {p: v for p, (v, _) in zip(paths, option, strict=True)}
        for eq in eqs:
            sides = equation_sides(values, eq)
            if sides is not None and not holds(sides):
                broken.setdefault(eq.path, eq)
    return [Finding(kind="sum_mismatch", path=path,
                    message=f"{eq.description_zh}：数字粘连，没有一种拆分能使各组合计成立，此组在某种拆分下不成立")
            for path, eq in broken.items()]


def _continue_split_table4(
    text: str, end: int, raw: RawRow, group_size: int, n: int, grid_cells: frozenset[int]
) -> None:
    """Table 4 printed as one small table per group (a title and a header between the value rows):
    while the values read so far are whole groups, the next value row is the next group's."""
    whole = [*raw.leading_blanks, *raw.slots, *raw.trailing_blanks]
    cells = raw.slots if len(raw.slots) % group_size == 0 else whole
    if not raw.slots or len(cells) % group_size or len(cells) >= n:
        return
    parts: list[Slot] = []
    after = raw.slots[-1].span[1]
    while len(cells) + len(parts) < n:
        m = re.search(r"-?\d", text[after:end])
        if not m:
            break
        line_start = text.rfind("\n", after, after + m.start()) + 1
        if line_start <= after:
            break  # the next number is on the same line: not a new group's row
        line_end = text.find("\n", line_start, end)
        part = cut_slots(text, line_start, end if line_end < 0 else line_end, grid_cells=grid_cells)
        row = [*part.leading_blanks, *part.slots, *part.trailing_blanks]
        if len(row) != group_size:
            row = part.slots
        if len(row) != group_size or all(c.blank for c in row):
            break
        parts += row
        after = part.slots[-1].span[1]
    if parts:
        raw.slots = [*cells, *parts]
        raw.leading_blanks, raw.trailing_blanks = [], []


# ---- table 2 -------------------------------------------------------------------------------


def read_table2(text: str, region: Span, template: str, grid_cells: frozenset[int] = frozenset()) -> SectionReading:
    text = strip_footers(text)
    start, end = region
    groups = table2(template)
    # Every row label of the template, found anywhere in the region (groups may be reordered).
    hits: list[tuple[int, int, str, int]] = []  # start, end, row key, group index
    taken: list[tuple[int, int]] = []
    for gi, g in enumerate(groups):
        for r in g.rows:
            found = _find_label(text, start, end, r, taken)
            if found:
                hits.append((found[0], found[1], r.key, gi))
                taken.append(found)
    stops = sorted([h[0] for h in hits] + _article_positions(text, start, end))
    hits.sort()
    readings: dict[str, Reading] = {}
    findings: list[Finding] = []
    blanks: set[str] = set()
    raws: list[tuple[tuple[int, int, str, int], RawRow]] = []
    for h in hits:
        nxt = next((s for s in stops if s > h[0]), end)
        raws.append((h, cut_slots(text, h[1], nxt, grid_cells=grid_cells)))
    handled: set[str] = set()
    dump = _table2_dump(text, end, raws, groups, stops, grid_cells)
    if dump is not None:
        readings.update(dump)
        handled.update(path.split(".")[1] for path in dump)
    for i, (h, raw) in enumerate(raws):
        _, _, key, gi = h
        if key in handled:
            continue
        g = groups[gi]
        n = len(g.columns)
        cols = [c.key for c in g.columns]
        decimal = frozenset(j for j, c in enumerate(g.columns) if c.type == "decimal")
        signed = frozenset(j for j, c in enumerate(g.columns) if c.key == "change")
        # Column-major pair: a label with no values followed by one with all of the group's.
        following = raws[i + 1] if i + 1 < len(raws) else None
        if not raw.slots and following and following[0][3] == gi and len(following[1].slots) == 2 * n:
            continue  # its values follow the next label's
        prev = raws[i - 1] if i > 0 else None
        if (prev and prev[0][3] == gi and not prev[1].slots and len(raw.slots) == 2 * n
                and prev[0][2] not in handled):
            cm = _grid(raw.slots, 2, n, column_major=True)
            rm = _grid(raw.slots, 2, n, column_major=False)
            for r_idx, rkey in enumerate((prev[0][2], key)):
                for j, c in enumerate(cols):
                    path = f"active_disclosure.{rkey}.{c}"
                    v, sp = cm[r_idx][j]
                    alt = rm[r_idx][j][0]
                    doubts = ["column_major_layout"]
                    if alt != v:
                        doubts.append("several_readings_satisfy_rules")
                    readings[path] = Reading(path=path, value=v, span=sp, doubts=doubts,
                                             alternatives=[alt] if alt != v else [])
            handled.update({prev[0][2], key})
            continue
        if key in handled:
            continue
        opts = row_options(raw.slots, raw.leading_blanks, raw.trailing_blanks, n,
                           decimal_cells=decimal, signed_cells=signed)
        options = opts.options
        if "glued_digits_split" in opts.doubts and n > 1:
            # No rule checks table 2: a split digit run may also hide a vanished blank cell.
            opts.doubts.append("glued_split_unconfirmed")
        if len(options) > 1:
            options = sorted(options, key=lambda o: _t2_plausibility(cols, o))
        best = options[0]
        for j, c in enumerate(cols):
            path = f"active_disclosure.{key}.{c}"
            v, sp = best[j]
            alts = sorted({o[j][0] for o in options[1:] if o[j][0] != v}, key=lambda x: (x is None, x or 0))
            doubts = list(opts.doubts)
            if alts:
                doubts.append("several_readings_possible")
            if v is None and raw.overfull:
                # No rule checks table 2: a blank in a row with a cell too many may be a 1 that
                # OCR read as one more `|`.
                doubts.append("pipe_or_one")
            readings[path] = Reading(path=path, value=v, span=sp, doubts=doubts, alternatives=list(alts))
            if v is None and sp is not None:
                blanks.add(path)
        if opts.extra:
            findings.append(_extra_finding(f"active_disclosure.{key}", opts.extra))
        handled.add(key)
    findings += mark_repairs(readings, _all_slots([raw for _, raw in raws]))
    findings += _blank_findings(readings, blanks)
    for g in groups:
        findings += missing_rows(readings, "active_disclosure", [r.key for r in g.rows],
                                 [c.key for c in g.columns], {r.key: r for r in g.rows})
    return SectionReading(section="active_disclosure", found=bool(hits), readings=readings,
                          findings=findings, span=region, facts={"template": template})


def _table2_dump(
    text: str, end: int, raws: list[tuple[tuple[int, int, str, int], RawRow]],
    groups: Sequence[Table2Group], stops: list[int], grid_cells: frozenset[int],
) -> dict[str, Reading] | None:
    """Table 2 from a PDF text dump: labels in one place, their values in another.

    When every row label is found, several stand without values, and the values in the region
    number exactly the template's cells, the values are the groups' in the order their labels
    appear, each group row by row or column by column. A sign or a decimal where its column
    allows none rules an order out; two orders that remain and disagree leave the cells `low`.
    """
    found = {h[2] for h, _ in raws}
    if found != {r.key for g in groups for r in g.rows} or sum(not raw.slots for _, raw in raws) < 2:
        return None
    slots = {s.span: s for _, raw in raws for s in raw.slots}
    for a in _article_positions(text, raws[0][0][0], end):
        nxt = next((s for s in stops if s > a), end)
        slots.update({s.span: s for s in cut_slots(text, a, nxt, grid_cells=grid_cells).slots})
    values = [slots[k] for k in sorted(slots)]
    if len(values) != sum(len(g.rows) * len(g.columns) for g in groups):
        if not any(len(raw.slots) > len(groups[h[3]].columns) for h, raw in raws):
            return None  # no row holds another's values: not a dump
        # Labels here, values there, and not one value per cell: no placement can be trusted.
        return {f"active_disclosure.{r.key}.{c.key}": Reading(
                    path=f"active_disclosure.{r.key}.{c.key}", value=None,
                    doubts=["values_apart_from_labels", "block_count_mismatch"])
                for g in groups for r in g.rows for c in g.columns}
    first_label = {gi: min(h[0] for h, _ in raws if h[3] == gi) for gi in range(len(groups))}
    readings: dict[str, Reading] = {}
    pos = 0
    for gi in sorted(first_label, key=lambda k: first_label[k]):
        g = groups[gi]
        m, n = len(g.rows), len(g.columns)
        chunk, pos = values[pos : pos + m * n], pos + m * n
        keys = [h[2] for h, _ in sorted(raws) if h[3] == gi]
        cols = [c.key for c in g.columns]
        orders = [_grid(chunk, m, n, column_major=cm) for cm in (True, False)]  # dumps list columns
        fit = [o for o in orders if _t2_fits(g, o)] or orders
        for r_idx, key in enumerate(keys):
            for j, c in enumerate(cols):
                path = f"active_disclosure.{key}.{c}"
                v, sp = fit[0][r_idx][j]
                alts = sorted({o[r_idx][j][0] for o in fit[1:]} - {v}, key=lambda x: (x is None, x or 0))
                doubts = ["values_apart_from_labels"]
                if alts:
                    doubts.append("several_readings_possible")
                if len(fit) < len(orders) and any(o[r_idx][j][0] != v for o in orders):
                    doubts.append("reading_unconfirmed")  # chosen by a sign or a decimal point only
                readings[path] = Reading(path=path, value=v, span=sp, doubts=doubts, alternatives=alts)
    return readings


def _t2_fits(group: Table2Group, grid: list[list[CellValue]]) -> bool:
    """No negative number outside a 本年增/减 column, no fraction outside an amount column."""
    for row in grid:
        for col, (v, _) in zip(group.columns, row, strict=True):
            if v is None:
                continue
            if v < 0 and col.key != "change":
                return False
            if isinstance(v, float) and not v.is_integer() and col.type != "decimal":
                return False
    return True


def _t2_plausibility(cols: Sequence[str], option: Sequence[CellValue]) -> tuple[int, int]:
    """Soft prior for glued table-2 rows: in force ≥ issued ≥ repealed; balanced widths."""
    vals = {c: v for c, (v, _) in zip(cols, option, strict=True)}
    penalty = 0
    if {"issued", "repealed", "in_force"} <= vals.keys():
        i, r, f = vals["issued"] or 0, vals["repealed"] or 0, vals["in_force"] or 0
        penalty += int(f < i) + int(r > i)
    widths = [len(str(v)) for v, _ in option if v is not None]
    return penalty, max(widths, default=0) - min(widths, default=0)


def _find_label(text: str, start: int, end: int, label: Label, taken: list[tuple[int, int]]) -> tuple[int, int] | None:
    best: tuple[int, int] | None = None
    for form in label.forms():
        pattern = r"\s*".join(re.escape(ch) for ch in form)
        for m in re.finditer(pattern, text[start:end]):
            s, e = start + m.start(), start + m.end()
            if any(ts <= s < te or ts < e <= te for ts, te in taken):
                continue
            # "规范性文件" inside "行政规范性文件" is the longer label's.
            if s > 0 and label.key == "normative_documents" and text[max(0, s - 2):s] == "行政":
                s -= 2
            if best is None or s < best[0]:
                best = (s, e)
            break
    return best


def _article_positions(text: str, start: int, end: int) -> list[int]:
    return [start + m.start() for m in re.finditer(r"第二十条|信息内容", text[start:end])]
