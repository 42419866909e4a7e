"""Decide what a file is from its bytes (names lie: crawlers save HTML as .txt) and decode text."""

from __future__ import annotations

import codecs
import io
import re
import unicodedata
from typing import Literal

from service.errors import UnreadableDocument, UnsupportedFormat

Kind = Literal["pdf", "docx", "html", "markdown", "text"]

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"II*\x00", "TIFF image"),
    (b"MM\x00*", "TIFF image"),
)
_ARCHIVE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"{\\rtf", "RTF document (.rtf)"),
)
_ZIP_KINDS: tuple[tuple[str, str], ...] = (
    ("xl/workbook.xml", "Excel workbook (.xlsx)"),
    ("ppt/presentation.xml", "PowerPoint presentation (.pptx)"),
    ("OFD.xml", "OFD document (.ofd)"),
)
_OLE_STREAMS: tuple[tuple[bytes, str], ...] = (
    ("WordDocument".encode("utf-16-le"), "Word 97-2003 / WPS document (.doc/.wps)"),
    ("Workbook".encode("utf-16-le"), "Excel 97-2003 workbook (.xls/.et)"),
    ("PowerPoint".encode("utf-16-le"), "PowerPoint 97-2003 presentation (.ppt)"),
)
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "hz", "cp936", "euc_cn", "x-gbk"}
_MARKDOWN_NAMES = (".md", ".markdown", ".mdown")
_HTML_NAMES = (".htm", ".html", ".shtml", ".xhtml", ".asp", ".aspx", ".jsp", ".php")
_DOC_MARKERS = re.compile(r"<!doctype\s+html|<html[\s>]|<body[\s>]|<head[\s>]", re.IGNORECASE)
_BLOCK_TAG = re.compile(r"<(?:p|div|br|h[1-6]|li|span|font|table|td)\b[^<>]{0,400}>", re.IGNORECASE)
_PIPE_DELIMITER_ROW = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*\|", re.MULTILINE)
_META_CHARSET = re.compile(
    rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_\-:.]+)", re.IGNORECASE
)
_MIME_VERSION = re.compile(rb"^MIME-Version:", re.IGNORECASE | re.MULTILINE)
_JUNK_RATIO = 0.02
_DETECTOR_SAMPLE = 1 << 20
# Controls that converted documents use for layout (Word's \v line break, PDF's \f page break).
_LAYOUT_CONTROLS = "\t\n\r\f\v\x1c\x1d\x1e\x85"
_PLAUSIBLE_RATIO = 0.9
_JUNK_CATEGORIES = ("Cc", "Co", "Cn", "Cs")
# Runs of characters that are never junk: layout controls, printable ASCII, CJK punctuation,
# the CJK ideographs assigned since Unicode 1.1, full-width forms (none is Cc/Co/Cn/Cs).
COMMON_RANGES = "\t\n\r\f\v\x1c-\x1e\x85 -~\u3000-\u303f\u4e00-\u9fa5\uff01-\uff5e"
_COMMON_RUN = re.compile(f"[{COMMON_RANGES}]+")


def unsupported(kind: str) -> UnsupportedFormat:
    """The refusal for a real format nianbao does not read, naming it and saying what to send."""
    return UnsupportedFormat(
        f"unsupported file type: {kind}; please send the report as PDF, DOCX, HTML or text",
        f"不支持的文件类型：{kind}；请提供 PDF、DOCX、HTML 或文本格式的报告",
    )


def _extension(filename: str | None) -> str:
    if not filename or "." not in filename:
        return ""
    return "." + filename.rsplit(".", 1)[1].lower()


def sniff_binary(data: bytes) -> Kind | None:
    """'pdf' or 'docx' when the bytes are one; raise for formats we refuse; None for text."""
    head = data[:8]
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _sniff_zip(data)
    if head.startswith(_OLE_MAGIC):
        raise unsupported(_ole_kind(data))
    for magic, name in _IMAGE_MAGIC + _ARCHIVE_MAGIC:
        if head.startswith(magic):
            raise unsupported(name)
    if head.startswith(b"RIFF") and data[8:12] == b"WEBP":
        raise unsupported("WebP image")
    if b'progid="Word.Document"' in data[:2048]:
        raise unsupported("Word 2003 XML document (.xml)")
    return None


def _sniff_zip(data: bytes) -> Kind:
    import zipfile  # lazy: only a zip needs it, and a text report's CLI run is mostly start-up

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnreadableDocument(
            "the file is a damaged ZIP/DOCX archive", "文件是损坏的 ZIP/DOCX 压缩包"
        ) from exc
    if "word/document.xml" in names:
        return "docx"
    for member, name in _ZIP_KINDS:
        if member in names or any(n.endswith("/" + member) for n in names):
            raise unsupported(name)
    if "mimetype" in names and any(n == "content.xml" for n in names):
        raise unsupported("OpenDocument file (.odt/.ods)")
    raise unsupported("ZIP archive that is not a DOCX document")


def _ole_kind(data: bytes) -> str:
    for stream, name in _OLE_STREAMS:
        if stream in data:
            return name
    return "Office 97-2003 / WPS binary document (.doc/.xls/.wps)"


def _codec_name(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _bom_encoding(data: bytes) -> str | None:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith(codecs.BOM_UTF32_LE) or data.startswith(codecs.BOM_UTF32_BE):
        return "utf-32"
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    return None


def _declared_charset(data: bytes) -> str | None:
    """The `<meta charset>` of an HTML page, as a Python codec name (GB family → gb18030)."""
    match = _META_CHARSET.search(data[:8192])
    if not match:
        return None
    name = _codec_name(match.group(1).decode("ascii", "ignore"))
    if name in _GB_FAMILY:
        return "gb18030"
    return name


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 saved without BOM: ASCII digits and line ends leave NUL bytes on one parity."""
    sample = data[:4096]
    if len(sample) < 4 or len(data) % 2:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    # Chinese code units may have a zero low byte too (U+4E00 一), so allow a few on the other side.
    if odd > len(sample) // 20 and even * 10 < odd:
        return "utf-16-le"
    if even > len(sample) // 20 and odd * 10 < even:
        return "utf-16-be"
    return None


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _detected_encoding(data: bytes) -> str | None:
    from charset_normalizer import from_bytes  # lazy: only text that is not UTF-8 needs it

    best = from_bytes(data[:_DETECTOR_SAMPLE]).best()
    if best is None:
        return None
    encoding = _codec_name(best.encoding) or best.encoding
    return "gb18030" if encoding in _GB_FAMILY else encoding


def _acceptable(text: str, guessed: bool) -> bool:
    """Not binary junk; and when the encoding was only guessed, mostly ASCII and Chinese."""
    return not _looks_like_junk(text) and (not guessed or _looks_like_report_text(text))


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding): BOM, then UTF-8 (valid UTF-8 is never an accident), then an HTML
    `<meta charset>` that decodes cleanly, then UTF-16 without BOM, then charset-normalizer;
    last, the same with a few damaged bytes replaced. Raises UnreadableDocument for junk."""
    declared = _declared_charset(data)
    candidates: list[str] = []
    for guess in (_bom_encoding(data), "utf-8", declared, _utf16_without_bom(data)):
        if guess and guess not in candidates:
            candidates.append(guess)
    for encoding in candidates:
        text = _strict(data, encoding)
        if text is not None and _acceptable(text, guessed=encoding.startswith("utf-16-")):
            return text.removeprefix("\ufeff"), encoding
    detected = _detected_encoding(data)
    if detected:
        text = _strict(data, detected)
        if text is not None and _acceptable(text, guessed=True):
            return text.removeprefix("\ufeff"), detected
    # A truncated download or one bad character must not lose the whole report.
    for encoding in dict.fromkeys(e for e in (declared, detected, "utf-8", "gb18030") if e):
        try:
            text = data.decode(encoding, "replace")
        except LookupError:
            continue
        if text.count("\ufffd") <= len(text) // 1000 and _acceptable(text, guessed=True):
            return text.removeprefix("\ufeff"), encoding
    raise UnreadableDocument(
        "the file is not readable text (binary data or an unknown encoding)",
        "文件不是可读的文本（二进制数据或无法识别的编码）",
    )


def _looks_like_junk(text: str) -> bool:
    """Binary bytes decoded by a permissive codec show up as control and unassigned characters."""
    sample = text[:200000]
    if not sample:
        return False
    # Only the characters outside the common ranges are looked up one by one: a report is
    # nearly all ASCII and CJK, so the check costs a regex pass, not a call per character.
    rare = _COMMON_RUN.sub("", sample)
    bad = sum(
        1
        for ch in rare
        if ch not in _LAYOUT_CONTROLS and unicodedata.category(ch) in _JUNK_CATEGORIES
    )
    return bad / len(sample) > _JUNK_RATIO


def html_from_mht(data: bytes) -> tuple[str, str] | None:
    """(html, encoding) of a Word/IE "single file web page" (.mht, often named .doc), else None."""
    head = data[:4096]
    if b"multipart/related" not in head.lower() or not _MIME_VERSION.search(head):
        return None
    import email  # lazy: a .mht is rare, and the email package is slow to import
    import email.policy

    message = email.message_from_bytes(data, policy=email.policy.compat32)
    for part in message.walk():
        if part.get_content_type() != "text/html":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        charset = _codec_name(part.get_content_charset() or "")
        if charset in _GB_FAMILY:
            charset = "gb18030"
        text = _strict(payload, charset) if charset else None
        if text is not None:
            return text, charset or ""
        return decode_text(payload)
    return None


def _is_common_character(ch: str) -> bool:
    return (
        " " <= ch <= "~"
        or ch in "\t\n\r\f"
        or "\u4e00" <= ch <= "\u9fff"
        or "\u3400" <= ch <= "\u4dbf"
        or "\u2000" <= ch <= "\u206f"
        or "\u3000" <= ch <= "\u303f"
        or "\uff00" <= ch <= "\uffef"
        or ch in "\u00a0\u00b7\u00d7\u2014\u2026\ufeff"
    )


def _looks_like_report_text(text: str) -> bool:
    """A guessed (not declared) encoding must give mostly ASCII and Chinese: reports are Chinese,
    and a wrong guess gives characters from all over Unicode."""
    sample = text[:20000]
    common = sum(1 for ch in sample if _is_common_character(ch))
    return common >= _PLAUSIBLE_RATIO * len(sample)


def text_kind(text: str, filename: str | None) -> Kind:
    """HTML by content (a crawler's .txt is often a page) or by name; markdown; else plain text."""
    head = text[:65536]
    extension = _extension(filename)
    if _DOC_MARKERS.search(head):
        return "html"
    tags = len(_BLOCK_TAG.findall(head))
    if extension in _HTML_NAMES and tags:
        return "html"
    if extension in _MARKDOWN_NAMES or _PIPE_DELIMITER_ROW.search(head):
        return "markdown"
    lines = sum(1 for line in head.splitlines() if line.strip())
    if tags >= 3 and tags * 2 >= lines:
        return "html"
    return "text"
