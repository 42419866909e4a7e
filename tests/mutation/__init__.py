"""The damage (mutation) suite: real and generated reports with one realistic damage at a time.

Each mutant knows the true value of every field after its damage. `check` runs the whole pipeline
on it and collects what breaks THE invariant (a wrong value at `high`), destroyed cells (whose
true value no careful reader could recover) that come back neither null nor low, wrong values at
`medium` (counted, not asserted), paths missing from the output, refusals and crashes.

Generated reports are damaged in the corpus's report model just before it is printed, so a
damaged cell or an added sentence is the only change from the clean rendering (the unit tests
check this; a deleted or repeated row re-prints its table, so later random print choices such as
trailing tabs may differ). Damage to the values themselves (digit_swap, plus_one, blank_cell) is
done on the values and works for every family, .docx and .pdf included. Real reports (evals/, text files) are
damaged in their normalized text, at the span where the clean extraction read a field right.
`python -m tests.mutation` is the full census; tests/test_mutation.py the CI subset.
"""

from __future__ import annotations

import json
import random
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import tests.corpus.render as corpus_render
from service.contract import Extraction, FieldResult
from service.errors import NianbaoError
from service.evaluate import values_equal
from service.pipeline import extract_bytes
from service.templates import table3_rows
from tests.corpus.render import FAMILIES, LOST_FAMILIES, Report, format_value, render
from tests.corpus.values import Value, Values, load_gold, other_subrows_printed, printed_cells
from tests.mutation import damage as dmg
from tests.test_properties import Case, Violation, violations

REPO = Path(__file__).resolve().parent.parent.parent
REAL = "real"
ALL_FAMILIES = (*FAMILIES, *LOST_FAMILIES, REAL)
BINARY_FAMILIES = ("docx", "pdf")
TABLE_SECTIONS = ("active_disclosure", "applications", "reviews_and_litigation")
ATTEMPTS = 60  # reports tried per mutant before the kind counts as not applicable (skipped)
TIMEOUT_S = 30  # one extraction; longer is a hang, counted as a crash
_BR = "\ue000"  # a line break inside an HTML cell, replaced by <br/> after printing
# Where the generated prose states each quantity (every phrasing tests/corpus prints has it).
_ANCHORS = {
    "narrative.active_disclosure_total": "主动公开政府信息",
    "narrative.applications_received": "政府信息公开申请",
    "narrative.policy_interpretations": "解读",
    "narrative.npc_suggestions": "人大代表建议",
    "narrative.cppcc_proposals": "政协委员提案",
}


def not_applicable(family: str, kind: str) -> str | None:
    """Why a family × kind pair is left out of the suite, or None when it runs."""
    if family in BINARY_FAMILIES and kind not in dmg.VALUE_KINDS:
        return "binary file: text-level damage skipped"
    if kind == "glued_drop_digit" and family not in ("glued", "glued2019", REAL):
        return "glued text only"
    return None


def pairs(families: list[str] | tuple[str, ...] = ALL_FAMILIES,
          kinds: list[str] | tuple[str, ...] = dmg.KINDS) -> list[tuple[str, str]]:
    return [(f, k) for f in families for k in kinds if not_applicable(f, k) is None]


@dataclass(frozen=True)
class Mutant:
    """One damaged report: its bytes, the truth after the damage and what was done."""

    family: str
    kind: str
    name: str
    data: bytes
    filename: str
    truth: Values
    destroyed: frozenset[str]
    path: str  # the damaged field (a row: its first cell; a prose kind: the narrative path or "")
    before: str  # as printed before the damage ("" for an insertion)
    after: str  # as printed after it
    case: Case | None = None  # generated reports: what the clean report is drawn from
    baseline: frozenset[str] = frozenset()  # fields the clean report already gets wrong: not checked

    def damage(self) -> str:
        return f"{self.path or '(prose)'}: {self.before!r} -> {self.after!r}"


# ------------------------------------------------------------------------------ generated


def _derive_other(values: Values) -> None:
    """(六)其他处理 printed as sub-rows has no row of its own: its cells are their sums."""
    if not other_subrows_printed(values):
        return
    for parent in {r.subrow_of for r in table3_rows() if r.subrow_of}:
        subs = [r.key for r in table3_rows() if r.subrow_of == parent]
        for p in [p for p in values if p.startswith(f"applications.{parent}.")]:
            col = p.rsplit(".", 1)[1]
            parts = [values.get(f"applications.{s}.{col}") for s in subs]
            values[p] = None if any(v is None for v in parts) else sum(
                v for v in parts if isinstance(v, int | float))


def _with_parents(paths: set[str], values: Values) -> frozenset[str]:
    """Destroyed cells plus the (六) cells that were their sums."""
    out = set(paths)
    if other_subrows_printed(values):
        parent_of = {r.key: r.subrow_of for r in table3_rows() if r.subrow_of}
        for p in paths:
            section, row, col = p.split(".")
            if section == "applications" and row in parent_of:
                out.add(f"applications.{parent_of[row]}.{col}")
    return frozenset(out)


def _pick(cells: list[tuple[str, str]], rng: random.Random, kind: str) -> tuple[str, str] | None:
    """A cell at random, four times in five among the non-zero ones when there are any (for a
    dropped digit: among those with several digits, so that the cell does not just vanish)."""
    if not cells:
        return None
    digits = 2 if kind == "glued_drop_digit" else 1
    wanted = [c for c in cells if sum(ch.isdigit() for ch in c[1]) >= digits
              and any(ch in "123456789" for ch in c[1])]
    return rng.choice(wanted if wanted and rng.random() < 0.8 else cells)


def render_edited(values: Values, case: Case, family: str,
                  edit: Callable[[Report], None]) -> tuple[bytes, str]:
    """`render` with `edit` applied to the report model between building and printing it.

    `render` has no hook for this, so its module's `build_report` is patched for the call: the
    file name, the seeded rng and every print choice stay exactly those of the clean rendering.
    """
    build = corpus_render.build_report

    def build_and_edit(values: Values, template: str, rng: random.Random) -> Report:
        report = build(values, template, rng)
        edit(report)
        return report

    with mock.patch.object(corpus_render, "build_report", build_and_edit):
        data, filename = render(values, case.template, family, seed=case.seed)
    return data.replace(_BR.encode(), b"<br/>"), filename


def _set_cell(path: str, text: str) -> Callable[[Report], None]:
    def edit(report: Report) -> None:
        cells = [c for b in report.blocks if b.grid for row in b.grid.rows for c in row if c.path == path]
        assert len(cells) == 1, f"{path} printed {len(cells)} times"
        cells[0].text = text
    return edit


def _edit_grid(name: str, change: Callable[[corpus_render.Grid], corpus_render.Grid]) -> Callable[[Report], None]:
    def edit(report: Report) -> None:
        for block in report.blocks:
            if block.grid and block.grid.name == name:
                block.grid = change(block.grid)
    return edit


def _append_to_para(anchor: str | None, index: int, sentence: str) -> Callable[[Report], None]:
    """Add a sentence to the first paragraph holding `anchor` (or to paragraph `index`)."""
    def edit(report: Report) -> None:
        paras = [b for b in report.blocks if b.kind == "para" and (anchor is None or anchor in b.text)]
        assert paras, f"no paragraph states {anchor}"
        paras[0 if anchor else index % len(paras)].text += sentence
    return edit


def _value_rows(values: Values, family: str) -> list[tuple[str, int, list[str]]]:
    """Every printed value row: (grid name, row index, its cells' paths). The grid structure
    does not depend on the rng. Table 4's one value row is left out where the printer shows its
    last row whatever it is (pdf_text, markdown): there, deleting it would print a header as values."""
    report = corpus_render.build_report(values, str(values["meta.template"]), random.Random(0))
    out = []
    for block in report.blocks:
        grid = block.grid
        if grid is None or (grid.name == "table4" and family in ("pdf_text", "markdown")):
            continue
        for r, row in enumerate(grid.rows):
            paths = [c.path for c in row if c.role == "value" and c.path]
            if paths:
                out.append((grid.name, r, paths))
    return out


def _in_glued_run(values: Values) -> set[str]:
    """Cells printed next to another printed number of their row: glued text runs them together."""
    report = corpus_render.build_report(values, str(values["meta.template"]), random.Random(0))
    out = set()
    for block in report.blocks:
        for row in block.grid.rows if block.grid else []:
            for i, cell in enumerate(row):
                near = row[max(i - 1, 0): i] + row[i + 1: i + 2]
                if cell.path and cell.text and any(n.role == "value" and n.text for n in near):
                    out.add(cell.path)
    return out


def _damage_generated(family: str, kind: str, case: Case, rng: random.Random, name: str) -> Mutant | None:
    values = case.values()
    truth = dict(values)
    destroyed: frozenset[str] = frozenset()
    if kind in dmg.VALUE_KINDS or kind in dmg.CELL_KINDS:
        br = _BR if family == "html" else "\n"
        spoil = {"line_break_in_number": lambda s, r: dmg.line_break_in_number(s, r, br),
                 "ocr_letters": lambda s, r: dmg.ocr_letters(s, r, "|" if family == "markdown" else ""),
                 }.get(kind, dmg.CELL_DAMAGES[kind])
        cells = [(p, format_value(values[p])) for p in printed_cells(values) if values.get(p) is not None]
        if kind == "glued_drop_digit":
            cells = [c for c in cells if c[0] in _in_glued_run(values)]
        chosen = _pick([c for c in cells if spoil(c[1], random.Random(0)) is not None], rng, kind)
        if chosen is None:
            return None
        path, before = chosen
        after = spoil(before, rng) or ""
        if kind in dmg.VALUE_KINDS:
            truth[path] = None if kind == "blank_cell" else dmg.parse_number(after)
            _derive_other(truth)
            data, filename = render(truth, case.template, family, seed=case.seed)
        else:
            if kind == "glued_drop_digit":
                destroyed = _with_parents({path}, values)
            data, filename = render_edited(values, case, family, _set_cell(path, after))
        after = after.replace(_BR, "<br/>")
    elif kind in dmg.ROW_KINDS:
        grid, r, paths = rng.choice(_value_rows(values, family))
        change = dmg.delete_row if kind == "delete_row" else dmg.duplicate_row
        path, before = paths[0], " ".join(format_value(values[p]) for p in paths)
        after = f"{before} / {before}"
        if kind == "delete_row":
            destroyed = _with_parents(set(paths), values)
            truth.update({p: None for p in paths})
            after = ""
        data, filename = render_edited(values, case, family, _edit_grid(grid, lambda g: change(g, r)))
    elif kind == "contradicting_prose":
        stated = [p for p in dmg.CLAIMS if type(values.get(p)) is int]
        if not stated:
            return None
        path = rng.choice(stated)
        before = format_value(values[path])
        after = dmg.claim(path, dmg.contradicting_number(int(before), rng))
        data, filename = render_edited(values, case, family, _append_to_para(_ANCHORS[path], 0, after))
        destroyed = frozenset({path})
    else:
        assert kind == "injected_instruction", kind
        path, before, after = "", "", dmg.INJECTION
        data, filename = render_edited(values, case, family, _append_to_para(None, rng.randrange(1000), after))
    return Mutant(family, kind, name, data, filename, truth, destroyed, path, before, after, case,
                  clean_failures(family, case))


@cache
def clean_failures(family: str, case: Case) -> frozenset[str]:
    """Fields the undamaged report already breaks the invariant on (tests/test_properties.py's
    business, and fields the corpus does not know): left out, so that counts measure the damage."""
    values = case.values()
    data, filename = render(values, case.template, family, seed=case.seed)
    try:
        with _deadline(TIMEOUT_S):
            extraction = extract_bytes(data, filename)[1]
    except Exception:  # unreadable when clean: nothing the damage did can be measured
        return frozenset(values)
    return frozenset(v.path for v in violations(values, extraction))


def generated_mutant(family: str, kind: str, index: int) -> Mutant | None:
    """Mutant `index` of a family × kind (reproducible); None when no report drawn could take it."""
    rng = random.Random(f"mutation:{family}:{kind}:{index}")
    for _ in range(ATTEMPTS):
        case = Case(rng.randrange(2**32), rng.choice(("2021", "2019")), rng.random() < 0.5,
                    rng.choice((0, 0, 0, 1, 2)))
        mutant = _damage_generated(family, kind, case, rng, f"{family}-{kind}-{index}")
        if mutant is not None:
            return mutant
    return None


# ------------------------------------------------------------------------------ real reports


@dataclass(frozen=True)
class RealReport:
    """A hand-labelled text report: its normalized text, the gold values, the clean extraction."""

    name: str
    text: str
    truth: Values
    fields: dict[str, FieldResult]
    baseline: frozenset[str]  # fields the clean report already gets wrong (not low)

    def right(self, path: str) -> bool:
        f = self.fields.get(path)
        return f is not None and values_equal(path, f.value, self.truth.get(path))

    def cells(self) -> list[tuple[str, tuple[int, int]]]:
        """Table cells read right whose span holds exactly their printed number, alone."""
        spans = {p: f.span for p, f in self.fields.items() if f.span}
        skip: set[str] = set()
        if other_subrows_printed(self.truth) and any(  # (六) and its sub-rows: which is derived?
                v is not None for p, v in self.truth.items() if ".other_total." in p):
            skip = {k for r in table3_rows() if r.subrow_of for k in (r.key, r.subrow_of)}
        out = []
        for path, span in spans.items():
            section, row = path.split(".")[:2]
            if section not in TABLE_SECTIONS or row in skip or not self.right(path):
                continue
            if any(q != path and s[0] < span[1] and span[0] < s[1] for q, s in spans.items()):
                continue
            try:
                if dmg.parse_number(self.text[span[0]:span[1]]) == self.truth[path]:
                    out.append((path, span))
            except ValueError:
                continue
        return out

    def glued(self, span: tuple[int, int]) -> bool:
        """The number touches another digit: a run of glued cells."""
        a, b = span
        return (a > 0 and self.text[a - 1].isdigit()) or (b < len(self.text) and self.text[b].isdigit())


@cache
def real_reports() -> tuple[RealReport, ...]:
    """The seeds and dev reports that are text files (the .pdf cannot be damaged as text)."""
    out = []
    for gold in sorted((REPO / "evals" / "gold").glob("*/*.json")):
        document = REPO / "evals" / "docs" / gold.parent.name / json.loads(gold.read_text("utf-8"))["document"]
        if document.suffix.lower() not in (".txt", ".md", ".html", ".htm"):
            continue
        text = extract_bytes(document.read_bytes(), document.name)[0].text
        doc, extraction = extract_bytes(text.encode("utf-8"), document.name)
        if doc.text != text:  # normalization is idempotent; if that ever breaks, spans would lie
            raise AssertionError(f"{document.name}: re-reading the normalized text changes it")
        truth = load_gold(gold)
        baseline = frozenset(v.path for v in violations(truth, extraction))
        out.append(RealReport(document.stem, text, truth, {f.path: f for f in extraction.fields}, baseline))
    return tuple(out)


def _row_extent(rep: RealReport, paths: list[str]) -> tuple[int, int] | None:
    """The lines printing one table row (label and values) and nothing else read, or None."""
    spans = [rep.fields[p].span for p in paths]
    if any(s is None for s in spans):
        return None
    starts = [s[0] for s in spans if s]
    ends = [s[1] for s in spans if s]
    a, b = dmg.line_extent(rep.text, min(starts), max(ends))
    others = [f.span for p, f in rep.fields.items() if f.span and p not in paths]
    if "\n" in rep.text[min(starts):max(ends)]:  # one cell per line: the label lines above
        while a > 0:
            prev = dmg.line_extent(rep.text, a - 1, a - 1)
            if not rep.text[prev[0]:prev[1]].strip() or any(prev[0] <= s[0] < prev[1] for s in others):
                break
            a = prev[0]
    if any(a <= s[0] < b or a < s[1] <= b for s in others):
        return None
    return (a, b) if sum("\u4e00" <= c <= "\u9fff" for c in rep.text[a:b]) >= 2 else None


def _damage_real(rep: RealReport, kind: str, rng: random.Random, name: str) -> Mutant | None:
    text, truth = rep.text, dict(rep.truth)
    destroyed: frozenset[str] = frozenset()
    cells = rep.cells()
    if kind in dmg.VALUE_KINDS or kind in dmg.CELL_KINDS:
        def spoil(printed: str, span: tuple[int, int], r: random.Random) -> str | None:
            if kind == "blank_cell":
                return dmg.blank_cell(printed, r, "" if rep.glued(span) else "-")
            if kind == "glued_drop_digit" and not rep.glued(span):
                return None
            if kind == "ocr_letters":
                line = dmg.line_extent(text, span[0], span[1])
                return dmg.ocr_letters(printed, r, "|" if "|" in text[line[0]:line[1]] else "")
            return dmg.CELL_DAMAGES[kind](printed, r)
        where = dict(cells)
        eligible = [(p, text[s[0]:s[1]]) for p, s in cells
                    if spoil(text[s[0]:s[1]], s, random.Random(0)) is not None]
        chosen = _pick(eligible, rng, kind)
        if chosen is None:
            return None
        path, before = chosen
        after = spoil(before, where[path], rng) or ""
        if kind in ("digit_swap", "plus_one"):
            truth[path] = dmg.parse_number(after)
        elif kind == "blank_cell":
            truth[path] = None
        elif kind == "glued_drop_digit":
            destroyed = frozenset({path})
        new = dmg.splice(text, where[path], after)
    elif kind in dmg.ROW_KINDS:
        right = {p for p, _ in cells}
        rows: dict[str, list[str]] = {}
        for p in truth:
            if p.split(".")[0] in TABLE_SECTIONS:
                rows.setdefault(p.rsplit(".", 1)[0], []).append(p)
        whole = [ps for ps in rows.values() if set(ps) <= right]
        extents = [(ps, e) for ps in whole if (e := _row_extent(rep, ps))]
        if not extents:
            return None
        paths, extent = rng.choice(extents)
        path, before, after = paths[0], text[extent[0]:extent[1]], ""
        if kind == "delete_row":
            destroyed = frozenset(paths)
            truth.update({p: None for p in paths})
            new = dmg.delete_extent(text, extent)
        else:
            after = before * 2
            new = dmg.duplicate_extent(text, extent)
    elif kind == "contradicting_prose":
        stated = [p for p in dmg.CLAIMS if type(truth.get(p)) is int and rep.right(p) and rep.fields[p].span]
        if not stated:
            return None
        path = rng.choice(stated)
        span = rep.fields[path].span
        assert span is not None and isinstance(truth[path], int)
        before, after = text[span[0]:span[1]], dmg.claim(path, dmg.contradicting_number(int(truth[path] or 0), rng))
        new = dmg.insert(text, dmg.sentence_end(text, span[1]), after)
        destroyed = frozenset({path})
    else:
        assert kind == "injected_instruction", kind
        table = [s for _, s in cells] or [(0, 0)]
        lo, hi = min(s[0] for s in table), max(s[1] for s in table)
        stops = [i + 1 for i, c in enumerate(text) if c == "。" and not lo <= i < hi]
        if not stops:
            return None
        path, before, after = "", "", dmg.INJECTION
        new = dmg.insert(text, rng.choice(stops), after)
    return Mutant(REAL, kind, name, new.encode("utf-8"), f"{rep.name}.txt", truth, destroyed, path,
                  before, after, baseline=rep.baseline)


def real_mutant(kind: str, index: int) -> Mutant | None:
    """Mutant `index` of a kind on the real reports, taking them in turn."""
    reports = real_reports()
    rng = random.Random(f"mutation:{REAL}:{kind}:{index}")
    for k in range(len(reports)):
        rep = reports[(index + k) % len(reports)]
        mutant = _damage_real(rep, kind, rng, f"{REAL}-{rep.name}-{kind}-{index}")
        if mutant is not None:
            return mutant
    return None


# ------------------------------------------------------------------------------ the check


@dataclass
class Outcome:
    """What the reader made of one mutant."""

    family: str
    kind: str
    name: str
    damage: str
    wrong_high: list[Violation] = field(default_factory=list)
    wrong_medium: list[Violation] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    destroyed_not_low: list[Violation] = field(default_factory=list)
    refused: str | None = None
    crashed: str | None = None
    baseline: tuple[str, ...] = ()  # fields left unchecked: the clean report already fails them
    data: bytes = b""  # the damaged file, kept only when something failed
    filename: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.wrong_high or self.wrong_medium or self.missing or self.destroyed_not_low
                    or self.refused or self.crashed)

    def lines(self) -> list[str]:
        """One line per failure: family, kind, path, true value, value read, level."""
        head = f"{self.family} {self.kind} [{self.name}; {self.damage}]"
        out = [f"{head}: refused: {self.refused}"] if self.refused else []
        out += [f"{head}: crashed: {self.crashed}"] if self.crashed else []
        out += [f"{head}: {v.path}: true {v.expected!r}, read {v.got!r} ({v.level})"
                for v in self.wrong_high + self.wrong_medium]
        out += [f"{head}: destroyed {v.path}: read {v.got!r} ({v.level})" for v in self.destroyed_not_low]
        out += [f"{head}: {p} missing from the output" for p in self.missing]
        return out

    def to_json(self) -> dict[str, Any]:
        def vs(found: list[Violation]) -> list[dict[str, Any]]:
            return [{"path": v.path, "true": v.expected, "read": v.got, "level": v.level} for v in found]
        return {"family": self.family, "kind": self.kind, "name": self.name, "damage": self.damage,
                "file": self.filename, "wrong_high": vs(self.wrong_high),
                "wrong_medium": vs(self.wrong_medium), "destroyed_not_low": vs(self.destroyed_not_low),
                "missing": self.missing, "refused": self.refused, "crashed": self.crashed,
                "unchecked_clean_failures": self.baseline}


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise TimeoutError after `seconds` (main thread on Unix only; elsewhere no limit)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check(mutant: Mutant) -> Outcome:
    """Run the pipeline on a mutant and compare every field with the truth after the damage."""
    out = Outcome(mutant.family, mutant.kind, mutant.name, mutant.damage(), baseline=tuple(sorted(mutant.baseline)))
    extraction: Extraction | None = None
    try:
        with _deadline(TIMEOUT_S):
            extraction = extract_bytes(mutant.data, mutant.filename)[1]
    except NianbaoError as exc:
        out.refused = exc.reason
    except Exception as exc:  # a traceback is a failure of its own, not the end of the census
        out.crashed = f"{type(exc).__name__}: {exc}"
    if extraction is not None:
        expected = {p: v for p, v in mutant.truth.items()
                    if p not in mutant.destroyed and p not in mutant.baseline}
        found = violations(expected, extraction)
        out.wrong_high = [v for v in found if v.level == "high"]
        out.wrong_medium = [v for v in found if v.level == "medium"]
        out.missing = [v.path for v in found if v.level == "missing"]
        fields = {f.path: f for f in extraction.fields}
        for path in sorted(mutant.destroyed - mutant.baseline):
            got = fields.get(path)
            if got is None:
                out.missing.append(path)
            elif got.value is not None and got.level != "low":
                out.destroyed_not_low.append(Violation(path, _destroyed(mutant.truth.get(path)), got.value, got.level))
    if out.failed:
        out.data, out.filename = mutant.data, mutant.filename
    return out


def _destroyed(value: Value) -> Value:
    """How a destroyed cell's truth shows in a report: unknown (what was printed before, if any)."""
    return f"unknown (was {value!r})"


def run_one(family: str, kind: str, index: int) -> Outcome | None:
    """Build and check mutant `index` of a pair; None when the kind found nothing to damage."""
    mutant = real_mutant(kind, index) if family == REAL else generated_mutant(family, kind, index)
    return None if mutant is None else check(mutant)
