"""HTML → normalized text in reading order + one grid per data table, every cell span-grounded.

Each `<tr>` becomes one line of `Document.text` (its own cells' text joined by TAB, in source
order), so a reader of plain text sees the table too; the `Table` grid expands rowspan/colspan
and points every cell back into that line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree
from lxml import html as lxml_html

from service.document import Cell, Table
from service.ingest.limits import too_many_chars
from service.ingest.normalize import collapse_whitespace, normalize_text

HtmlElement = etree._Element

# Never visible, or page chrome outside the report.
_SKIPPED = {
    "script", "style", "head", "title", "noscript", "template", "iframe", "object", "embed",
    "svg", "math", "meta", "link", "select", "option", "button", "input", "textarea", "map",
}  # fmt: skip
_BLOCKS = {
    "html", "body", "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt",
    "dd", "section", "article", "header", "footer", "nav", "main", "aside", "blockquote", "pre",
    "hr", "br", "center", "form", "figure", "figcaption", "address", "fieldset", "legend",
    "caption", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "summary", "details",
}  # fmt: skip
_CELLS = ("td", "th")
_ROW_GROUPS = ("thead", "tbody", "tfoot")
_MAX_COLSPAN = 100
_PROSE_CELL_CHARS = 300
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_HAS_TAG = re.compile(r"<[a-zA-Z/!]")
_JS_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]{1,6}\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|\r\n|[\s\S])")
_JS_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "", "f": "\f", "v": "\n", "0": ""}
_DEPTH_LIMIT = 1000
_FLAT_DEPTH = 256
_TABLE_PARTS = {"table", "caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "td", "th"}
_TAG_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:_-]*)\b[^<>]*?(/?)>")
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
}  # fmt: skip
_INLINE_TAG = re.compile(
    r"</?(?:font|span|b|i|u|s|em|strong|small|big|a|sup|sub|o:p|st1:[a-z]+)(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)
_TABLE_TAG = re.compile(r"<(/?)table\b[^>]*>", re.IGNORECASE)


class _TextBuilder:
    """Appends normalized text and knows its length, so spans can be taken while writing."""

    def __init__(self, max_chars: int | None = None) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.max_chars = max_chars
        self._last = ""
        self._pending_space = False

    def write(self, text: str) -> None:
        """Append already-normalized text verbatim (cells, TABs, raw text around tables)."""
        if not text:
            return
        self.parts.append(text)
        self.length += len(text)
        if self.max_chars is not None and self.length > self.max_chars:
            raise too_many_chars(self.max_chars)  # stop rendering now, not after a huge page
        self._last = (self._last + text)[-2:]
        self._pending_space = False

    def inline(self, raw: str) -> None:
        """Append running HTML text: white space collapses to one space, none at line start."""
        text = normalize_text(raw)
        core = collapse_whitespace(text)
        at_line_start = self.length == 0 or self._last.endswith("\n")
        if not core:
            self._pending_space = self._pending_space or (bool(text) and not at_line_start)
            return
        leading = text[:1].isspace() or self._pending_space
        if leading and not at_line_start and not self._last.endswith((" ", "\t")):
            self.write(" ")
        self.write(core)
        self._pending_space = text[-1:].isspace()

    def preformatted(self, raw: str) -> None:
        self.write(normalize_text(raw))

    def line_break(self) -> None:
        self._pending_space = False
        if self.length and not self._last.endswith("\n"):
            self.write("\n")

    def blank_line(self) -> None:
        self.line_break()
        if self.length and not self._last.endswith("\n\n"):
            self.write("\n")

    def text(self) -> str:
        return "".join(self.parts)


def _tag(node: HtmlElement) -> str | None:
    """Lower-case local tag name; None for comments and processing instructions."""
    tag = node.tag
    if not isinstance(tag, str):
        return None
    return tag.rsplit("}", 1)[-1].lower()


def _own_rows(table: HtmlElement) -> list[HtmlElement]:
    """The table's own `<tr>`s in source order (not those of nested tables)."""
    rows: list[HtmlElement] = []
    for child in table:
        tag = _tag(child)
        if tag == "tr":
            rows.append(child)
        elif tag in _ROW_GROUPS:
            rows.extend(row for row in child if _tag(row) == "tr")
    return rows


def _own_cells(row: HtmlElement) -> list[HtmlElement]:
    return [cell for cell in row if _tag(cell) in _CELLS]


def is_layout_table(table: HtmlElement) -> bool:
    """A table used for page layout: it holds other tables, it has a single column, or a cell
    holds running prose (a sidebar next to the report). Its cells are rendered as blocks of
    text; the data tables nested inside get grids.
    """
    if any(inner is not table for inner in table.iter("table")):
        return True
    cells = [cell for row in _own_rows(table) for cell in _own_cells(row)]
    if any(sum(len(t) for t in cell.itertext()) > _PROSE_CELL_CHARS for cell in cells):
        return True
    return all(len(_own_cells(row)) <= 1 for row in _own_rows(table))


def _span_attribute(cell: HtmlElement, name: str) -> int:
    """rowspan/colspan as printed by real pages ("2", " 2 ", "2;", "0"); 0 means 'to the end'."""
    match = re.match(r"\s*(\d+)", cell.get(name) or "")
    return int(match.group(1)) if match else 1


def cell_text(cell: HtmlElement) -> str:
    """A cell's text: its `<p>`/`<br>` pieces joined with nothing, white space collapsed."""
    pieces: list[list[str]] = [[]]
    stack: list[tuple[HtmlElement, bool]] = [(cell, False)]
    while stack:
        node, closing = stack.pop()
        tag = _tag(node)
        if closing:
            if tag in _BLOCKS:
                pieces.append([])
            if node is not cell and node.tail:
                pieces[-1].append(node.tail)
            continue
        if tag is None or tag in _SKIPPED:
            if node is not cell and node.tail:
                pieces[-1].append(node.tail)
            continue
        if tag in _BLOCKS and node is not cell:
            pieces.append([])
        if node.text:
            pieces[-1].append(node.text)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node))
    return "".join(collapse_whitespace("".join(piece)) for piece in pieces)


def _expand_grid(placed: list[list[tuple[Cell, int, int]]]) -> list[list[Cell]]:
    """Rowspan/colspan → a rectangular grid; a merged cell repeats the same Cell object.

    Positions no source cell covers (a short row) are padded with an empty, span-less Cell.
    """
    row_count = len(placed)
    grid: list[dict[int, Cell]] = [{} for _ in range(row_count)]
    for r, row in enumerate(placed):
        column = 0
        for cell, rowspan, colspan in row:
            while column in grid[r]:
                column += 1
            down = row_count - r if rowspan == 0 else min(rowspan, row_count - r)
            across = max(1, min(colspan, _MAX_COLSPAN))
            for dr in range(max(1, down)):
                for dc in range(across):
                    grid[r + dr].setdefault(column + dc, cell)
            column += across
    width = max((max(row) + 1 for row in grid if row), default=0)
    return [[row.get(c) or Cell(text="", span=None) for c in range(width)] for row in grid if row]


def render_table(builder: _TextBuilder, table: HtmlElement) -> Table | None:
    """Write a data table (one line per `<tr>`, blank line around) and return its grid."""
    for caption in table:
        if _tag(caption) == "caption":
            builder.line_break()
            builder.write(cell_text(caption))
    rows = [row for row in _own_rows(table) if _own_cells(row)]
    if not rows:
        builder.line_break()
        return None
    builder.blank_line()
    start = builder.length
    placed: list[list[tuple[Cell, int, int]]] = []
    for index, row in enumerate(rows):
        if index:
            builder.write("\n")
        placed_row: list[tuple[Cell, int, int]] = []
        for position, source in enumerate(_own_cells(row)):
            if position:
                builder.write("\t")
            text = cell_text(source)
            offset = builder.length
            builder.write(text)
            cell = Cell(text=text, span=(offset, offset + len(text)))
            placed_row.append(
                (cell, _span_attribute(source, "rowspan"), _span_attribute(source, "colspan"))
            )
        placed.append(placed_row)
    end = builder.length
    builder.write("\n")
    builder.blank_line()
    return Table(rows=_expand_grid(placed), origin="html", span=(start, end))


def _js_unescape(literal: str) -> str:
    def replace(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape.startswith("u{"):
            return chr(min(int(escape[2:-1], 16), 0x10FFFF))
        if escape[0] in "ux" and len(escape) > 1:
            return chr(int(escape[1:], 16))
        if escape in ("\n", "\r", "\r\n", "\u2028", "\u2029"):
            return ""
        return _JS_SIMPLE_ESCAPES.get(escape, escape)

    text = _JS_ESCAPE.sub(replace, literal)
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def script_strings(js: str) -> Iterator[str]:
    """The string literals of a script ('…', "…", `…`), still escaped; comments skipped."""
    i, n = 0, len(js)
    while i < n:
        ch = js[i]
        if ch in "'\"`":
            j = i + 1
            while j < n and js[j] != ch:
                j += 2 if js[j] == "\\" else 1
            yield js[i + 1 : min(j, n)]
            i = j + 1
        elif js.startswith("//", i) and not js.startswith("//-->", i):
            k = js.find("\n", i)
            i = n if k < 0 else k + 1
        elif js.startswith("/*", i):
            k = js.find("*/", i + 2)
            i = n if k < 0 else k + 2
        else:
            i += 1


def script_html(js: str) -> str:
    """The HTML a script carries in its strings (`var content = '<table>…'`, document.write)."""
    return "".join(_js_unescape(s) for s in script_strings(js) if _HAS_TAG.search(s))


def _script_has_table(script: HtmlElement) -> bool:
    return "<table" in (script.text or "").lower()


# An element `_DEPTH_LIMIT` levels deep, the root being level 1: evaluated by libxml2 in C, one
# pass over the levels (walking the tree in Python cost a millisecond on every ordinary page).
_TOO_DEEP = etree.XPath("boolean(" + "/".join(["*"] * (_DEPTH_LIMIT - 1)) + ")")


def _too_deep(root: HtmlElement) -> bool:
    return bool(_TOO_DEEP(root))


def _parse(markup: str) -> HtmlElement | None:
    """Parse a page. libxml2 stops at a nesting depth of 2048 (256 without huge_tree) and
    silently drops the rest of the page; past _DEPTH_LIMIT we parse again without the inline
    tags (unclosed <font>/<span> are the usual cause), and if the page is still that deep
    (thousands of nested <div>s), with the nesting flattened to _FLAT_DEPTH."""
    markup = _XML_DECLARATION.sub("", markup.replace("\x00", ""), count=1)
    if not markup.strip():
        return None
    parser = lxml_html.HTMLParser(huge_tree=True)
    try:
        root: HtmlElement = lxml_html.document_fromstring(markup, parser=parser)
        if _too_deep(root):
            markup = _INLINE_TAG.sub("", markup)
            root = lxml_html.document_fromstring(markup, parser=parser)
            if _too_deep(root):
                root = lxml_html.document_fromstring(flatten_nesting(markup, _FLAT_DEPTH), parser=parser)
    except (etree.ParserError, ValueError):
        return None
    return root


def flatten_nesting(markup: str, max_depth: int) -> str:
    """The markup with every element nested deeper than `max_depth` unwrapped: its tags dropped
    (a block tag becomes <br>, so its text keeps its own line), its content kept in place.
    Table parts are never unwrapped: the grids are what the readers need.

    Depth is counted on the tags as written, closing an element at its end tag (or at an
    enclosing element's end tag); only elements that were opened are ever closed.
    """
    out: list[str] = []
    stack: list[tuple[str, bool]] = []  # (tag, kept)
    kept_depth = 0
    position = 0
    for match in _TAG_TOKEN.finditer(markup):
        closing, name, self_closing = match.group(1), match.group(2).lower(), match.group(3)
        if name in _VOID or self_closing:
            continue
        replacement: str | None = None
        if not closing:
            keep = kept_depth < max_depth or name in _TABLE_PARTS
            stack.append((name, keep))
            kept_depth += keep
            if not keep:
                replacement = "<br>" if name in _BLOCKS else ""
        else:
            at = next((i for i in range(len(stack) - 1, max(-1, len(stack) - 64), -1) if stack[i][0] == name), None)
            if at is None:
                continue  # a stray end tag: left for the parser to ignore
            closed = stack[at:]
            del stack[at:]
            kept_depth -= sum(keep for _, keep in closed)
            if not closed[0][1]:
                replacement = "<br>" if name in _BLOCKS else ""
        if replacement is not None:
            out.append(markup[position : match.start()])
            out.append(replacement)
            position = match.end()
    out.append(markup[position:])
    return "".join(out)


class _Renderer:
    """Walks a parsed page in document order, writing text and collecting table grids."""

    def __init__(self, builder: _TextBuilder, tables_from_scripts: bool) -> None:
        self.builder = builder
        self.tables: list[Table] = []
        self.tables_from_scripts = tables_from_scripts

    def render(self, root: HtmlElement) -> None:
        stack: list[tuple[HtmlElement, bool]] = [(root, False)]
        while stack:
            node, closing = stack.pop()
            tag = _tag(node)
            if closing:
                if tag in _BLOCKS:
                    self.builder.line_break()
                self._tail(node, root)
                continue
            if tag is None or tag in _SKIPPED:
                self._skipped(node, tag)
                self._tail(node, root)
                continue
            if tag == "table" and not is_layout_table(node):
                table = render_table(self.builder, node)
                if table is not None:
                    self.tables.append(table)
                self._tail(node, root)
                continue
            if tag in _BLOCKS:
                self.builder.line_break()
            if node.text:
                self._text(node, node.text)
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node))

    def _text(self, node: HtmlElement, text: str) -> None:
        if _tag(node) == "pre":
            self.builder.preformatted(text)
        else:
            self.builder.inline(text)

    def _tail(self, node: HtmlElement, root: HtmlElement) -> None:
        if node is not root and node.tail:
            parent = node.getparent()
            self._text(parent if parent is not None else node, node.tail)

    def _skipped(self, node: HtmlElement, tag: str | None) -> None:
        """Scripts (also those in <head>) may carry the report's table as an HTML string."""
        if not self.tables_from_scripts or tag not in ("script", "head"):
            return
        scripts = [node] if tag == "script" else list(node.iter("script"))
        for script in scripts:
            if _script_has_table(script):
                inner = _parse(script_html(script.text or ""))
                if inner is not None:
                    nested = _Renderer(self.builder, tables_from_scripts=False)
                    nested.render(inner)
                    self.tables.extend(nested.tables)


def _needs_script_tables(root: HtmlElement) -> bool:
    """True when no data table is visible but a script string holds one."""
    visible = any(not is_layout_table(t) and _own_rows(t) for t in root.iter("table"))
    return not visible and any(_script_has_table(s) for s in root.iter("script"))


def read_html(markup: str, max_chars: int | None = None) -> tuple[str, list[Table]]:
    """(normalized text, tables) of an HTML page; text is '' when the page shows nothing.

    Past `max_chars` characters of text, DocumentTooLarge (checked while rendering)."""
    root = _parse(markup)
    if root is None:
        return "", []
    builder = _TextBuilder(max_chars)
    renderer = _Renderer(builder, tables_from_scripts=_needs_script_tables(root))
    renderer.render(root)
    return builder.text().rstrip(), renderer.tables


def _table_blocks(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each outermost `<table>…</table>` embedded in plain text or markdown."""
    depth, start = 0, 0
    for match in _TABLE_TAG.finditer(text):
        if not match.group(1):
            if depth == 0:
                start = match.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                yield start, match.end()


def read_text_with_html_tables(text: str, max_chars: int | None = None) -> tuple[str, list[Table]]:
    """Plain text or markdown whose tables are HTML (PDF-to-markdown tools emit these).

    The text around the tables keeps its own lines; each table is rendered as in an HTML page.
    """
    builder = _TextBuilder(max_chars)
    tables: list[Table] = []
    position = 0
    for start, end in _table_blocks(text):
        builder.write(normalize_text(text[position:start]))
        root = _parse(text[start:end])
        if root is not None:
            renderer = _Renderer(builder, tables_from_scripts=False)
            renderer.render(root)
            tables.extend(renderer.tables)
        position = end
    builder.write(normalize_text(text[position:]))
    return builder.text(), tables
