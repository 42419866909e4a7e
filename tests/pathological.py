"""Pathological inputs: one generator per kind, each returning (file bytes, file name).

Every input here must be read or refused with a NianbaoError in bounded time and memory; the
benchmark (`benchmarks/pathological.py`) runs them at full size, the tests
(`tests/test_pathological.py`) at a size that keeps the test file fast. Sizes are keyword
arguments with the benchmark's size as the default. Generators stream what they can (the
bombs are written chunk by chunk), so building an input never costs what reading it would.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable

from service.templates import table3_columns, table3_rows
from tests.corpus.render import render
from tests.corpus.values import Values, generate_values, numeric_paths

Generated = tuple[bytes, str]

_W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_HEADING = "某某县人民政府2023年政府信息公开工作年度报告"


def _values(seed: int, template: str = "2021") -> Values:
    return generate_values(random.Random(seed), template)


def _busy_values(seed: int) -> Values:
    """The first report from `seed` on with many applications (most seeds are quiet offices)."""
    for candidate in range(seed, seed + 1000):
        values = _values(candidate)
        total = values.get("applications.new_received.total")
        if isinstance(total, int) and total >= 100:
            return values
    raise AssertionError("no busy report in 1000 seeds")


def long_digit_cell(digits: int = 400, seed: int = 1) -> Generated:
    """A tab-separated report whose one table-3 cell is hundreds of digits long."""
    values = _values(seed)
    values["applications.granted.natural_person"] = int("9" * digits)
    data, _ = render(values, "2021", "tabs", seed=seed)
    return data, "long_digit_cell.txt"


def all_cells_30_digits(digits: int = 30, seed: int = 2) -> Generated:
    """Every table cell of the report printed as a 30-digit number."""
    values = _values(seed)
    rng = random.Random(seed)
    for path in numeric_paths("2021"):
        if values.get(path) is not None:
            values[path] = rng.randrange(10 ** (digits - 1), 10**digits)
    data, _ = render(values, "2021", "tabs", seed=seed)
    return data, "all_cells_30_digits.txt"


def glued_long_rows(scale: int = 100_003, seed: int = 3) -> Generated:
    """Glued crawler text whose table-3 rows are long digit runs that split many ways.

    The application counts are a linear mix of two consistent reports (every template rule is
    a sum, so the mix is consistent too): every cell is several digits, every row one long run.
    """
    first, second = _busy_values(seed), _busy_values(seed + 1000)
    paths = [f"applications.{r.key}.{c.key}" for r in table3_rows() for c in table3_columns()]
    for path in paths:
        a, b = first.get(path), second.get(path)
        if isinstance(a, int) and isinstance(b, int):
            first[path] = a * scale + b * 97
    data, _ = render(first, "2021", "glued", seed=seed)
    return data, "glued_long_rows.txt"


def huge_table(rows: int = 5_000, seed: int = 4) -> Generated:
    """An HTML report followed by a data table of thousands of rows."""
    report, _ = render(_values(seed), "2021", "html", seed=seed)
    body = "".join(
        f"<tr><td>第{i}项</td>" + "".join(f"<td>{(i * 7 + j) % 1000}</td>" for j in range(7)) + "</tr>"
        for i in range(rows)
    )
    extra = f"<table border=1>{body}</table>".encode()
    marker = b"</body>"
    at = report.rfind(marker)
    data = report[:at] + extra + report[at:] if at >= 0 else report + extra
    return data, "huge_table.html"


def deep_html(depth: int = 5_000, seed: int = 5) -> Generated:
    """A report page whose text sits inside thousands of nested <div>s."""
    report, _ = render(_values(seed), "2021", "html", seed=seed)
    text = report.decode("utf-8")
    start, end = text.find("<body"), text.rfind("</body>")
    start = text.find(">", start) + 1
    inner = "<div>" * depth + text[start:end] + "</div>" * depth
    return (text[:start] + inner + text[end:]).encode("utf-8"), "deep.html"


def _docx_with_body(body_chunks: Callable[[], list[bytes]] | None, repeat: int) -> bytes:
    """A minimal valid .docx whose word/document.xml is streamed: head, body chunk × repeat, tail."""
    head = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{_W_NS}"><w:body>'
            f"<w:p><w:r><w:t>{_HEADING}</w:t></w:r></w:p>").encode()
    tail = b"</w:body></w:document>"
    chunk = b"".join(body_chunks()) if body_chunks else b"<w:p><w:r><w:t>x</w:t></w:r></w:p>"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'))
        archive.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
            '.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats'
            '.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            "</Relationships>"))
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(head)
            block = chunk * max(1, (1 << 20) // len(chunk))
            written = 0
            total = len(chunk) * repeat
            while written + len(block) <= total:
                member.write(block)
                written += len(block)
            member.write(chunk * ((total - written) // len(chunk)))
            member.write(tail)
    return out.getvalue()


def docx_bomb(inflated_mb: int = 400) -> Generated:
    """A small .docx whose document.xml inflates to hundreds of MB (its sizes declared honestly)."""
    chunk = b"<w:p><w:r><w:t>x</w:t></w:r></w:p>"
    return _docx_with_body(None, inflated_mb * (1 << 20) // len(chunk)), "bomb.docx"


def docx_under_the_cap(inflated_mb: int = 15) -> Generated:
    """The largest document XML the default cap (16 MB) lets through: what parsing it costs."""
    return docx_bomb(inflated_mb)[0], "under_the_cap.docx"


def docx_bomb_lying(inflated_mb: int = 400, declared: int = 4096) -> Generated:
    """The same bomb with its declared uncompressed size rewritten to a few KB: sizes can lie."""
    data = bytearray(docx_bomb(inflated_mb)[0])
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("word/document.xml")
    # Local header: uncompressed size at +22 (0xFFFFFFFF with a zip64 extra); rewrite both forms.
    _set_sizes(data, info.header_offset, declared)
    name = b"word/document.xml"
    central = pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) >= 0:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46 : pos + 46 + name_len] == name:
            central = pos
            break
        pos += 4
    struct.pack_into("<I", data, central + 24, declared)
    extra_len = struct.unpack_from("<H", data, central + 30)[0]
    _patch_zip64_extra(data, central + 46 + len(name), extra_len, declared)
    return bytes(data), "bomb_lying.docx"


def _set_sizes(data: bytearray, offset: int, declared: int) -> None:
    name_len, extra_len = struct.unpack_from("<HH", data, offset + 26)
    struct.pack_into("<I", data, offset + 22, declared)
    _patch_zip64_extra(data, offset + 30 + name_len, extra_len, declared)


def _patch_zip64_extra(data: bytearray, start: int, length: int, declared: int) -> None:
    """Rewrite the uncompressed size in a zip64 extra field (id 0x0001), if there is one."""
    pos = start
    while pos + 4 <= start + length:
        tag, size = struct.unpack_from("<HH", data, pos)
        if tag == 0x0001 and size >= 8:
            struct.pack_into("<Q", data, pos + 4, declared)
        pos += 4 + size


def _raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF from its numbered objects (object 1 the catalog), with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def pdf_many_pages(pages: int = 20_000, declared: int | None = None) -> Generated:
    """A PDF of 20,000 tiny pages, each with a few characters, written in raw PDF syntax.

    `declared` sets the page tree's /Count (default: the truth): a lying count must not help.
    """
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, filled in below
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    content = b"BT /F1 4 Tf 1 1 Td (12 34) Tj ET"
    objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    kids = []
    for _ in range(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 20 10] "
                       b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>")
        kids.append(b"%d 0 R" % len(objects))
    count = pages if declared is None else declared
    objects[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (count, b" ".join(kids))
    return _raw_pdf(objects), "many_pages.pdf" if declared is None else "lying_count.pdf"


def pdf_lying_page_count(pages: int = 20_000) -> Generated:
    """20,000 pages under a page tree that claims one."""
    return pdf_many_pages(pages, declared=1)


def pdf_dense_pages(pages: int = 100, lines: int = 60) -> Generated:
    """As many dense pages as the page limit allows: every page full of report lines and digits."""
    words = (b"(Zhengfu xinxi gongkai 2023: shenqing 123 jian, yuyi gongkai 45 jian, bufen gongkai 6 jian, "
             b"fuyi 0 jian) Tj")
    content = b"BT /F1 7 Tf 10 830 Td 9 TL " + b" T* ".join(words for _ in range(lines)) + b" ET"
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    _add_pages(objects, pages, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                               b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>")
    return _raw_pdf(objects), "dense_pages.pdf"


def _add_pages(objects: list[bytes], pages: int, page: bytes) -> None:
    """`pages` copies of the page object, and the page tree (object 2, left empty) listing them."""
    kids = []
    for _ in range(pages):
        objects.append(page)
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, b" ".join(kids))


def pdf_flate_bomb(inflated_mb: int = 1024) -> Generated:
    """A one-page PDF whose content stream is small compressed and a gigabyte inflated."""
    squeeze = zlib.compressobj(9)
    parts = [squeeze.compress(b"BT /F1 12 Tf 20 100 Td (2023) Tj ET\n")]
    block = b" " * (1 << 20)
    parts.extend(squeeze.compress(block) for _ in range(inflated_mb))
    parts.append(squeeze.flush())
    stream = b"".join(parts)
    return _raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Count 1 /Kids [4 0 R] >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Resources << /Font << /F1 3 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]), "flate_bomb.pdf"


def pdf_font_without_bbox(pages: int = 3) -> Generated:
    """Pages set in a font whose descriptor has no /FontBBox, as Chromium's "print to PDF"
    writes them: pdfminer logs a warning for each such font it loads."""
    content = b"BT /F1 12 Tf 20 100 Td (2023 nian zhengfu xinxi gongkai gongzuo niandu baogao) Tj ET"
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",
        b"<< /Type /Font /Subtype /TrueType /BaseFont /AAAAAA+NotoSans /FirstChar 32 /LastChar 126 "
        b"/FontDescriptor 4 0 R >>",
        b"<< /Type /FontDescriptor /FontName /AAAAAA+NotoSans /Flags 32 >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    _add_pages(objects, pages, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 200] "
                               b"/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>")
    return _raw_pdf(objects), "no_fontbbox.pdf"


def huge_single_line(size: int = 19 * 1024 * 1024) -> Generated:
    """One line of report-like text (no line break at all) near the upload limit."""
    unit = (_HEADING + " 本年度共收到政府信息公开申请123件，予以公开45件，部分公开6件。").encode()
    return (unit * (size // len(unit) + 1))[:size].decode("utf-8", "ignore").encode(), "one_line.txt"


def html_empty_cells(size: int = 19 * 1024 * 1024) -> Generated:
    """An HTML page near the upload limit that is one table of empty cells: no text at all."""
    row = b"<tr>" + b"<td></td>" * 50 + b"</tr>"
    head = f"<html><head><meta charset='utf-8'><title>{_HEADING}</title></head><body><table>".encode()
    body = row * ((size - len(head) - 30) // len(row))
    return head + body + b"</table></body></html>", "empty_cells.html"


def docx_entity_bomb(levels: int = 9) -> Generated:
    """A .docx whose document.xml defines nested entities ("billion laughs")."""
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1))
    xml = (f'<?xml version="1.0"?><!DOCTYPE w:document [{entities}]>'
           f'<w:document xmlns:w="{_W_NS}"><w:body><w:p><w:r><w:t>{_HEADING}&lol{levels};</w:t></w:r></w:p>'
           "</w:body></w:document>").encode()
    data = _docx_with_body(None, 1)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, xml if info.filename == "word/document.xml" else src.read(info))
    return out.getvalue(), "entity_bomb.docx"


def single_line_report(size: int = 520_000) -> Generated:
    """About 200k characters on one line (the longest real report, glued as crawlers save it):
    under every cap, so the readers themselves must stay linear in the line's length."""
    return huge_single_line(size)[0], "one_line_report.txt"


def binary_junk(size: int = 2 * 1024 * 1024, seed: int = 9) -> Generated:
    """Random bytes under a report's name."""
    return random.Random(seed).randbytes(size), "report.txt"


def gbk_html(seed: int = 10) -> Generated:
    """A report page saved in GBK with its charset declared, as many government sites serve it."""
    page, _ = render(_values(seed), "2021", "html", seed=seed)
    text = page.decode("utf-8")
    if "charset" not in text[:2000].lower():
        text = text.replace("<head>", '<head><meta http-equiv="Content-Type" content="text/html; charset=gbk">', 1)
    else:
        text = text.replace("utf-8", "gbk").replace("UTF-8", "gbk")
    return text.encode("gb18030"), "gbk.html"


# The kinds, with the benchmark's sizes; the tests call the same functions with smaller sizes.
KINDS: dict[str, Callable[[], Generated]] = {
    "long_digit_cell": long_digit_cell,
    "all_cells_30_digits": all_cells_30_digits,
    "glued_long_rows": glued_long_rows,
    "huge_table": huge_table,
    "deep_html": deep_html,
    "docx_bomb": docx_bomb,
    "docx_under_the_cap": docx_under_the_cap,
    "docx_bomb_lying": docx_bomb_lying,
    "pdf_many_pages": pdf_many_pages,
    "pdf_lying_page_count": pdf_lying_page_count,
    "pdf_dense_pages": pdf_dense_pages,
    "pdf_flate_bomb": pdf_flate_bomb,
    "pdf_font_without_bbox": pdf_font_without_bbox,
    "html_empty_cells": html_empty_cells,
    "docx_entity_bomb": docx_entity_bomb,
    "huge_single_line": huge_single_line,
    "single_line_report": single_line_report,
    "binary_junk": binary_junk,
    "gbk_html": gbk_html,
}
