"""Render a field dict as a whole plausible report in one of the layout families of format.md.

One logical model (title, prose, three tables as grids with rowspan/colspan, signature) is built
from the values; each family then prints that model the way real reports reach us: Word
conversions with tabs, one cell per line, HTML, glued crawler text, PDF text in reading order,
broken PDF-to-markdown, real .docx and real .pdf. Every row and column label comes from
`service.templates`; only header words that are not template labels (信息内容, 行政诉讼 …) and the
prose are written here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from service.templates import (
    raw,
    table2,
    table3_columns,
    table3_result_rows,
    table3_rows,
    table4_columns,
    table4_groups,
)
from tests.corpus.values import Value, Values, other_subrows_printed

FAMILIES = ("tabs", "lines", "html", "glued", "pdf_text", "markdown", "docx", "pdf")
TEXT_FAMILIES = FAMILIES[:6]
# Layouts of real reports the reader still loses (tests/test_layouts.py); all text.
LOST_FAMILIES = ("glued2019", "pdf_text_t2", "ocr_markdown", "pdf_markdown")
# A family that shows one template's tables: its cases use that template.
FAMILY_TEMPLATES: dict[str, tuple[str, ...]] = {"glued2019": ("2019",)}

Role = Literal["header", "group", "label", "value", "note"]


@dataclass
class GridCell:
    """One printed cell; `path` is the field a value cell shows."""

    text: str
    role: Role = "label"
    rowspan: int = 1
    colspan: int = 1
    path: str | None = None


@dataclass
class Grid:
    """A table as printed: rows of origin cells (covered positions are implied by spans).

    `header_rows` leading rows are column headers; `label_cols` leading columns hold row labels.
    """

    name: str
    rows: list[list[GridCell]]
    ncols: int
    header_rows: int = 0
    label_cols: int = 1

    def matrix(self) -> list[list[tuple[GridCell, int, int]]]:
        """Every position as (cell, row offset, column offset) inside its span: (0, 0) = origin."""
        n = len(self.rows)
        out: list[list[tuple[GridCell, int, int] | None]] = [[None] * self.ncols for _ in range(n)]
        for r, row in enumerate(self.rows):
            c = 0
            for cell in row:
                while c < self.ncols and out[r][c] is not None:
                    c += 1
                if c >= self.ncols:
                    raise ValueError(f"{self.name}: row {r} has too many cells")
                for dr in range(cell.rowspan):
                    for dc in range(cell.colspan):
                        out[r + dr][c + dc] = (cell, dr, dc)
                c += cell.colspan
        full: list[list[tuple[GridCell, int, int]]] = []
        for r, slots in enumerate(out):
            if any(s is None for s in slots):
                raise ValueError(f"{self.name}: row {r} leaves a hole")
            full.append([s for s in slots if s is not None])
        return full


@dataclass
class Block:
    kind: Literal["title", "heading", "para", "table", "signature"]
    text: str = ""
    grid: Grid | None = None


@dataclass
class Report:
    blocks: list[Block] = field(default_factory=list)
    title: str = ""
    issuer: str = ""


# ----------------------------------------------------------------------------------------------
# values as printed


def format_value(value: Value) -> str:
    """How a number is printed: ints as is, decimals without float noise, 0.0 as 0."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value == int(value):
            return str(int(value))
        return repr(value)
    return str(value)


def _v(values: Values, path: str) -> GridCell:
    return GridCell(format_value(values.get(path)), role="value", path=path)


# ----------------------------------------------------------------------------------------------
# the three tables as grids


def table2_grid(values: Values, template: str, rng: random.Random) -> Grid:
    """Table 2 as the national template prints it: one 4-column grid, one block per article."""
    groups = table2(template)
    ncols = 1 + max(len(g.columns) for g in groups)
    rows: list[list[GridCell]] = []
    for group in groups:
        rows.append([GridCell(group.article, role="header", colspan=ncols)])
        header = [GridCell("信息内容", role="header")]
        header += [GridCell(c.label, role="header") for c in group.columns]
        header[-1].colspan += ncols - len(header)
        rows.append(header)
        for row in group.rows:
            label = rng.choice([row.label, row.label, *row.variants])
            cells = [GridCell(label, role="label")]
            cells += [_v(values, f"active_disclosure.{row.key}.{c.key}") for c in group.columns]
            cells[-1].colspan += ncols - len(cells)
            rows.append(cells)
    return Grid("table2", rows, ncols, header_rows=0, label_cols=1)


def _balance_note() -> str:
    marker = raw()["applications"]["header_markers"][0]
    return f"（本列数据的{marker}为：第一项加第二项之和，等于第三项加第四项之和）"


def table3_grid(values: Values, template: str) -> Grid:
    """Table 3: a 3-column label block (三、 / （三） / item) and the 7 applicant columns."""
    columns = table3_columns()
    applicant, legal = raw()["applications"]["header_markers"][1:3]
    rows: list[list[GridCell]] = [
        [GridCell(_balance_note(), role="note", rowspan=3, colspan=3),
         GridCell(applicant, role="header", colspan=7)],
        [GridCell(columns[0].label, role="header", rowspan=2),
         GridCell(legal, role="header", colspan=5),
         GridCell(columns[-1].label, role="header", rowspan=2)],
        [GridCell(c.label, role="header") for c in columns[1:-1]],
    ]
    subrows = other_subrows_printed(values)
    printed = [
        r for r in table3_rows()
        if r.templates.count(template)
        and not (r.subrow_of and not subrows)
        and not (subrows and any(s.subrow_of == r.key for s in table3_rows()))
    ]
    by_key = {r.key: r for r in table3_rows()}
    top_group = by_key[table3_result_rows()[0]].group or ""
    in_top = [r for r in printed if r.group is not None]
    seen_groups: set[str] = set()
    for row in printed:
        cells: list[GridCell] = []
        if row.group is None:
            cells.append(GridCell(row.label, role="label", colspan=3))
        else:
            if row is in_top[0]:
                cells.append(GridCell(top_group, role="group", rowspan=len(in_top)))
            if row.group == top_group:
                cells.append(GridCell(row.label, role="label", colspan=2))
            else:
                if row.group not in seen_groups:
                    size = sum(1 for r in printed if r.group == row.group)
                    cells.append(GridCell(row.group, role="group", rowspan=size))
                    seen_groups.add(row.group)
                cells.append(GridCell(row.label, role="label"))
        cells += [_v(values, f"applications.{row.key}.{c.key}") for c in columns]
        rows.append(cells)
    return Grid("table3", rows, 10, header_rows=3, label_cols=3)


def table4_grid(values: Values) -> Grid:
    """Table 4: 行政复议 and 行政诉讼 (two sub-groups), five columns each, one value row."""
    groups, columns = table4_groups(), table4_columns()
    rows: list[list[GridCell]] = [
        [GridCell(groups[0].label, role="header", colspan=5),
         GridCell("行政诉讼", role="header", colspan=10)],
        [*(GridCell(c.label, role="header", rowspan=2) for c in columns),
         *(GridCell(g.label, role="header", colspan=5) for g in groups[1:])],
        [GridCell(c.label, role="header") for _ in groups[1:] for c in columns],
        [_v(values, f"reviews_and_litigation.{g.key}.{c.key}") for g in groups for c in columns],
    ]
    return Grid("table4", rows, 15, header_rows=3, label_cols=0)


# ----------------------------------------------------------------------------------------------
# the report around the tables


def _short_issuer(issuer: str) -> str:
    for suffix in ("人民政府",):
        if issuer.endswith(suffix) and len(issuer) > len(suffix) + 1:
            return issuer[: -len(suffix)]
    return issuer


def _cn_date(iso: str) -> str:
    d = dt.date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


def _narrative_paras(values: Values, short: str, year: int, rng: random.Random) -> dict[str, list[str]]:
    """Prose per part; every stated figure is the value's, silence where the value is None."""
    active = values.get("narrative.active_disclosure_total")
    interp = values.get("narrative.policy_interpretations")
    received = values.get("narrative.applications_received")
    npc, cppcc = values.get("narrative.npc_suggestions"), values.get("narrative.cppcc_proposals")
    fees = values.get("narrative.information_fees_collected")
    part1: list[str] = [
        f"{year}年，{short}坚持以习近平新时代中国特色社会主义思想为指导，深入贯彻落实国家、省政务公开工作部署，"
        "结合工作实际，聚焦主责主业，扎实推进政府信息公开工作。"
    ]
    if active is not None:
        part1.append(rng.choice([
            f"（一）主动公开。全年主动公开政府信息{active}条，主要通过政府网站、政务新媒体等渠道发布。",
            f"（一）主动公开情况。{year}年，共主动公开政府信息{active}条，公开内容涵盖机构职能、政策文件、财政预决算等。",
        ]))
    else:
        part1.append(
            f"（一）主动公开情况。通过政府网站公开政府信息{rng.randint(20, 200)}条，"
            f"通过微信公众号发布信息{rng.randint(20, 400)}条，及时准确发布各类政府信息。"
        )
    if interp is not None:
        part1.append(rng.choice([f"围绕重要政策文件发布政策解读{interp}条。",
                                 f"对{interp}项涉及群众切身利益的重要政策文件进行解读。"]))
    else:
        part1.append("坚持“谁起草谁解读”的原则，同步做好政策解读工作。")
    if received is not None:
        if received == 0 and rng.random() < 0.5:
            part1.append("（二）依申请公开情况。本年度未收到政府信息公开申请。")
        else:
            part1.append(f"（二）依申请公开情况。本年度共收到政府信息公开申请{received}件，均在法定期限内答复。")
    else:
        part1.append("（二）依申请公开情况。进一步规范依申请公开办理流程，畅通受理渠道，按时答复。")
    part1.append("（三）政府信息管理。严格执行信息发布审核制度，落实“三审三校”要求，确保公开信息准确规范。")
    part1.append(f"（四）平台建设。加强政府网站和政务新媒体日常管理，组织业务培训{rng.randint(2, 9)}次。")
    part1.append("（五）监督保障。将政务公开工作纳入年度考核，定期开展自查整改。")
    part5 = [
        "存在的主要问题：政策解读形式不够丰富，公开内容的深度和广度有待提升。",
        "改进措施：一是加强业务培训；二是拓宽公开渠道；三是强化监督检查，切实提升政务公开质效。",
    ]
    part6: list[str] = []
    if fees is False:
        part6.append(rng.choice(["本年度未收取信息处理费。", "全年收取政府信息公开信息处理费0元。"]))
    elif fees is True:
        part6.append(f"本年度依法收取信息处理费{rng.randint(1, 9) * 100}元。")
    if npc is not None and cppcc is not None:
        if npc == 0 and cppcc == 0:
            part6.append("本年度未收到人大代表建议和政协委员提案。")
        else:
            part6.append(f"全年共承办人大代表建议{npc}件、政协委员提案{cppcc}件，均已按时办结。")
    part6.append("本年度无其他需要报告的事项。")
    return {"1": part1, "5": part5, "6": part6}


_HEADINGS = {
    "1": ["一、总体情况", "1、总体情况", "一、政府信息公开总体情况"],
    "2": ["二、主动公开政府信息情况", "二、行政机关主动公开政府信息情况"],
    "3": ["三、收到和处理政府信息公开申请情况", "三、行政机关收到和处理政府信息公开申请情况"],
    "4": ["四、政府信息公开行政复议、行政诉讼情况", "四、因政府信息公开工作被申请行政复议、行政诉讼情况"],
    "5": ["五、存在的主要问题及改进情况", "五、政府信息公开工作存在的主要问题及改进情况"],
    "6": ["六、其他需要报告的事项"],
}


def build_report(values: Values, template: str, rng: random.Random) -> Report:
    """The logical report: title, prose, the three tables, closing prose, signature."""
    issuer = str(values["meta.issuer"])
    year = int(values["meta.report_year"] or 0)
    short = _short_issuer(issuer)
    title = rng.choice([
        f"{issuer}{year}年政府信息公开工作年度报告",
        f"{short}{year}年政府信息公开工作年度报告",
        f"{short}{year}年度政府信息公开工作年度报告",
    ])
    prose = _narrative_paras(values, short, year, rng)
    blocks = [
        Block("title", title),
        Block("para", "本报告根据《中华人民共和国政府信息公开条例》（以下简称《条例》）和《中华人民共和国政府信息"
                      "公开工作年度报告格式》要求编制。"),
        Block("para", f"本报告中所列数据的统计期限自{year}年1月1日起至{year}年12月31日止。如对本报告有任何疑问，"
                      f"请与{issuer}办公室联系。"),
        Block("heading", rng.choice(_HEADINGS["1"])),
        *(Block("para", p) for p in prose["1"]),
        Block("heading", rng.choice(_HEADINGS["2"])),
        Block("table", grid=table2_grid(values, template, rng)),
        Block("heading", rng.choice(_HEADINGS["3"])),
        Block("table", grid=table3_grid(values, template)),
        Block("heading", rng.choice(_HEADINGS["4"])),
        Block("table", grid=table4_grid(values)),
        Block("heading", rng.choice(_HEADINGS["5"])),
        *(Block("para", p) for p in prose["5"]),
        Block("heading", rng.choice(_HEADINGS["6"])),
        *(Block("para", p) for p in prose["6"]),
    ]
    published = values.get("meta.published_on")
    if published:
        blocks.append(Block("signature", f"{issuer}\n{_cn_date(str(published))}"))
    return Report(blocks=blocks, title=title, issuer=issuer)


# ----------------------------------------------------------------------------------------------
# small text damages real conversions make


def space_out(text: str, rng: random.Random) -> str:
    """Header words broken by spaces as a narrow Word cell leaves them: 自然 人, 商 业 企 业."""
    if len(text) < 2:
        return text
    if rng.random() < 0.4:
        return " ".join(text)
    cut = rng.randint(1, len(text) - 1)
    return text[:cut] + " " + text[cut:]


def wrap(text: str, width: int) -> list[str]:
    """Fixed-width lines as a PDF or a narrow cell breaks them; a number is never split."""
    lines: list[str] = []
    current = ""
    for token in re.findall(r"[0-9.]+|.", text, re.S):
        if current and len(current) + len(token) > width:
            lines.append(current)
            current = ""
        current += token
    return [*lines, current] if current or not lines else lines


def _renumber(label: str, style: int) -> str:
    """1.属于国家秘密 → 1 属于国家秘密 / 1. 属于国家秘密 ; （一）予以公开 → (一) 予以公开."""
    if style == 0:
        return label
    if label[:1].isdigit() and label[1:2] == ".":
        return label[0] + (" " if style == 1 else ". ") + label[2:]
    if label.startswith("（") and "）" in label[:5]:
        close = label.index("）")
        return "(" + label[1:close] + ") " + label[close + 1:]
    return label


def _blank_marker(family: str, rng: random.Random) -> str:
    return {
        "tabs": rng.choice(["", "", "-", "/"]),
        "lines": rng.choice(["", " ", "-"]),
        "html": rng.choice(["&nbsp;", "&nbsp;", "", "-"]),
        "glued": "",
        "pdf_text": rng.choice(["-", "—", "/"]),
        "markdown": rng.choice(["", "", "-"]),
        "docx": rng.choice(["", "", "-", "—"]),
        "pdf": rng.choice(["", "-", "/"]),
    }[family]


def _cell_text(cell: GridCell, blank: str) -> str:
    if cell.role == "value" and cell.text == "":
        return blank
    return cell.text


def _prose_blocks(report: Report) -> tuple[list[Block], list[Block]]:
    """Blocks before the first table, and the rest."""
    first = next(i for i, b in enumerate(report.blocks) if b.kind == "table")
    return report.blocks[:first], report.blocks[first:]


# ----------------------------------------------------------------------------------------------
# family 1: tab-separated rows from a Word conversion


def _tabs_grid(grid: Grid, rng: random.Random, blank: str, label_style: int) -> list[str]:
    lines: list[str] = []
    for r, slots in enumerate(grid.matrix()):
        cells: list[str] = []
        wrapped: list[tuple[int, str]] = []
        for c, (cell, dr, dc) in enumerate(slots):
            if dr or dc:
                cells.append("")
                continue
            text = _cell_text(cell, blank)
            if cell.role == "header" and grid.name != "table2" and rng.random() < 0.5:
                text = space_out(text, rng)
            if cell.role == "group" and rng.random() < 0.4:
                text = space_out(text, rng)
            if cell.role == "label":
                text = _renumber(text, label_style)
                if len(text) > 16 and rng.random() < 0.3:
                    cut = rng.randint(10, len(text) - 4)
                    text, rest = text[:cut], text[cut:]
                    wrapped.append((c, rest))
            cells.append(text)
        if grid.label_cols and r >= grid.header_rows and rng.random() < 0.08 and not wrapped:
            labels = [t for t in cells[: grid.label_cols] if t]
            if len(labels) == 1:  # the label slides left, its merged cells collapse (seed 000)
                cells = [labels[0], "", *cells[grid.label_cols:]]
        line = "\t".join(cells)
        if rng.random() < 0.3:
            line += "\t"
        lines.append(line)
        for c, rest in wrapped:
            if rng.random() < 0.5:
                lines.append("")
            cont = [""] * len(slots)
            cont[c] = rest
            lines.append("\t".join(cont))
    return lines


def render_tabs(report: Report, rng: random.Random) -> str:
    blank = _blank_marker("tabs", rng)
    label_style = rng.randint(0, 2)
    md = rng.random() < 0.5
    out: list[str] = []
    for block in report.blocks:
        if block.kind == "title":
            out += ["", ("# " if md else "") + block.text, ""]
        elif block.kind == "heading":
            out += [("## " if md else "") + block.text, ""]
        elif block.kind == "para":
            out += [block.text, ""]
        elif block.kind == "table" and block.grid:
            out += _tabs_grid(block.grid, rng, blank, label_style) + [""]
        elif block.kind == "signature":
            out += block.text.split("\n")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------
# family 2: one cell per line, rows separated by blank lines


def _lines_grid(grid: Grid, rng: random.Random, blank: str) -> list[str]:
    lines: list[str] = []
    for slots in grid.matrix():
        row_lines: list[str] = []
        for cell, dr, dc in slots:
            if dc:
                continue  # a column span prints once
            if dr:
                row_lines.append("\t")  # a row span leaves an empty cell below it
                continue
            text = _cell_text(cell, blank)
            if cell.role == "header" and len(text) >= 4 and grid.name != "table2" and rng.random() < 0.4:
                cut = rng.randint(2, len(text) - 2)
                text = text[:cut] + "\n" + text[cut:]
            if cell.role == "value":
                text = rng.choice(["", "", " "]) + text + rng.choice(["", "", " "])
            row_lines.append("\t" + text)
        lines += row_lines + [""]
    return lines


def render_lines(report: Report, rng: random.Random) -> str:
    blank = _blank_marker("lines", rng)
    out: list[str] = []
    for block in report.blocks:
        if block.kind in ("title", "heading", "para"):
            out += [block.text, ""] if rng.random() < 0.6 else [block.text]
        elif block.kind == "table" and block.grid:
            out += _lines_grid(block.grid, rng, blank) + [""]
        elif block.kind == "signature":
            out += ["", "", *block.text.split("\n")]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------
# family 3: HTML tables with rowspan / colspan


def _html_grid(grid: Grid, rng: random.Random, blank: str, nl: str) -> str:
    use_p = rng.random() < 0.7
    parts = ['<table border="1" cellspacing="0" cellpadding="0" style="border-collapse:collapse">']
    for row in grid.rows:
        parts.append("<tr>")
        for cell in row:
            attrs = ""
            if cell.rowspan > 1:
                attrs += f' rowspan="{cell.rowspan}"'
            if cell.colspan > 1:
                attrs += f' colspan="{cell.colspan}"'
            if cell.role == "value" and cell.text == "":
                inner = blank
            else:
                inner = html.escape(cell.text)
                if cell.role == "header" and len(cell.text) == 4 and rng.random() < 0.3:
                    inner = html.escape(cell.text[:2]) + "<br/>" + html.escape(cell.text[2:])
            if use_p:
                inner = f'<p style="text-align:center"><span style="font-size:12px">{inner}</span></p>'
            parts.append(f'<td{attrs} valign="middle">{inner}</td>')
        parts.append("</tr>")
    parts.append("</table>")
    return nl.join(parts)


def render_html(report: Report, rng: random.Random) -> str:
    blank = _blank_marker("html", rng)
    one_line = rng.random() < 0.5
    nl = "" if one_line else "\n"
    body: list[str] = [
        '<div class="nav">当前位置：<a href="/">首页</a> &gt; <a href="/zwgk/">政务公开</a> &gt; 政府信息公开年报</div>',
    ]
    for block in report.blocks:
        text = html.escape(block.text)
        if block.kind == "title":
            body.append(f'<h1 class="title">{text}</h1>' if rng.random() < 0.5
                        else f'<p style="text-align:center"><strong>{text}</strong></p>')
        elif block.kind == "heading":
            body.append(f"<p><strong>{text}</strong></p>")
        elif block.kind == "para":
            body.append(f'<p style="text-indent:2em">{text}</p>')
        elif block.kind == "table" and block.grid:
            body.append(_html_grid(block.grid, rng, blank, nl))
        elif block.kind == "signature":
            body += [f'<p style="text-align:right">{html.escape(line)}</p>' for line in block.text.split("\n")]
    body.append('<div class="footer">主办单位：' + html.escape(report.issuer) + " 网站地图 | 联系我们</div>")
    head = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(report.title)}</title>'
            "</head><body>")
    return head + nl + nl.join(body) + nl + "</body></html>\n"


# ----------------------------------------------------------------------------------------------
# family 4: glued crawler text


def _glued_grid(grid: Grid, rng: random.Random) -> str:
    out: list[str] = []
    for row in grid.rows:
        for cell in row:
            text = cell.text  # a blank value simply vanishes
            out.append(text)
            out.append(" " if rng.random() < 0.05 else "")
    return "".join(out)


def render_glued(report: Report, rng: random.Random,
                 table2: Callable[[Grid, random.Random], str] = _glued_grid) -> str:
    """Crawler text; `table2` prints table 2 (the glued2019 family swaps in its own)."""
    stamp = f"{rng.randint(1, 3):02d}-{rng.randint(1, 28):02d} {rng.randint(8, 17):02d}:{rng.randint(0, 59):02d}"
    header = [
        f"标题: {report.title}",
        f"发布时间: {stamp}",
        "文号: ",
        "发布机构: ",
        "栏目: 政府信息公开年报",
        f"原文链接: https://www.example.gov.cn/zwgk/zfxxgknb/{rng.randint(10**5, 10**6)}.htm",
        "==================== 正文 ====================",
    ]
    body: list[str] = [
        f"当前位置： 首页政务公开政府信息公开年报 {report.title} 来源：{report.issuer} 时间：{stamp} "
        "微信 微博 QQ空间 全真版 文字版 文件下载 相关链接： --> "
    ]
    for block in report.blocks:
        if block.kind == "title":
            continue
        if block.kind == "table" and block.grid:
            body.append(" " + (table2 if block.grid.name == "table2" else _glued_grid)(block.grid, rng))
        elif block.kind == "heading":
            body.append(rng.choice(["", " "]) + block.text + rng.choice(["", " "]))
        elif block.kind == "signature":
            body.append(block.text.replace("\n", " " if rng.random() < 0.5 else ""))
        else:
            body.append(block.text)
    tail = "附件下载 【打印本页】 【关闭窗口】 网站地图 | 联系我们 | 版权所有：" + report.issuer
    return "\n".join(header) + "\n" + "".join(body) + " " + tail + "\n"


# ----------------------------------------------------------------------------------------------
# family 5: PDF text in reading order (labels first, values column by column, page footers)


class _Pages:
    """A text dump with page footers: `- n -` every `capacity` units."""

    def __init__(self, rng: random.Random, capacity: int) -> None:
        self.rng = rng
        self.capacity = capacity
        self.used = 0.0
        self.page = 1
        self.lines: list[str] = []
        self.gap = rng.random() < 0.6  # a blank line between text lines, as many extractors do

    def emit(self, text: str, cost: float = 1.0) -> None:
        self.lines.append(text)
        if self.gap:
            self.lines.append("")
        self.used += cost

    def emit_tight(self, text: str) -> None:
        self.lines.append(text)

    def room(self) -> float:
        return self.capacity - self.used

    def break_page(self) -> None:
        self.lines += ["", f"- {self.page} -", ""]
        self.page += 1
        self.used = 0.0

    def ensure(self, cost: float) -> None:
        if self.room() < cost:
            self.break_page()


def _pdf_values(pages: _Pages, values: list[str]) -> None:
    for v in values:
        if pages.rng.random() < 0.5:
            pages.emit(v, 0.2)
        else:
            pages.emit_tight(v)


def _pdf_label_chunk(rows: list[list[tuple[GridCell, int, int]]], rng: random.Random,
                     vertical: bool, label_style: int) -> list[str]:
    """The labels of the rows in one page chunk, in the order a PDF extractor reads them (by y)."""
    placed: list[tuple[float, int, str]] = []
    for i, slots in enumerate(rows):
        for c, (cell, dr, dc) in enumerate(slots):
            if dc or cell.role not in ("label", "group"):
                continue
            if cell.role == "label" and not dr:
                text = _renumber(cell.text, label_style)
                if len(text) > 18 and rng.random() < 0.5:
                    cut = rng.randint(10, len(text) - 3)
                    text = text[:cut] + "\n" + text[cut:]
                placed.append((i, c, text))
            elif cell.role == "group" and dr == 0:
                span_here = sum(1 for s in rows[i:] if s[c][0] is cell)
                y = i + (span_here - 1) / 2 - 0.1
                text = "\n".join(cell.text) if vertical and c == 0 else cell.text
                placed.append((y, c, text))
    return [t for _, _, t in sorted(placed, key=lambda p: (p[0], p[1]))]


def _pdf_text_table3(pages: _Pages, grid: Grid, blank: str, label_style: int) -> None:
    rng = pages.rng
    matrix = grid.matrix()
    pages.ensure(10)
    note = grid.rows[0][0].text
    for part in wrap(note, rng.randint(24, 30)):
        pages.emit(part)
    for cell in (c for row in grid.rows[: grid.header_rows] for c in row if c.role == "header"):
        text = cell.text
        if len(text) >= 4 and rng.random() < 0.6:
            text = "\n".join(wrap(text, 2))
        pages.emit(text, 0.3)
    body = matrix[grid.header_rows:]
    cut = rng.randint(4, len(body) - 4)
    vertical = rng.random() < 0.6
    for chunk_start, chunk in ((0, body[:cut]), (cut, body[cut:])):
        for text in _pdf_label_chunk(chunk, rng, vertical, label_style):
            pages.emit(text, 0.5)
        for col in range(grid.label_cols, grid.ncols):
            _pdf_values(pages, [_cell_text(slots[col][0], blank) for slots in chunk])
        if chunk_start == 0:
            pages.break_page()


def _pdf_text_table2(pages: _Pages, grid: Grid, blank: str) -> None:
    rows = grid.matrix()
    i = 0
    while i < len(rows):
        article = rows[i][0][0].text
        header = [cell for cell, dr, dc in rows[i + 1] if not dc]
        j = i + 2
        while j < len(rows) and rows[j][0][0].role == "label":
            j += 1
        data = rows[i + 2:j]
        pages.ensure(3 + len(data))
        pages.emit(article)
        pages.emit(header[0].text)
        pages.emit(" ".join(c.text for c in header[1:]))
        for slots in data:
            pages.emit(slots[0][0].text)
        ncols = len(header) - 1
        for col in range(1, 1 + ncols):
            _pdf_values(pages, [_cell_text(slots[col][0], blank) for slots in data])
        i = j


def _pdf_text_table4(pages: _Pages, grid: Grid, blank: str) -> None:
    pages.ensure(12)
    for row in grid.rows[: grid.header_rows]:
        for cell in row:
            text = cell.text
            if len(text) == 4 and pages.rng.random() < 0.7:
                text = text[:2] + "\n" + text[2:]
            elif len(text) == 2 and pages.rng.random() < 0.5:
                text = text[0] + " " + text[1]
            pages.emit(text, 0.2)
    _pdf_values(pages, [_cell_text(c, blank) for c in grid.rows[-1]])


def render_pdf_text(report: Report, rng: random.Random,
                    table2: Callable[[_Pages, Grid, str], None] = _pdf_text_table2) -> str:
    """A PDF text dump; `table2` prints table 2 (the pdf_text_t2 family swaps in its own)."""
    blank = _blank_marker("pdf_text", rng)
    label_style = rng.choice([0, 0, 1])
    pages = _Pages(rng, capacity=rng.randint(30, 40))
    width = rng.randint(26, 32)
    for block in report.blocks:
        if block.kind == "table" and block.grid:
            {"table2": table2, "table4": _pdf_text_table4}.get(
                block.grid.name, lambda p, g, b: _pdf_text_table3(p, g, b, label_style)
            )(pages, block.grid, blank)
            continue
        lines = block.text.split("\n") if block.kind in ("title", "signature") else wrap(block.text, width)
        for line in lines:
            pages.ensure(1)
            pages.emit(line)
    pages.break_page()
    return "\n".join(pages.lines) + "\n"


# ----------------------------------------------------------------------------------------------
# family 6: broken PDF-to-markdown


def _pipe(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _sep(n: int) -> str:
    return "|" + "---|" * n


def _md_table2(grid: Grid, rng: random.Random, blank: str) -> list[str]:
    out: list[str] = []
    rows = grid.matrix()
    i = 0
    first = True
    while i < len(rows):
        article = rows[i][0][0].text
        header = [cell.text for cell, dr, dc in rows[i + 1] if not dc]
        j = i + 2
        while j < len(rows) and rows[j][0][0].role == "label":
            j += 1
        data = [[_cell_text(cell, blank) for cell, dr, dc in slots if not dc] for slots in rows[i + 2:j]]
        out.append(article)
        if first or rng.random() < 0.3:
            out += ["", "## 表二：主动公开政府信息情况"] if first else [""]
            out += [_pipe(header), _sep(len(header))]
            out += [_pipe(d) for d in data]
            out.append("")
        else:
            out.append("".join(header))
            out += [f"{d[0]} {' '.join(d[1:])}" for d in data]
        first = False
        i = j
    return out


def _md_table3_heading(grid: Grid, rng: random.Random) -> tuple[list[str], list[str]]:
    """Table 3's heading as a PDF converter leaves it above the pipe table: the note and the
    applicant-type headers cut into loose lines; returns those lines and the header cells' tails
    (the part of each legal-person column name cut off into the pipe table's header row)."""
    columns = [c.label for c in table3_columns()]
    legal = columns[1:-1]
    cuts = [max(1, min(len(t) - 1, rng.randint(2, 4))) for t in legal]
    heads = [t[:k] for t, k in zip(legal, cuts, strict=True)]
    tails = [t[k:] for t, k in zip(legal, cuts, strict=True)]
    note = grid.rows[0][0].text
    half = len(note) // 2
    out = [
        grid.rows[0][1].text,
        note[:half] + grid.rows[1][1].text,
        note[half:],
        columns[0] + columns[-1],
        "".join(heads[:-1]),
        heads[-1] + tails[-1],
        "",
        "## 表三：收到和处理政府信息公开申请情况",
    ]
    return out, tails


def _md_table3(grid: Grid, rng: random.Random, blank: str, label_style: int) -> list[str]:
    out, tails = _md_table3_heading(grid, rng)
    if rng.random() < 0.5:
        header = tails[:-1] + [""] * 5
    else:
        header = [f"数据{k}" for k in range(1, 7)] + ["", ""]
    out += [_pipe(header), _sep(len(header))]
    body = grid.matrix()[grid.header_rows:]
    split_at = rng.randint(5, len(body) - 5)
    pending: list[str] = []
    for i, slots in enumerate(body):
        labels = [_renumber(cell.text, label_style) for cell, dr, dc in slots[: grid.label_cols]
                  if not dr and not dc and cell.role == "label"]
        groups = [cell.text for cell, dr, dc in slots[: grid.label_cols]
                  if not dr and not dc and cell.role == "group"]
        values = [_cell_text(cell, blank) for cell, _, _ in slots[grid.label_cols:]]
        if i == split_at:
            out += ["", f"- {rng.randint(2, 4)} -", "", _pipe([f"数据{k}" for k in range(1, 8)]), _sep(7)]
        for g in groups:  # a merged group label drifts out of the table as free text
            pending += wrap(g, rng.randint(3, 5))
        label = labels[0] if labels else ""
        if len(label) > 12 and rng.random() < 0.5:
            pending += wrap(label, rng.randint(9, 11))
            out += pending
            pending = []
            out += [_pipe(values), _sep(len(values))]
        else:
            if pending and rng.random() < 0.5:
                out += pending
                pending = []
            out.append(_pipe([label, *values]))
    out += pending
    return out


def _md_table4(grid: Grid, rng: random.Random, blank: str) -> list[str]:
    groups = [c.text for c in grid.rows[0]]
    subgroups = [c.text for c in grid.rows[1] if c.colspan > 1]
    columns = [c.label for c in table4_columns()]
    heads = [c[:2] for c in columns[:-1]]
    tails = [c[2:] for c in columns[:-1]]
    out = [
        "".join(groups),
        "".join(subgroups),
        "".join(heads),
        columns[-1],
        columns[-1] * 2,
        "".join(tails) * 2,
    ]
    header = tails + heads + heads
    values = [_cell_text(c, blank) for c in grid.rows[-1]]
    if rng.random() < 0.5:  # the converter sometimes keeps the header words as free text only
        out += [_pipe(header), _sep(len(header))]
    out += [_pipe(values), _sep(len(values))]
    return out


def render_markdown(report: Report, rng: random.Random) -> str:
    blank = _blank_marker("markdown", rng)
    label_style = rng.choice([0, 0, 1])
    width = rng.randint(28, 32)
    out: list[str] = []
    for block in report.blocks:
        if block.kind == "table" and block.grid:
            name = block.grid.name
            if name == "table2":
                out += _md_table2(block.grid, rng, blank)
            elif name == "table3":
                out += _md_table3(block.grid, rng, blank, label_style)
            else:
                out += _md_table4(block.grid, rng, blank)
        elif block.kind in ("title", "signature"):
            out += block.text.split("\n")
        else:
            out += wrap(block.text, width)
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------
# families 7 and 8: real .docx and .pdf


def render_docx(report: Report, rng: random.Random) -> bytes:
    """A real .docx: paragraphs and tables, merged cells as gridSpan/vMerge.

    Own builder rather than `tests.fixtures_binary.build_docx`: that one looks every cell up with
    `table.cell(r, c)`, which rescans the whole table per call once merges exist (~3 s for table
    3); here the cells are fetched once and merged in place.
    """
    import docx

    blank = _blank_marker("docx", rng)
    document = docx.Document()
    for block in report.blocks:
        if block.kind == "title":
            document.add_heading(block.text, level=1)
        elif block.kind == "heading":
            document.add_paragraph(block.text, style="Heading 2" if rng.random() < 0.5 else None)
        elif block.kind in ("para", "signature"):
            for line in block.text.split("\n"):
                document.add_paragraph(line)
        elif block.kind == "table" and block.grid:
            _docx_table(document, block.grid, blank)
    return _fixed_zip_times(_save(document))


def _save(document: object) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)  # type: ignore[attr-defined]
    return buffer.getvalue()


def _docx_table(document: object, grid: Grid, blank: str) -> None:
    table = document.add_table(rows=len(grid.rows), cols=grid.ncols)  # type: ignore[attr-defined]
    table.style = "Table Grid"
    cells = [row.cells for row in table.rows]  # fetched once, before any merge
    for r, slots in enumerate(grid.matrix()):
        for c, (cell, dr, dc) in enumerate(slots):
            if dr or dc:
                continue
            target = cells[r][c]
            if cell.rowspan > 1 or cell.colspan > 1:
                target = target.merge(cells[r + cell.rowspan - 1][c + cell.colspan - 1])
            target.text = _cell_text(cell, blank)


def _fixed_zip_times(data: bytes) -> bytes:
    """Rewrite a .docx with fixed member timestamps, so the same seed gives the same bytes."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


_FONT = "STSong-Light"


def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))


def render_pdf(report: Report, rng: random.Random) -> bytes:
    """A real .pdf with a text layer and a ruled grid (reportlab, CID font STSong-Light).

    Own builder rather than `tests.fixtures_binary.build_pdf`: table 3 needs per-table column
    widths (a wide label block, narrow number columns) to print like the national template.
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_font()
    blank = _blank_marker("pdf", rng)
    body = ParagraphStyle("body", fontName=_FONT, fontSize=10.5, leading=16, wordWrap="CJK",
                          firstLineIndent=21)
    head = ParagraphStyle("head", parent=body, fontSize=12, firstLineIndent=0)
    title = ParagraphStyle("title", parent=body, fontSize=16, leading=22, alignment=1, firstLineIndent=0)
    cell_style = ParagraphStyle("cell", fontName=_FONT, fontSize=7.5, leading=9, wordWrap="CJK",
                                alignment=1)
    widths = {
        "table2": [5.0 * cm, 3.8 * cm, 3.8 * cm, 3.8 * cm],
        "table3": [1.0 * cm, 1.8 * cm, 5.0 * cm] + [1.25 * cm] * 7,
        "table4": [1.1 * cm] * 15,
    }
    story: list[object] = []
    for block in report.blocks:
        if block.kind == "title":
            story += [Paragraph(html.escape(block.text), title), Spacer(1, 12)]
        elif block.kind == "heading":
            story.append(Paragraph(html.escape(block.text), head))
        elif block.kind == "para":
            story.append(Paragraph(html.escape(block.text), body))
        elif block.kind == "signature":
            right = ParagraphStyle("right", parent=body, alignment=2)
            story += [Spacer(1, 18), *(Paragraph(line, right) for line in block.text.split("\n"))]
        elif block.kind == "table" and block.grid:
            grid = block.grid
            data: list[list[object]] = [["" for _ in range(grid.ncols)] for _ in grid.rows]
            commands: list[tuple[object, ...]] = [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("FONT", (0, 0), (-1, -1), _FONT, 7.5),
                ("ALIGN", (0, 0), (-1, -1), "CENTER"),
            ]
            for r, slots in enumerate(grid.matrix()):
                for c, (cell, dr, dc) in enumerate(slots):
                    if dr or dc:
                        continue
                    text = _cell_text(cell, blank)
                    data[r][c] = text if cell.role == "value" else Paragraph(html.escape(text), cell_style)
                    if cell.rowspan > 1 or cell.colspan > 1:
                        commands.append(("SPAN", (c, r), (c + cell.colspan - 1, r + cell.rowspan - 1)))
            story += [Spacer(1, 6), Table(data, colWidths=widths[grid.name], style=TableStyle(commands)),
                      Spacer(1, 6)]

    def footer(canvas: object, doc: object) -> None:
        canvas.setFont(_FONT, 9)  # type: ignore[attr-defined]
        canvas.drawCentredString(A4[0] / 2, 1.2 * cm, f"- {doc.page} -")  # type: ignore[attr-defined]

    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2 * cm,
                      bottomMargin=2 * cm, title=report.title, invariant=1).build(
        story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------
# layouts the reader still loses (LOST_FAMILIES): same report model, real files' damage


@dataclass
class _T2Group:
    """One article block of table 2 as printed: its header words, row labels and value cells."""

    article: str
    info: str
    headers: list[str]
    labels: list[str]
    cells: list[list[GridCell]]


def _table2_groups(grid: Grid) -> list[_T2Group]:
    """Table 2's grid cut into its article blocks (the grid has no row spans)."""
    out: list[_T2Group] = []
    rows = grid.rows
    i = 0
    while i < len(rows):
        header = rows[i + 1]
        j = i + 2
        while j < len(rows) and rows[j][0].role == "label":
            j += 1
        data = rows[i + 2:j]
        out.append(_T2Group(rows[i][0].text, header[0].text, [c.text for c in header[1:]],
                            [r[0].text for r in data], [r[1:] for r in data]))
        i = j
    return out


def _column_variants() -> dict[str, list[str]]:
    """Table-2 column label → its printed variants (both templates), from the schema."""
    out: dict[str, list[str]] = {}
    for template in ("2019", "2021"):
        for group in table2(template):
            for col in group.columns:
                out.setdefault(col.label, list(col.variants))
    return out


def _lost_blank(family: str, rng: random.Random) -> str:
    """How a blank value cell prints in a lost family (a separate table: `_blank_marker`'s draws stay)."""
    choices = {
        "glued2019": [""],
        "pdf_text_t2": ["-", "—", "/"],
        "ocr_markdown": ["", "-", "—"],
        "pdf_markdown": ["", "", "-"],
    }[family]
    return rng.choice(choices)


# glued2019: the 2019 table 2 in crawler text: signed changes and amounts with units glued on


def _glued2019_table2(grid: Grid, rng: random.Random) -> str:
    """Table 2 glued: `行政许可12-310`, `政府集中采购3125.6万元`, header words in their variants."""
    variants = _column_variants()
    unit = rng.choice(["万元", "万元", "元"])
    unit_glued = rng.random() < 0.75
    plus = rng.random() < 0.2  # some bodies print a rise as +3
    zero_amount = rng.choice(["0", "0", "0.00"])
    fee_unit = rng.random() < 0.3
    space = rng.choice([0.02, 0.06, 0.12])
    parts: list[str] = []
    for group in _table2_groups(grid):
        parts += [group.article, group.info]
        for head in group.headers:
            head = rng.choice([head, head, *variants.get(head, [])])
            if head == "采购总金额" and not unit_glued:
                head += rng.choice([f"（{unit}）", f"（单位：{unit}）", ""])
            parts.append(head)
        for label, cells in zip(group.labels, group.cells, strict=True):
            parts.append(label)
            for cell in cells:
                text, path = cell.text, cell.path or ""
                if text and path.endswith(".change") and plus and not text.startswith("-") and text != "0":
                    text = "+" + text
                if text and path.endswith("centralized_procurement.amount"):
                    text = (zero_amount if text == "0" else text) + (unit if unit_glued else "")
                if text and path.endswith(".amount_wan_yuan") and fee_unit:
                    text += "万元"
                parts.append(text)
    return "".join(p + (" " if rng.random() < space else "") for p in parts)


def render_glued2019(report: Report, rng: random.Random) -> str:
    return render_glued(report, rng, table2=_glued2019_table2)


# pdf_text_t2: table 2 of a PDF text dump with labels and values in the orders extractors give


def _pdf_text_t2_table2(pages: _Pages, grid: Grid, blank: str) -> None:
    """Table 2 as extractors dump it from real PDFs.

    Per report: labels of each block then its values column by column or row by row; or every
    block's labels first (article headers between them) and all values after; the next block's
    article header sometimes before this block's values; the 信息内容 header row split over two
    lines (`信息 本年制发 …` / `内容 件数 …`); a page footer somewhere inside the table.
    """
    rng = pages.rng
    groups = _table2_groups(grid)
    labels_first = rng.random() < 0.35
    row_major = rng.random() < 0.4
    row_joined = rng.random() < 0.5  # a row's values on one line, space separated
    lookahead = not labels_first and rng.random() < 0.5
    header_style = rng.choice(["joined", "lines", "split", "two_rows"])
    cut_labels = rng.random() < 0.4
    lines: list[str] = []

    def header(group: _T2Group) -> None:
        if header_style == "joined":
            lines.extend([group.info, " ".join(group.headers)])
        elif header_style == "lines":
            lines.extend([group.info, *group.headers])
        elif header_style == "split":
            lines.append(group.info)
            for head in group.headers:
                cut = rng.randint(2, len(head) - 2) if len(head) >= 4 else len(head)
                lines.extend([head[:cut], head[cut:]] if head[cut:] else [head])
        else:  # a two-line header row read line by line across all its cells
            cuts = [min(len(h), rng.randint(2, 4)) for h in group.headers]
            top = [group.info[:2], *(h[:k] for h, k in zip(group.headers, cuts, strict=True))]
            bottom = [group.info[2:], *(h[k:] for h, k in zip(group.headers, cuts, strict=True) if h[k:])]
            lines.extend([" ".join(top), " ".join(bottom)])

    def labels(group: _T2Group) -> None:
        for label in group.labels:
            if cut_labels and len(label) >= 6 and rng.random() < 0.5:
                cut = rng.randint(3, len(label) - 2)
                lines.extend([label[:cut], label[cut:]])
            else:
                lines.append(label)

    def values(group: _T2Group) -> None:
        table = [[_cell_text(c, blank) for c in cells] for cells in group.cells]
        if row_major and row_joined:
            lines.extend(" ".join(row) for row in table)
        elif row_major:
            lines.extend(v for row in table for v in row)
        else:
            lines.extend(row[col] for col in range(len(group.headers)) for row in table)

    for k, group in enumerate(groups):
        if not (lookahead and k):  # with lookahead the article was printed before the last values
            lines.append(group.article)
        header(group)
        labels(group)
        if not labels_first:
            if lookahead and k + 1 < len(groups):
                lines.append(groups[k + 1].article)
            values(group)
    if labels_first:
        for group in groups:
            values(group)
    footer_at = rng.randint(1, len(lines) - 1)
    pages.ensure(3)
    for i, line in enumerate(lines):
        if i == footer_at:
            pages.break_page()
        for part in line.split("\n"):
            if rng.random() < 0.3 and part and part[0].isdigit():
                pages.emit_tight(part)
            else:
                pages.emit(part, 0.5)


def render_pdf_text_t2(report: Report, rng: random.Random) -> str:
    return render_pdf_text(report, rng, table2=_pdf_text_t2_table2)


# ocr_markdown: pipe tables from OCR


# The look-alikes OCR confuses most in these labels first; the rest only where none of those occurs.
_OCR_LOOKALIKES = {"予": "子", "已": "己", "己": "已", "未": "末", "人": "入", "理": "埋", "开": "幵", "项": "顼"}
_OCR_COMMON = "予已己未"


def _ocr_misspell(text: str, rng: random.Random) -> str:
    """One character swapped for a look-alike, as OCR does (予→子, 己→已, 未→末 …)."""
    spots = [i for i, ch in enumerate(text) if ch in _OCR_COMMON]
    spots = spots or [i for i, ch in enumerate(text) if ch in _OCR_LOOKALIKES]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[:i] + _OCR_LOOKALIKES[text[i]] + text[i + 1:]


def _ocr_placeholder(rng: random.Random) -> list[str]:
    """An empty table OCR emits for a ruled box with nothing legible in it."""
    ncols = rng.randint(2, 4)
    rows = rng.randint(1, 3)
    filler = rng.choice(["-", "-", " "])
    return ["", _pipe(["-"] * ncols), _sep(ncols), *(_pipe([filler] * ncols) for _ in range(rows)), ""]


def _table3_body(grid: Grid) -> list[tuple[str, str, list[GridCell]]]:
    """Table 3's printed rows as (row key, label text, value cells)."""
    out = []
    for slots in grid.matrix()[grid.header_rows:]:
        cells = [cell for cell, _, _ in slots[grid.label_cols:]]
        label = next(cell.text for cell, dr, dc in slots[: grid.label_cols] if cell.role == "label")
        key = (cells[0].path or "").split(".")[1]
        out.append((key, label, cells))
    return out


def _ocr_table2(grid: Grid, rng: random.Random, blank: str, misspelt: set[str]) -> list[str]:
    """Table 2 as one pipe table; merged cells repeated or left empty."""
    repeat = rng.random() < 0.5
    rows: list[list[str]] = []
    for row in grid.rows:
        cells: list[str] = []
        for cell in row:
            text = _cell_text(cell, blank)
            if cell.role == "label" and text in misspelt:
                text = _ocr_misspell(text, rng)
            fill = text if repeat and cell.role != "value" else ""
            cells += [text] + [fill] * (cell.colspan - 1)
        rows.append(cells)
    return [_pipe(rows[0]), _sep(grid.ncols), *(_pipe(r) for r in rows[1:])]


def _data_header(first: str, rng: random.Random) -> list[str]:
    """数据1 … 数据6 and the total as 数据7 or 总计, under a first cell such as 项目."""
    last = rng.choice(["数据7", "总计"])
    return [first, *(f"数据{k}" for k in range(1, 7)), last]


def _ocr_table3(grid: Grid, rng: random.Random, blank: str, misspelt: set[str],
                placeholder_at: int) -> list[str]:
    """Table 3 in small tables: the top rows, one per result group, the totals; 数据n headers."""
    by_key = {r.key: r for r in table3_rows()}
    applicant = [c.label for c in table3_columns()]
    top_group = by_key[table3_result_rows()[0]].group or ""
    body = _table3_body(grid)
    tables: list[tuple[str | None, list[tuple[str, str, list[GridCell]]]]] = []
    for key, label, cells in body:
        row = by_key[key]
        group = row.group if row.group and row.group != top_group else None
        if key in ("total", "carried_forward") and rng.random() < 0.5 and tables[-1][0]:
            group = tables[-1][0]  # the closing rows stay in the last group's table
        elif key in ("total", "carried_forward"):
            group = "end"
        if not tables or tables[-1][0] != group:
            tables.append((group, []))
        tables[-1][1].append((key, label, cells))
    firsts = {sum(len(rows) for _, rows in tables[:t]) for t in range(len(tables))}
    wrong_at = rng.choice([i for i in range(len(body) - 4, len(body)) if i not in firsts])
    wrong = rng.choice([
        ["信息内容", "本年制发件数", "本年废止件数", "现行有效件数", "", "", "", ""],
        ["", *[c.label for c in table4_columns()], "结果维持", "结果纠正"],
        _data_header("", rng),
    ])
    top_style = rng.choice(["row", "prefix", "none"])
    out: list[str] = []
    seen = 0
    for t, (group, rows) in enumerate(tables):
        if t == placeholder_at:
            out += _ocr_placeholder(rng)
        first = rng.choice(["项目", "", "信息内容"])
        title = None
        if group not in (None, "end") and rng.random() < 0.5:
            first = group
        elif group not in (None, "end"):
            title = group if rng.random() < 0.6 else None
        header = _data_header(first, rng) if t == 0 or rng.random() < 0.7 else [first, *applicant]
        out += [""] + ([title, ""] if title else []) + [_pipe(header), _sep(len(header))]
        for key, label, cells in rows:
            if seen == wrong_at:
                out.append(_pipe(wrong))
                if rng.random() < 0.5:
                    out.append(_sep(len(wrong)))
            seen += 1
            if label in misspelt:
                label = _ocr_misspell(label, rng)
            if key == table3_result_rows()[0] and top_style == "row":
                out.append(_pipe([top_group] + [""] * 7))
            elif key == table3_result_rows()[0] and top_style == "prefix":
                label = top_group + label
            out.append(_pipe([label, *(_cell_text(c, blank) for c in cells)]))
    return out + [""]


def _ocr_table4(grid: Grid, rng: random.Random, blank: str, placeholder_at: int) -> list[str]:
    """Table 4 as three small tables (行政复议 / 未经复议直接起诉 / 复议后起诉): header row, value row."""
    columns = [c.label for c in table4_columns()]
    values = [_cell_text(c, blank) for c in grid.rows[-1]]
    style = rng.choice(["plain", "bold", "heading"])
    out: list[str] = []
    for k, group in enumerate(table4_groups()):
        if k == placeholder_at:
            out += _ocr_placeholder(rng)
        title = group.label if k != 1 or rng.random() < 0.5 else "行政诉讼 " + group.label
        title = {"plain": title, "bold": f"**{title}**", "heading": f"### {title}"}[style]
        out += ["", title, "", _pipe(columns), _sep(5), _pipe(values[5 * k:5 * k + 5])]
    return out + [""]


def render_ocr_markdown(report: Report, rng: random.Random) -> str:
    blank = _lost_blank("ocr_markdown", rng)
    width = rng.randint(30, 40)
    labels = [
        cell.text for block in report.blocks if block.grid and block.grid.name != "table4"
        for row in block.grid.rows for cell in row
        if cell.role == "label" and any(ch in _OCR_LOOKALIKES for ch in cell.text)
    ]
    misspelt = set(rng.sample(labels, min(len(labels), rng.randint(2, 4))))
    # where the placeholder tables go: before table 2, inside table 3, inside table 4 (≥ 1)
    spots = rng.sample(["t2", "t3", "t4"], rng.randint(1, 2))
    out: list[str] = []
    for block in report.blocks:
        if block.kind == "table" and block.grid:
            name = block.grid.name
            if name == "table2":
                out += _ocr_placeholder(rng) if "t2" in spots else [""]
                out += _ocr_table2(block.grid, rng, blank, misspelt) + [""]
            elif name == "table3":
                at = rng.randint(1, 4) if "t3" in spots else -1
                out += _ocr_table3(block.grid, rng, blank, misspelt, at)
            else:
                out += _ocr_table4(block.grid, rng, blank, rng.randint(0, 2) if "t4" in spots else -1)
        elif block.kind == "title":
            out += ["# " + block.text, ""]
        elif block.kind == "heading":
            out += [("## " if rng.random() < 0.6 else "") + block.text, ""]
        elif block.kind == "signature":
            out += ["", *block.text.split("\n")]
        else:
            out += [*wrap(block.text, width), ""]
    return "\n".join(out) + "\n"


# pdf_markdown: PDF-to-markdown with cells lost to loose text


def _loose_value(cell: GridCell, text: str, rng: random.Random) -> str:
    """A value that fell out of its row: `55`, or with the note its cell carried."""
    value = cell.text
    if value.isdigit() and int(value) > 0 and (cell.path or "").endswith(("in_force", "total_published")):
        n = rng.randint(0, int(value))
        return rng.choice([text, f"{text}（含自然失效 {n} 件）", f"{text}（含自然失效{n}件）"])
    return text


def _pdfmd_table2(grid: Grid, rng: random.Random, blank: str) -> list[str]:
    """Article blocks as loose text or pipe tables; rows whose last value lands on the next line."""
    groups = _table2_groups(grid)
    late_first = rng.random() < 0.4  # block (一)'s pipe table printed after the other blocks
    loose_share = rng.choice([0.3, 0.6, 1.0])
    out: list[str] = []
    held: list[str] = []
    for k, group in enumerate(groups):
        out.append(group.article)
        table = [[_cell_text(c, blank) for c in cells] for cells in group.cells]
        if k == 0 or rng.random() < 0.3:
            lines = ["## 表二：主动公开政府信息情况"] if k == 0 else []
            header = [group.info, *group.headers]
            lines += [_pipe(header), _sep(len(header))]
            forced = rng.randrange(len(table)) if k == 0 else -1
            for r, (row, cells) in enumerate(zip(table, group.cells, strict=True)):
                if len(row) > 1 and (r == forced or rng.random() < loose_share):
                    lines.append(_pipe([group.labels[r], *row[:-1]]))
                    lines.append(_loose_value(cells[-1], row[-1], rng))
                else:
                    lines.append(_pipe([group.labels[r], *row]))
            if k == 0 and late_first:
                held = ["", *lines, ""]
            else:
                out += ["", *lines, ""]
        else:
            out.append(group.info + "".join(group.headers))
            out += [f"{label} {' '.join(row)}" for label, row in zip(group.labels, table, strict=True)]
    return out + held


def _pdfmd_table3(grid: Grid, rng: random.Random, blank: str, label_style: int) -> list[str]:
    """Table 3 as PDF-to-markdown breaks it.

    Nine-cell rows (group label, sub-row label, seven values), labels cut across lines (the rest
    starts the next line, or the first half ends the previous row), group labels drifting out as
    loose text, header cells split (`商业企` / `业`), value-only rows under loose labels, a page
    footer inside.
    """
    out, tails = _md_table3_heading(grid, rng)
    header = tails[:-1] + [""] * 5
    out += [_pipe(header), _sep(len(header))]
    trailing = rng.random() < 0.5
    nine_share = rng.choice([0.4, 0.7, 1.0])
    cut_share = rng.choice([0.2, 0.4])
    body = grid.matrix()[grid.header_rows:]
    footer_at = rng.randint(5, len(body) - 5)
    first_nine = next(i for i, s in enumerate(body) if any(c.role == "group" and not dr for c, dr, _ in s))
    pending: list[str] = []
    prev_pipe = -1  # index in `out` of the previous row's pipe line
    for i, slots in enumerate(body):
        labels = [_renumber(cell.text, label_style) for cell, dr, dc in slots[: grid.label_cols]
                  if not dr and not dc and cell.role == "label"]
        groups = [cell.text for cell, dr, dc in slots[: grid.label_cols]
                  if not dr and not dc and cell.role == "group"]
        values = [_cell_text(cell, blank) for cell, _, _ in slots[grid.label_cols:]]
        if i == footer_at:
            out += ["", f"- {rng.randint(2, 4)} -", ""]
            prev_pipe = -1
        label = labels[0] if labels else ""
        lead: list[str] = []
        if groups and (i == first_nine or rng.random() < nine_share):
            group = groups[-1]
            k = rng.randint(2, len(group))
            lead = [group[:k]]
            pending += wrap(group[k:], rng.randint(2, 4)) if group[k:] else []
        else:
            for g in groups:
                pending += wrap(g, rng.randint(3, 5))
        after: list[str] = []
        if len(label) > 10 and rng.random() < cut_share:
            cut = rng.randint(5, len(label) - 3)
            if prev_pipe >= 0 and rng.random() < 0.5:  # the first half ends the previous row
                out[prev_pipe] = out[prev_pipe] + f" {label[:cut]} |"
                label = label[cut:]
            else:
                label, after = label[:cut], [label[cut:]]
        if pending and rng.random() < 0.5:
            out += pending
            pending = []
        cells = [*lead, label, *values]
        if trailing and not groups and not lead and label.startswith(("一", "二", "四")):
            cells.append("")
        out.append(_pipe(cells))
        prev_pipe = len(out) - 1
        if after:
            out += after
            prev_pipe = -1
        if rng.random() < 0.12:
            out.append(_sep(len(cells)))
    return out + pending


def render_pdf_markdown(report: Report, rng: random.Random) -> str:
    blank = _lost_blank("pdf_markdown", rng)
    label_style = rng.choice([0, 0, 1])
    width = rng.randint(28, 32)
    out: list[str] = ["正文"] if rng.random() < 0.5 else []
    for block in report.blocks:
        if block.kind == "table" and block.grid:
            name = block.grid.name
            if name == "table2":
                out += _pdfmd_table2(block.grid, rng, blank)
            elif name == "table3":
                out += _pdfmd_table3(block.grid, rng, blank, label_style)
            else:
                out += _md_table4(block.grid, rng, blank)
        elif block.kind in ("title", "signature"):
            out += block.text.split("\n")
        elif block.kind == "heading":
            out += ["", block.text]
        else:
            out += wrap(block.text, width)
    return "\n".join(out) + "\n"


_LOST_RENDERERS: dict[str, Callable[[Report, random.Random], str]] = {
    "glued2019": render_glued2019,
    "pdf_text_t2": render_pdf_text_t2,
    "ocr_markdown": render_ocr_markdown,
    "pdf_markdown": render_pdf_markdown,
}


# ----------------------------------------------------------------------------------------------
# entry point

_TEXT_RENDERERS: dict[str, Callable[[Report, random.Random], str]] = {
    "tabs": render_tabs,
    "lines": render_lines,
    "html": render_html,
    "glued": render_glued,
    "pdf_text": render_pdf_text,
    "markdown": render_markdown,
}
_EXTENSIONS = {"html": "html", "docx": "docx", "pdf": "pdf", "ocr_markdown": "md"}


def render(values: Values, template: str, family: str, *, seed: int) -> tuple[bytes, str]:
    """The report printed in `family`: (file bytes, a neutral file name with the right extension)."""
    if family not in FAMILIES + LOST_FAMILIES:
        raise ValueError(f"unknown family {family!r}; one of {FAMILIES + LOST_FAMILIES}")
    rng = random.Random(f"{family}:{seed}")
    report = build_report(values, template, rng)
    if family == "docx":
        data = render_docx(report, rng)
    elif family == "pdf":
        data = render_pdf(report, rng)
    elif family in _LOST_RENDERERS:
        data = _LOST_RENDERERS[family](report, rng).encode("utf-8")
    else:
        data = _TEXT_RENDERERS[family](report, rng).encode("utf-8")
    digest = hashlib.sha256(f"{family}:{seed}:{template}".encode()).hexdigest()[:12]
    return data, f"nb_{digest}.{_EXTENSIONS.get(family, 'txt')}"
