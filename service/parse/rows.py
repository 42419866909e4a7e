"""Find template row labels in a table region and cut the text between them into value slots.

Works on the normalized text of every text family (tab rows, one cell per line, glued crawler
text, PDF dumps, markdown), because it anchors on the template's labels instead of on layout.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cache, lru_cache
from itertools import accumulate

from service.document import Span
from service.templates import (
    Label,
    blank_markers,
    compact,
    ocr_digit_confusions,
    strip_numbering,
)

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
PAGE_FOOTER = re.compile(r"(?m)^[ \t]*[-—–]\s*\d{1,3}\s*[-—–][ \t]*$")
_CELL_DELIMS = re.compile(r"[\t|]")
_TAB = re.compile(r"\t")
_NOTHING = re.compile(r"(?!)")
_KEPT_RUN = re.compile(r"[^\s|]+")  # `\s` is exactly str.isspace
_PIPE_DIGIT = re.compile(r"\|(?=\d)")
_PIPE_SPACE = re.compile(r"\|(?=\s)")
_DIGIT = re.compile(r"\d")
_NUMBERING = re.compile(r"\d{1,2}\s*[.、．]\s*[\u4e00-\u9fff(（]")
_NUMBER_THEN_CJK = re.compile(r"-?\d+(?:\.\d+)?[.、]?\s*[\u4e00-\u9fff]")
OUT_OF_ORDER_REACH = 120  # compact chars a label may stand after the next one
_AMBIGUOUS_SHORT = 3  # forms this short ("其他", "总计") need a cell boundary or their numbering


class CompactText:
    """The region with white space and `|` removed, and a map back to original offsets.

    The map is kept per run of kept characters (where each run starts in both texts), not per
    character: a report's whole text is compacted to find its tables, and only a few offsets are
    ever mapped back. `offsets` (one per character) is built on first use for callers that
    search the map itself.
    """

    __slots__ = ("text", "_cstarts", "_ostarts", "_offsets")

    def __init__(self, text: str, cstarts: list[int], ostarts: list[int]) -> None:
        self.text = text
        self._cstarts = cstarts  # compact index where each run begins
        self._ostarts = ostarts  # original offset where each run begins
        self._offsets: list[int] | None = None

    @classmethod
    def of(cls, source: str, start: int, end: int) -> CompactText:
        """Runs are copied whole (C speed), not char by char."""
        runs: list[str] = []
        ostarts: list[int] = []
        for m in _KEPT_RUN.finditer(source, start, end):
            runs.append(m.group())
            ostarts.append(m.start())
        return cls("".join(runs), list(accumulate(map(len, runs), initial=0))[:-1], ostarts)

    def at(self, cpos: int) -> int:
        """The original offset of compact character `cpos` (0 ≤ cpos < len(text))."""
        if cpos < 0:
            cpos += len(self.text)  # as the per-character list indexes
        if not 0 <= cpos < len(self.text):
            raise IndexError(cpos)
        k = bisect_right(self._cstarts, cpos) - 1
        return self._ostarts[k] + cpos - self._cstarts[k]

    @property
    def offsets(self) -> list[int]:
        """The original offset of every compact character."""
        if self._offsets is None:
            out: list[int] = []
            for k, cs in enumerate(self._cstarts):
                ce = self._cstarts[k + 1] if k + 1 < len(self._cstarts) else len(self.text)
                out.extend(range(self._ostarts[k], self._ostarts[k] + ce - cs))
            self._offsets = out
        return self._offsets

    def span(self, cstart: int, cend: int) -> Span:
        return (self.at(cstart), self.at(cend - 1) + 1)


@dataclass(slots=True)
class Anchor:
    key: str
    start: int
    end: int
    fuzzy: bool = False
    score: float = 1.0


@dataclass(slots=True)
class Slot:
    """One cell's worth of text after a label: a number, a glued digit run, or a blank."""

    text: str
    span: Span
    blank: bool = False
    marker: bool = False  # a printed blank marker such as `-` or `无`, not an empty piece
    delimited: bool = True  # False when the slot came from a run with no cell separators
    repairs: tuple[tuple[int, str], ...] = ()  # (source offset, kind): how the token was not clean
    line_start: bool = False  # first value on its line: a line break may have cut a number here
    piece_start: bool = True  # first value of its delimited piece (False: after a space in it)
    closed: bool = False  # a cell delimiter or text follows it on its line: no line break cut it
    glued: bool = False  # printed against the previous number with nothing between (`0-12`)
    after_label: bool = False  # printed against the row's label (`政府集中采购11`): glued text


@dataclass(slots=True)
class RawRow:
    key: str
    anchor: Anchor | None
    slots: list[Slot] = field(default_factory=list)
    leading_blanks: list[Slot] = field(default_factory=list)
    trailing_blanks: list[Slot] = field(default_factory=list)
    # A markdown row with more cells than its table's `|---|` line was cut: a `|` in it may be
    # an OCR'd 1 (`| 1 |` printed `| | |`), so a blank read from it may be a lost number.
    overfull: bool = False


def _boundary_ok(ct: CompactText, source: str, cs: int, ce: int) -> bool:
    """A short form must stand alone: a cell delimiter or numbering before it, not text after."""
    start = ct.at(cs)
    before = source[max(0, start - 1) : start]
    prev_c = ct.text[cs - 1] if cs > 0 else ""
    ok_before = before in ("\t", "\n", "|", " ", "") or prev_c in ".、)）" or prev_c.isdigit()
    nxt = ct.text[ce] if ce < len(ct.text) else ""
    end = ct.at(ce - 1) + 1
    after = source[end : end + 1]
    ok_after = after in ("\t", "\n", "|", " ", "") or nxt == "" or nxt.isdigit() or nxt in "(（-"
    return ok_before and ok_after and not _in_header_row(source, start)


def _in_header_row(source: str, pos: int) -> bool:
    """A line of several cells none of which is a number: a table's header row (a column named
    总计 there is no row label)."""
    line_start = source.rfind("\n", 0, pos) + 1
    line_end = source.find("\n", pos)
    return _header_line(source[line_start : len(source) if line_end < 0 else line_end])


@lru_cache(maxsize=4096)
def _header_line(line: str) -> bool:
    """_in_header_row of one line's text, once per distinct line: each line of a table is cut
    several times (its first value, then its row)."""
    cells = [c.strip() for c in _CELL_DELIMS.split(line)]
    cells = [c for c in cells if c]
    return len(cells) >= 3 and not any(NUMBER.fullmatch(c) for c in cells)


def _find_exact(ct: CompactText, source: str, label: Label, lo: int, hi: int) -> tuple[int, int] | None:
    best: tuple[int, int] | None = None
    for form in label.forms():
        pos = lo
        while True:
            i = ct.text.find(form, pos, hi)
            if i < 0:
                break
            if len(form) > _AMBIGUOUS_SHORT or _boundary_ok(ct, source, i, i + len(form)):
                if best is None or i < best[0] or (i == best[0] and i + len(form) > best[1]):
                    best = (i, i + len(form))
                break
            pos = i + 1
    return best


def _find_prefix(ct: CompactText, source: str, label: Label, lo: int, hi: int) -> tuple[int, int] | None:
    form = strip_numbering(max(label.forms(), key=len))
    floor = min(len(form), 8)
    for size in range(len(form) - 1, floor - 1, -1):
        i = ct.text.find(form[:size], lo, hi)
        if i < 0:
            continue
        end = ct.at(i + size - 1) + 1
        after = source[end : end + 1]
        if after in ("\t", "\n", "|", "", " ") or after.isdigit():
            return (i, i + size)
    return None


def _find_fuzzy(ct: CompactText, label: Label, lo: int, hi: int, threshold: float) -> tuple[int, int, float] | None:
    """Slide windows of the label's length over the region; survives OCR slips and cut labels."""
    form = max(label.forms(), key=len)
    core = label.forms()[-1] if len(label.forms()) > 1 else form
    best: tuple[int, int, float] | None = None
    # Every printed form, with and without its numbering: one short variant misses a misspelt long one.
    targets = {t for f in label.forms() for t in (f, strip_numbering(f)) if len(t) >= 6}
    for target in sorted(targets):
        n = len(target)
        # shared[k]: characters of target's alphabet among the region's first k. A window whose
        # count bounds its ratio (2·matches / total, matches ≤ that count) below the threshold
        # is skipped without building a SequenceMatcher: the same windows win, far fewer tried.
        alphabet = set(target)
        shared = [0]
        for ch in ct.text[lo : max(hi, lo + n + 2)]:
            shared.append(shared[-1] + (ch in alphabet))
        for size in (n - 2, n - 1, n, n + 1, n + 2):
            for i in range(lo, max(lo, hi - size) + 1):
                window = ct.text[i : i + size]
                inside = shared[i - lo + len(window)] - shared[i - lo]
                if 2.0 * min(inside, n) / (n + len(window)) < threshold:
                    continue
                if NUMBER.fullmatch(window[:1] or "x") and not core[:1].isdigit():
                    continue
                if _DIGIT.search(window, 2):
                    continue  # labels hold no digits past their numbering: this window eats values
                score = SequenceMatcher(None, target, window, autojunk=False).ratio()
                if score >= threshold and (best is None or score > best[2]):
                    best = (i, i + size, score)
    return best


def find_anchors(
    source: str,
    start: int,
    end: int,
    labels: Sequence[Label],
    *,
    fuzzy_threshold: float = 0.78,
) -> list[Anchor]:
    """Locate each label in template order; a label not found is skipped, not guessed."""
    ct = CompactText.of(source, start, end)
    anchors: list[Anchor] = []
    pointer = 0
    seen: dict[int, tuple[int, tuple[int, int] | None]] = {}  # label index → (from, hit)

    def exact(k: int, lo: int) -> tuple[int, int] | None:
        """_find_exact of label k from `lo` to the end; a search from an earlier point whose hit
        (or absence) lies at or after `lo` is the same search: each label is looked ahead for
        twice before its own turn."""
        if k in seen:
            was_lo, was = seen[k]
            if was_lo <= lo and (was is None or was[0] >= lo):
                return was
        hit = _find_exact(ct, source, labels[k], lo, len(ct.text))
        seen[k] = (lo, hit)
        return hit

    for idx, label in enumerate(labels):
        # Search up to where the next label after this one is found exactly, to keep order.
        hit = exact(idx, pointer)
        if hit is not None:
            # Guard against a far match that skipped the real (misspelt) occurrence.
            nxt_hit = None
            for later in range(idx + 1, min(idx + 3, len(labels))):
                nxt_hit = exact(later, pointer)
                if nxt_hit is not None:
                    break
            if nxt_hit is None or hit[0] <= nxt_hit[0]:
                s, e = ct.span(*hit)
                anchors.append(Anchor(label.key, s, e))
                pointer = hit[1]
                continue
            if hit[0] - nxt_hit[0] < OUT_OF_ORDER_REACH:
                # Printed after the next label (labels cut from their rows): keep it, and let
                # the next label still be found before it.
                s, e = ct.span(*hit)
                anchors.append(Anchor(label.key, s, e))
                pointer = nxt_hit[0]
                continue
        # A label wrapped or cut by the layout: a long enough prefix of it, then a cell boundary.
        pre = _find_prefix(ct, source, label, pointer, len(ct.text))
        if pre is not None:
            s, e = ct.span(*pre)
            anchors.append(Anchor(label.key, s, e))
            pointer = pre[1]
            continue
        # Fuzzy search only between here and the next exactly found label.
        limit = len(ct.text)
        for later in range(idx + 1, len(labels)):
            nh = exact(later, pointer)
            if nh is not None:
                limit = nh[0]
                break
        fz = _find_fuzzy(ct, label, pointer, limit, fuzzy_threshold)
        if fz is not None:
            s, e = ct.span(fz[0], fz[1])
            anchors.append(Anchor(label.key, s, e, fuzzy=True, score=fz[2]))
            pointer = fz[1]
    anchors.sort(key=lambda a: a.start)
    return anchors


@lru_cache(maxsize=2)  # the report being read (and one other thread's)
def strip_footers(text: str) -> str:
    """Blank out page footers (`- 3 -`) in place, keeping offsets; once per text, as each of the
    three table readers asks it of the same whole report."""
    return PAGE_FOOTER.sub(lambda m: " " * len(m.group(0)), text)


def cut_slots(
    source: str, start: int, end: int, next_numbering: str | None = None,
    grid_cells: frozenset[int] = frozenset(), *, first_only: bool = False,
) -> RawRow:
    """Cut the text between a label's end and the next label into slots.

    Lines are cut into cells at tabs and `|`; an empty line separates rows and is no cell, while
    a line of white space is a blank cell (one-cell-per-line layouts). Several numbers inside
    one cell separated by spaces (crawler text) are separate slots; a glued digit run stays one
    slot for the solver to split. Empty cells between numbers are blanks; those before the first
    and after the last number are kept aside (merge artifacts or blanks, decided by the caller
    from the column count). Text after the numbers (a wrapped label, a group header) ends the row.

    `grid_cells` are the start offsets of cells of a grid read from markup (HTML, DOCX, PDF): there
    a cell is a cell, and two numbers inside one are a damaged cell, never two values.

    `first_only` stops after the first value or blank marker (the callers that only ask where a
    line's values begin): the slots read are a prefix of the whole cut, so `slots[0]` is the same.
    """
    row = RawRow(key="", anchor=None)
    segment = source[start:end]
    if next_numbering:
        # The next label's numbering ("2." / "2、" / "2") is glued to this row's end.
        m = re.search(r"(?:^|(?<=[\s\d]))" + re.escape(next_numbering) + r" *[.、．]? *$", segment)
        if m:
            segment = segment[: m.start()]
    cells: list[Slot] = []
    glued_start = start > 0 and not source[start - 1].isspace() and source[start - 1] != "|"
    saw_number = False
    saw_value = False  # a number or a blank marker was cut (for first_only)
    done = False
    line_start = 0
    for line in segment.split("\n"):
        line_off = start + line_start
        line_start += len(line) + 1
        if done or (first_only and saw_value):
            break
        line_end = source.find("\n", line_off)
        full_start = source.rfind("\n", 0, line_off) + 1
        full_line = source[full_start : len(source) if line_end < 0 else line_end]
        if line.count("\t") + line.count("|") >= 2 and _header_line(full_line):
            if saw_number:
                break  # a header row (数据1 … 数据7, or a wrong table's) ends the row
            continue
        piped, delimiters = _line_delimiters(full_line)
        if piped and not row.overfull:
            row.overfull = _overfull(source, full_start, full_line)
        if not piped and line.strip() == "|":
            delimiters = _NOTHING  # a pipe alone is no separator between nothing: OCR's 1, or noise
        pieces: list[tuple[str, int]] = []
        if delimiters is _NOTHING or (delimiters is not _CELL_DELIMS and "|" not in line):
            # No pipe to judge: the cells are the tab-separated parts (str.split, not a regex).
            pos = line_off
            for part in line.split("\t") if delimiters is not _NOTHING else (line,):
                pieces.append((part, pos))
                pos += len(part) + 1
        else:
            pos = 0
            for m in delimiters.finditer(line):
                pieces.append((line[pos : m.start()], line_off + pos))
                pos = m.end()
            pieces.append((line[pos:], line_off + pos))
        ends_with_delimiter = line.rstrip(" ").endswith(("|", "\t"))
        if pieces and not pieces[0][0].strip():
            pieces = pieces[1:]  # line indentation, or the rest of the label's own cell
        if len(pieces) > 1 and line.rstrip().endswith("|") and not pieces[-1][0].strip():
            pieces = pieces[:-1]  # a markdown row's closing pipe ends the row; it opens no cell
        # A pipe against a number where the row's other pipes stand apart may be OCR's 1.
        tight = {m.end() for m in _PIPE_DIGIT.finditer(line)} if piped and len(
            _PIPE_SPACE.findall(line)) >= 2 else set()
        first_on_line = True
        for p_index, (piece, off) in enumerate(pieces):
            if first_only and saw_value:
                done = True
                break
            closed = p_index < len(pieces) - 1 or ends_with_delimiter
            stripped = piece.strip()
            lead = len(piece) - len(piece.lstrip())
            if not stripped:
                cells.append(Slot("", (off + lead, off + lead), blank=True))
                continue
            plain = stripped.isdigit() and stripped.isascii()  # the common cell: nothing to repair
            nums = [Token(stripped, 0, len(stripped), [])] if plain else _leading_numbers(stripped, pipe=not piped)
            if nums and not stripped.isdigit() and _is_numbering(stripped):  # digits alone: a value
                nums = []  # "5、政府信息…" / "3.其他": a heading's or label's number, not a value
                if saw_number:
                    done = True
                    break
                continue
            if not nums and not saw_number:
                # Text before the values: the rest of a label; numbers may follow it glued.
                m = number_token(pipe=not piped).search(stripped)
                if m and not _DIGIT.search(stripped, 0, m.start()) and not _has_cjk_after(stripped, m.start()):
                    lead += m.start()
                    stripped = stripped[m.start() :]
                    nums = _leading_numbers(stripped, pipe=not piped)
            if nums:
                rest = stripped[nums[-1].end :].strip()
                base = off + lead
                if base in grid_cells and len(nums) > 1 and not rest:
                    # One grid cell, several numbers: a damaged cell (a number broken by a line).
                    first_tok, last_tok = nums[0], nums[-1]
                    joined = "".join(t.clean for t in nums)
                    cells.append(Slot(joined, (base + first_tok.start, base + last_tok.end),
                                      repairs=((base + first_tok.start, "several_numbers_in_cell"),),
                                      line_start=first_on_line, closed=closed))
                    saw_number = saw_value = True
                    first_on_line = False
                    continue
                if off - line_off in tight and lead == 0:
                    nums[0].repairs.append((nums[0].start, "pipe_or_one"))
                piece_end = off - line_off + len(piece)
                if not piped and not rest and line[piece_end : piece_end + 1] == "|" and piece.endswith(
                        stripped) and stripped[-1:].isdigit():
                    nums[-1].repairs.append((nums[-1].end - 1, "pipe_or_one"))  # `12|三、…`: 12 or 121?
                for k_t, t in enumerate(nums):
                    # Positional (the fields in Slot's order: text, span, blank, marker, delimited,
                    # repairs, line_start, piece_start, closed, glued, after_label): this is the
                    # reader's innermost allocation, and keywords cost twice the call.
                    cells.append(Slot(t.clean, (base + t.start, base + t.end), False, False, len(nums) > 1,
                                      tuple((base + k, why) for k, why in t.repairs) if t.repairs else (),
                                      first_on_line, k_t == 0,
                                      bool(rest) or (k_t < len(nums) - 1) or closed,
                                      k_t > 0 and t.start == nums[k_t - 1].end,
                                      base + t.start == start and glued_start))
                    first_on_line = False
                saw_number = saw_value = True
                if rest:
                    done = True  # text after the numbers: a group header or a wrapped label
                    break
                continue
            if _is_blank_marker(stripped):
                cells.append(Slot("", (off + lead, off + lead + len(stripped)), blank=True, marker=True))
                saw_value = True
                continue
            if saw_number:
                done = True  # label continuation after the values: the row is over
                break
    # A printed blank marker (`-`, `—`, `/`, `无`) is a cell for sure; an empty piece may be
    # layout, so only markers and numbers bound the row.
    first = next((k for k, c in enumerate(cells) if not c.blank or c.marker), None)
    if first is None:
        row.leading_blanks = cells
        return row
    last = max(k for k, c in enumerate(cells) if not c.blank or c.marker)
    row.leading_blanks = cells[:first]
    row.slots = cells[first : last + 1]
    row.trailing_blanks = cells[last + 1 :]
    return row


_MD_SEPARATOR = re.compile(r"\s*\|(?:\s*:?-{3,}:?\s*\|)+\s*")


def _overfull(source: str, line_start: int, full_line: str) -> bool:
    """A piped row with more cells than the `|---|` line of its table (the nearest one above,
    through piped lines only); False when there is none to compare with."""
    width = _table_widths(source).get(line_start)
    return width is not None and full_line.strip().count("|") - 1 > width


@lru_cache(maxsize=2)  # the report being read (and one other thread's), as strip_footers
def _table_widths(source: str) -> dict[int, int]:
    """Where each line under a `|---|` line starts → that separator's cell count, for the piped
    lines that follow it (a line that does not start with `|` ends the table). One pass over
    the text, not a search upwards from every row cut (a row is cut several times)."""
    widths: dict[int, int] = {}
    width: int | None = None
    start = 0
    for line in source.split("\n"):
        if not line.lstrip().startswith("|"):
            width = None
        else:
            if width is not None:
                widths[start] = width
            if _MD_SEPARATOR.fullmatch(line):
                width = line.strip().count("|") - 1
        start += len(line) + 1
    return widths


@lru_cache(maxsize=4096)
def _line_delimiters(full_line: str) -> tuple[bool, re.Pattern[str]]:
    """Whether a line is a piped (markdown) row, and what cuts its cells; once per distinct line,
    as each line is cut several times.

    A pipe separates cells in a row that starts with one (markdown); elsewhere a pipe against a
    digit is OCR's 1 (`|2` is 12)."""
    piped = full_line.lstrip().startswith("|") and full_line.count("|") >= 2
    return piped, _CELL_DELIMS if piped else _TAB if "\t" in full_line else loose_delimiters()


def _is_numbering(text: str) -> bool:
    return bool(_NUMBERING.match(text))


def _has_cjk_after(text: str, pos: int) -> bool:
    """`3.危及…` after a number means the number is a label's numbering, not a value."""
    return bool(_NUMBER_THEN_CJK.match(text, pos))


@dataclass(slots=True)
class Token:
    """A number as printed in a cell: its clean digits, where it stands, and what was repaired."""

    clean: str
    start: int
    end: int
    repairs: list[tuple[int, str]] = field(default_factory=list)


@cache
def number_token(pipe: bool = False) -> re.Pattern[str]:
    """A printed number, also as OCR and typesetting damage it (l282, 2,418, 1O5), or a cell of
    look-alike letters alone (`I`, `O`); with `pipe`, a pipe that separates no cells is a 1."""
    letters = re.escape("".join(k for k in ocr_digit_confusions() if pipe or k != "|"))
    return re.compile(
        rf"-?(?:\d{{1,3}}(?:,\d{{3}})+(?!\d)|[{letters}]*\d[\d{letters}]*)(?:\.[{letters}]*\d[\d{letters}]*)?"
        rf"(?![{letters}])"
        rf"|^-?[{letters}]{{1,3}}$"
    )


@cache
def loose_delimiters() -> re.Pattern[str]:
    """Cell delimiters outside markdown rows: a tab, or a pipe not against a digit or look-alike."""
    letters = re.escape("".join(k for k in ocr_digit_confusions() if k != "|"))
    return re.compile(rf"\t|\|(?![\d{letters}])")


def read_token(m: re.Match[str]) -> Token:
    """Clean digits from a token match, recording each repaired character."""
    confusions = ocr_digit_confusions()
    out: list[str] = []
    repairs: list[tuple[int, str]] = []
    alone = not any(ch.isdigit() for ch in m.group(0))
    for k, ch in enumerate(m.group(0)):
        if alone and ch in confusions:
            out.append(confusions[ch])
            repairs.append((m.start() + k, "ocr_letter_alone"))
        elif ch == ",":
            repairs.append((m.start() + k, "thousands_separator"))
        elif ch in confusions:
            out.append(confusions[ch])
            repairs.append((m.start() + k, "ocr_letter"))
        else:
            out.append(ch)
    return Token("".join(out), m.start(), m.end(), repairs)


def _leading_numbers(text: str, pipe: bool = False) -> list[Token]:
    """Numbers at the start of a cell, separated only by spaces; stops at the first text."""
    if text.isdigit() and text.isascii():
        return [Token(text, 0, len(text), [])]  # the common cell: plain digits, nothing to repair
    out: list[Token] = []
    pos = 0
    token = number_token(pipe)
    while True:
        m = token.match(text, pos)
        if not m:
            break
        out.append(read_token(m))
        pos = m.end()
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos < len(text) and not (text[pos].isdigit() or text[pos] == "-" or token.match(text, pos)):
            break
    return out


def _is_blank_marker(text: str) -> bool:
    return text in blank_markers()


def numbering_of(label: Label) -> str | None:
    """The leading number of a template label (`3.其他` → `3`), used to peel it off glued values."""
    m = re.match(r"(\d+)[.、．]", compact(label.label))
    return m.group(1) if m else None
