"""Readings as a constraint problem: enumerate the ways a layout can be read, let the rules choose.

A glued digit run (`640020470`) is split into cells every way that yields valid numbers; each
candidate row is then kept only if its own total holds. Whole-table choices (which candidate of
each ambiguous row, column-major vs row-major, where unlabeled rows go) are then searched
against every consistency equation. Both searches are bounded by a step budget; running out of
budget is recorded as a doubt, never hidden.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from service.checks import equation_sides, holds
from service.document import Span
from service.parse.rows import Slot
from service.templates import Equation

CellValue = tuple[int | float | None, Span | None]
Row = list[CellValue]
SumGroup = tuple[int, Sequence[int]]  # (index of the total, indices of the parts)

SPLIT_STEP_BUDGET = 200_000
MAX_ROW_OPTIONS = 64
MAX_LOOSE_OPTIONS = 8  # readings kept when no split satisfies the row's totals
TABLE_STEP_BUDGET = 300_000
MAX_CELL_CHARS = 12  # no count in these tables has more digits; amounts carry a few decimals


def to_number(text: str, decimal: bool = False) -> int | float | None:
    """A cell's clean digits as a number; None for nothing, or for more digits than any cell has."""
    if not text or (len(text) > MAX_CELL_CHARS and len(text.lstrip("-").replace(".", "")) > MAX_CELL_CHARS):
        return None
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return None


def too_long(slot: Slot) -> bool:
    """More digits than any cell has; the plain length bounds the digit count, so most slots are
    cleared without building the stripped copy (asked for every slot of every row)."""
    return not slot.blank and len(slot.text) > MAX_CELL_CHARS and len(
        slot.text.lstrip("-").replace(".", "")) > MAX_CELL_CHARS


def _damaged(slot: Slot) -> Slot:
    """A token longer than any cell allows: no value, and a repair record that makes it a finding."""
    return replace(slot, text="", blank=True, repairs=(*slot.repairs, (slot.span[0], "cell_token_too_long")))


MAX_JOIN_OPTIONS = 64


def _cut_by_line(values: Sequence[Slot], k: int) -> bool:
    """A line break stands between numbers k-1 and k with no cell delimiter before it."""
    return values[k].line_start and not values[k - 1].closed


def _rejoined_splits(
    values: Sequence[Slot], trailing: Sequence[Slot], n: int, groups: Sequence[SumGroup],
    decimal_cells: frozenset[int], signed_cells: frozenset[int],
) -> list[Row]:
    """Readings of a row in which a line break cut a number (`-1⏎2` is -12): the two sides joined,
    the run split again into n cells (a blank after the values completing the row). Only in
    glued text, or where a line of the row holds several numbers: one number a line is a layout
    of its own, not a cut."""
    lines: list[int] = []
    for s in values:
        if s.line_start or not lines:
            lines.append(0)
        lines[-1] += not s.blank
    if max(lines, default=0) < 2 and not any(
            s.after_label or s.glued or not _valid_part(s.text, True, True) for s in values if not s.blank):
        return []  # one number a line, none glued
    out: list[Row] = []
    for k in range(1, len(values)):
        if values[k].blank or values[k - 1].blank or not _cut_by_line(values, k):
            continue
        prev = values[k - 1]
        merged = [*values[: k - 1], replace(prev, text=prev.text + values[k].text, span=(prev.span[0], values[k].span[1])),
                  *values[k + 1 :]]
        if len(merged) < n:
            # A blank after the values completes the row: printed, or vanished with the layout.
            filled = [slot_value(s, i in decimal_cells) for i, s in enumerate([*merged, *trailing][:n])]
            out.append(filled + [(None, None)] * (n - len(filled)))
        out += _split_slots(merged, n, groups, decimal_cells, signed_cells).options
    return out


def _join_options(values: Sequence[Slot], n: int, decimal_cells: frozenset[int]) -> list[Row]:
    """Readings of a row with more numbers than cells where a line break (or a space) cut a
    number in two: adjacent numbers not parted by a cell delimiter joined back, n cells in all."""
    joinable = [k for k in range(1, len(values))
                if not values[k].blank and not values[k - 1].blank
                and not values[k].text.startswith("-")
                and (_cut_by_line(values, k) or not values[k].piece_start)]
    need = len(values) - n
    out: list[Row] = []
    if need <= 0 or len(joinable) < need:
        return out
    for joins in itertools.islice(itertools.combinations(joinable, need), MAX_JOIN_OPTIONS):
        merged: list[Slot] = []
        for k, slot in enumerate(values):
            if k in joins:
                prev = merged[-1]
                merged[-1] = replace(prev, text=prev.text + slot.text, span=(prev.span[0], slot.span[1]))
            else:
                merged.append(slot)
        out.append([slot_value(s, i in decimal_cells) for i, s in enumerate(merged)])
    return out


def _valid_part(part: str, decimal: bool, signed: bool) -> bool:
    body = part[1:] if signed and part.startswith("-") else part
    if not body or "-" in body:
        return False
    if "." in body:
        if not decimal or body.count(".") > 1 or body.startswith(".") or body.endswith("."):
            return False
        whole = body.split(".")[0]
        return whole == "0" or not whole.startswith("0")
    return body == "0" or not body.startswith("0")


@dataclass
class SplitResult:
    splits: list[list[tuple[str, int]]]  # each cell: (text, offset into the run)
    truncated: bool = False


def split_run(
    run: str,
    n: int,
    *,
    cuts: frozenset[int] = frozenset(),
    groups: Sequence[SumGroup] = (),
    decimal_cells: frozenset[int] = frozenset(),
    signed_cells: frozenset[int] = frozenset(),
    max_results: int = MAX_ROW_OPTIONS,
    budget: int = SPLIT_STEP_BUDGET,
) -> SplitResult:
    """Every split of `run` into `n` valid numbers, cutting at every position in `cuts`.

    A group's total is not enumerated but computed from its parts and checked against the
    digits that follow, which keeps long rows tractable; `budget` bounds the search anyway.
    """
    total_of = {t: list(parts) for t, parts in groups}
    results: list[list[tuple[str, int]]] = []
    steps = 0
    truncated = False
    length = len(run)
    must = sorted(cuts)

    def rec(pos: int, idx: int, acc: list[tuple[str, int]]) -> None:
        nonlocal steps, truncated
        if truncated:
            return
        if len(results) >= max_results:
            truncated = True  # more readings may exist than we keep
            return
        steps += 1
        if steps > budget or (steps % 4096 == 0 and past_deadline()):
            truncated = True
            return
        if idx == n:
            if pos == length:
                results.append(list(acc))
            return
        cells_left = n - idx
        if length - pos < cells_left:
            return
        next_cut = next((c for c in must if c > pos), length)
        if idx in total_of:
            parts = [acc[i][0] for i in total_of[idx]]
            if any(not p for p in parts):
                return
            try:
                expected = sum(to_number(p) or 0 for p in parts)
            except ValueError:
                return
            text = _format(expected)
            if run.startswith(text, pos) and pos + len(text) <= next_cut:
                acc.append((text, pos))
                rec(pos + len(text), idx + 1, acc)
                acc.pop()
            return
        max_len = next_cut - pos
        if next_cut == length:
            max_len = length - pos - (cells_left - 1)
        for size in range(1, min(max_len, MAX_CELL_CHARS) + 1):
            part = run[pos : pos + size]
            if not _valid_part(part, idx in decimal_cells, idx in signed_cells):
                if part.startswith("0") and part != "0" and not part.endswith("."):
                    break  # a longer part would keep its leading zero
                continue
            end = pos + size
            if end < next_cut and cells_left == 1:
                continue
            acc.append((part, pos))
            rec(end, idx + 1, acc)
            acc.pop()

    rec(0, 0, [])
    return SplitResult(results, truncated)


def _format(value: float | int) -> str:
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(round(value, 6))
    return str(value)


@dataclass
class RowOptions:
    options: list[Row]
    doubts: list[str] = field(default_factory=list)
    extra: list[Slot] = field(default_factory=list)


def row_options(
    slots: Sequence[Slot],
    leading: Sequence[Slot],
    trailing: Sequence[Slot],
    n: int,
    *,
    groups: Sequence[SumGroup] = (),
    decimal_cells: frozenset[int] = frozenset(),
    signed_cells: frozenset[int] = frozenset(),
) -> RowOptions:
    """The readings a row's slots admit for a template row of `n` cells."""
    values = list(slots)
    if len(values) >= n:
        values = [_damaged(s) if too_long(s) else s for s in values]
    if len(values) == n:
        printed = [slot_value(s, i in decimal_cells) for i, s in enumerate(values)]
        glued = ["glued_digits_split"] if any(s.glued for s in values) else []
        rejoined = [r for r in _rejoined_splits(values, trailing, n, groups, decimal_cells, signed_cells)
                    if [v for v, _ in r] != [v for v, _ in printed]]
        if not rejoined:
            return RowOptions([printed], doubts=glued)
        if groups:
            # The totals decide where they can be checked; a reading that leaves them unknown
            # (a blank put back) is no better than one they confirm.
            for verdict in (True, None):
                holding = [r for r in [printed, *rejoined] if _groups_hold(r, groups) is verdict]
                if holding == [printed]:
                    return RowOptions([printed], doubts=glued)
                if len(holding) == 1:
                    return RowOptions(holding, doubts=[*glued, "number_rejoined"])
                if holding:
                    break
        return RowOptions([printed, *rejoined], doubts=[*glued, "line_break_may_cut_number"])
    if len(values) > n:
        printed = [slot_value(s, i in decimal_cells) for i, s in enumerate(values[:n])]
        joins = _join_options(values, n, decimal_cells)
        if groups and joins and _groups_hold(printed, groups) is not True:
            holding = [j for j in joins if _groups_hold(j, groups) is True]
            if holding:
                # The row's total holds once a number cut by a line break is joined back.
                return RowOptions(holding, doubts=["number_rejoined"])
        if joins:
            return RowOptions([printed, *joins], doubts=["extra_or_broken_number"], extra=values[n:])
        if any(s.blank and not s.marker for s in values):
            # An empty cell among the numbers of an overfull row: a misread cell (`| | |` for
            # `| 1 |`) as likely as an extra one.
            return RowOptions([printed], doubts=["extra_or_broken_number"], extra=values[n:])
        return RowOptions([printed], extra=values[n:])
    need = n - len(values)
    candidates: list[Row] = []
    doubts: list[str] = []
    # (a) blanks adjacent to the values complete the row.
    for take_lead in range(need + 1):
        take_trail = need - take_lead
        if take_lead <= len(leading) and take_trail <= len(trailing):
            filled = [*leading[len(leading) - take_lead :], *values, *trailing[:take_trail]]
            candidates.append([slot_value(s, i in decimal_cells) for i, s in enumerate(filled)])
    # (b) glued digits split into more cells.
    if any(not s.blank for s in values):
        split = _split_slots(values, n, groups, decimal_cells, signed_cells)
        if not split.options and groups:
            # No split satisfies the totals: a printed total may be wrong. Keep the splits
            # closest to satisfying them; the cells stay in doubt and the checks report it.
            loose = _split_slots(values, n, (), decimal_cells, signed_cells, max_results=2000)
            ranked = sorted(loose.options, key=lambda row: _discrepancy(row, groups))
            split = _Split(ranked[:MAX_LOOSE_OPTIONS], loose.truncated)
        if split.truncated:
            doubts.append("split_search_truncated")
        candidates.extend(split.options)
        if split.options:
            doubts.append("glued_digits_split")
    if not candidates and any(not s.blank for s in values):
        vanished = _vanished_blank_options(values, n, groups, decimal_cells, signed_cells)
        if vanished:
            return RowOptions(vanished, doubts=["blank_may_have_vanished", "glued_digits_split"])
    if not candidates:
        padded: Row = [slot_value(s, i in decimal_cells) for i, s in enumerate(values)]
        padded += [(None, None)] * need
        return RowOptions([padded], doubts=["row_short_of_cells"])
    if groups:
        holding = [c for c in candidates if _groups_hold(c, groups) is not False]
        if holding:
            candidates = holding
        else:
            doubts.append("no_split_satisfies_row_total")
    unique: list[Row] = []
    for c in candidates:
        if all([v for v, _ in c] != [v for v, _ in u] for u in unique):
            unique.append(c)
    return RowOptions(unique[:MAX_ROW_OPTIONS], doubts=doubts)


@dataclass
class _Split:
    options: list[Row]
    truncated: bool


MAX_VANISHED_BLANKS = 2


def _vanished_blank_options(
    values: Sequence[Slot], n: int, groups: Sequence[SumGroup],
    decimal_cells: frozenset[int], signed_cells: frozenset[int],
) -> list[Row]:
    """Glued digits too few for the row: a blank cell printed as nothing vanished from the run.
    Split into fewer cells and put the blanks back at every place; keep the readings closest to
    the row's totals. Every such reading is in doubt."""
    for k in range(1, MAX_VANISHED_BLANKS + 1):
        near = {j - d for j in decimal_cells for d in range(k + 1)}
        signed = {j - d for j in signed_cells for d in range(k + 1)}
        split = _split_slots(values, n - k, (), frozenset(near), frozenset(signed), max_results=200)
        rows: list[Row] = []
        for short in split.options:
            for where in itertools.combinations(range(n), k):
                cells = iter(short)
                rows.append([(None, None) if i in where else next(cells) for i in range(n)])
                if len(rows) >= 2000:
                    break
        if rows:
            ranked = sorted(rows, key=lambda row: _discrepancy(row, groups))
            return ranked[:MAX_LOOSE_OPTIONS]
    return []


def _discrepancy(row: Row, groups: Sequence[SumGroup]) -> tuple[int, float]:
    """(groups failing, total distance): how far a reading is from satisfying its totals."""
    failing, distance = 0, 0.0
    for total, parts in groups:
        t = row[total][0]
        vals = [row[i][0] for i in parts]
        if t is None or any(v is None for v in vals):
            continue
        gap = abs(t - sum(v for v in vals if v is not None))
        failing += gap > 1e-6
        distance += gap
    return failing, distance


def _split_slots(
    values: Sequence[Slot],
    n: int,
    groups: Sequence[SumGroup],
    decimal_cells: frozenset[int],
    signed_cells: frozenset[int],
    max_results: int = MAX_ROW_OPTIONS,
) -> _Split:
    """Split the numeric slots (blanks stay single empty cells) into n cells."""
    run = ""
    offsets: list[tuple[int, Slot]] = []
    cuts: set[int] = set()
    for s in values:
        if s.blank:
            return _Split([], False)  # a delimited row with blanks is not glued
        if run:
            cuts.add(len(run))
        offsets.append((len(run), s))
        run += s.text
    res = split_run(run, n, cuts=frozenset(cuts), groups=groups, decimal_cells=decimal_cells,
                    signed_cells=signed_cells, max_results=max_results)
    rows: list[Row] = []
    for split in res.splits:
        row: Row = []
        for i, (text, off) in enumerate(split):
            base, slot = max(((b, s) for b, s in offsets if b <= off), key=lambda x: x[0])
            assert slot.span is not None
            start = slot.span[0] + (off - base)
            row.append((to_number(text, i in decimal_cells), (start, start + len(text))))
        rows.append(row)
    return _Split(rows, res.truncated)


def slot_value(slot: Slot, decimal: bool = False) -> CellValue:
    """A slot as a cell: a blank keeps its span and reads None."""
    if slot.blank:
        return (None, slot.span)
    return (to_number(slot.text, decimal), slot.span)


def _groups_hold(row: Row, groups: Sequence[SumGroup]) -> bool | None:
    verdict: bool | None = True
    for total, parts in groups:
        vals = [row[i][0] for i in parts]
        t = row[total][0]
        if t is None or any(v is None for v in vals):
            verdict = None
            continue
        if abs(t - sum(v for v in vals if v is not None)) > 1e-6:
            return False
    return verdict


# ---- whole-table choice -------------------------------------------------------------------

Assignment = dict[str, CellValue]  # field path → value


@dataclass
class Choice:
    """A decision with several options; each option assigns values to a set of paths."""

    name: str
    options: list[Assignment]


@dataclass
class Solution:
    assignment: Assignment
    consistent: bool
    ambiguous_paths: dict[str, list[int | float | None]]  # path → the other values admitted
    truncated: bool = False


class _Values(Mapping[str, "int | float | None"]):
    """Cell values during the search; a derived path (a sum of printed sub-rows) is computed."""

    def __init__(self, base: dict[str, int | float | None], derived: Mapping[str, Sequence[str]]) -> None:
        self.base = base
        self.derived = derived

    def __getitem__(self, path: str) -> int | float | None:
        parts = self.derived.get(path)
        if parts is None:
            return self.base[path]
        vals = [self.base.get(p) for p in parts]
        return None if any(v is None for v in vals) else sum(v for v in vals if v is not None)

    def get(self, path: str, default: object = None) -> Any:
        if path not in self.derived:  # the common case, one look-up (the search's inner loop)
            return self.base.get(path, default)
        return self[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)


def solve(
    fixed: Assignment,
    choices: Sequence[Choice],
    eqs: Sequence[Equation],
    derived: Mapping[str, Sequence[str]] | None = None,
) -> Solution:
    """Pick one option per choice so that the equations hold; report cells left undecided.

    A depth-first search that checks each equation as soon as its last cell is assigned, so a
    failing prefix is cut once instead of once per combination; every holding reading is found
    (an ambiguity is never hidden by a cap), bounded by a step budget and the reader's deadline.
    """
    derived = derived or {}
    values: dict[str, int | float | None] = {p: v for p, (v, _) in fixed.items()}
    # With nothing derived the view is the dict itself: every rule check reads it directly.
    view: Mapping[str, int | float | None] = _Values(values, derived) if derived else values
    level_of: dict[str, int] = {}
    for i, choice in enumerate(choices):
        for opt in choice.options:
            for path in opt:
                level_of[path] = i
    at_level: list[list[Equation]] = [[] for _ in choices]
    always: list[Equation] = []
    for eq in eqs:
        cells = (*eq.lhs, *eq.rhs)
        deps = [d for p in cells for d in derived.get(p, [p])] if derived else cells
        level = max([level_of.get(d, -1) for d in deps], default=-1)
        (always if level < 0 else at_level[level]).append(eq)
    base_failed = sum(_fails(view, eq) for eq in always)

    picked: list[int] = [0] * len(choices)
    first_holding: tuple[int, ...] | None = None
    best: tuple[int, tuple[int, ...]] | None = None
    holding_values: dict[str, set[int | float | None]] = {}
    steps = 0
    truncated = False

    def visit(level: int, failed: int) -> None:
        nonlocal first_holding, best, steps, truncated
        if level == len(choices):
            combo = tuple(picked)
            if failed == 0:
                first_holding = first_holding or combo
                for choice, k in zip(choices, combo, strict=True):
                    for path, (v, _) in choice.options[k].items():
                        holding_values.setdefault(path, set()).add(v)
            if best is None or failed < best[0]:
                best = (failed, combo)
            return
        for k, option in enumerate(choices[level].options):
            steps += 1
            if steps > TABLE_STEP_BUDGET or (steps % 1024 == 0 and past_deadline()):
                truncated = True
                return
            for path, (v, _) in option.items():
                values[path] = v
            now = failed + sum(_fails(view, eq) for eq in at_level[level])
            # Once a holding reading exists only holding ones matter; until then, the closest.
            if now == 0 or (first_holding is None and (best is None or now < best[0])):
                picked[level] = k
                visit(level + 1, now)
            if truncated:
                return

    if choices:
        visit(0, base_failed)
    combo = first_holding or (best[1] if best else tuple(0 for _ in choices))
    assignment = dict(fixed)
    for choice, k in zip(choices, combo, strict=True):
        assignment.update(choice.options[k])
    if not choices:
        return Solution(assignment, base_failed == 0, {})
    if first_holding is None:
        # No reading satisfies the rules: every option of every choice stays in doubt.
        holding_values = {}
        for choice in choices:
            for opt in choice.options:
                for path, (v, _) in opt.items():
                    holding_values.setdefault(path, set()).add(v)
    ambiguous: dict[str, list[int | float | None]] = {}
    for path, seen in holding_values.items():
        others = [v for v in seen if v != assignment[path][0]]
        if others:
            ambiguous[path] = sorted(others, key=lambda x: (x is None, x or 0))
    return Solution(assignment, first_holding is not None, ambiguous, truncated)


def _fails(values: Mapping[str, Any], eq: Equation) -> bool:
    sides = equation_sides(values, eq)
    return sides is not None and not holds(sides)


# ---- the reader's deadline ------------------------------------------------------------------

_DEADLINE: ContextVar[float | None] = ContextVar("nianbao_read_deadline", default=None)
READ_SECONDS = 1.0  # the searches of one extraction; beyond it, undecided cells are low


def past_deadline() -> bool:
    at = _DEADLINE.get()
    return at is not None and time.monotonic() > at


@contextmanager
def deadline(seconds: float = READ_SECONDS) -> Iterator[None]:
    """Bound every search of one extraction: a slow document is read with its cells in doubt,
    never allowed to stall a worker."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


