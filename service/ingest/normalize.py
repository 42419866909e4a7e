"""One normalization for every format, so that spans and label matching agree everywhere."""

from __future__ import annotations

import re
import unicodedata

_ENTITY_NBSP = re.compile(r"&nbsp;?|&#160;|&#xa0;", re.IGNORECASE)
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# Line breaks other than LF that str.splitlines() honours: make them LF so every reader agrees
# on what a line is. Form feed (\f) is kept: PDF readers may use it as a page break.
_OTHER_LINE_BREAKS = re.compile("[\u000b\u001c\u001d\u001e\u0085\u2028\u2029]")
# Remaining C0 controls and DEL are noise from Word/PDF conversions, never content.
_CONTROL = re.compile("[\u0000-\u0008\u000e-\u001b\u001f\u007f]")
_WHITESPACE_RUN = re.compile(r"\s+")
# Characters normalize_text leaves as they are, alone and in any sequence: TAB, LF, printable
# ASCII but `&` (an entity may start there), CJK ideographs of Unicode 1.1 (NFKC-stable).
ALREADY_NORMAL = "\t\n -%'-~\u4e00-\u9fa5"
_ALREADY_NORMAL = re.compile(f"[{ALREADY_NORMAL}]*")


def normalize_text(text: str) -> str:
    """NFKC (full-width digits and punctuation to ASCII), LF line ends, NBSP and &nbsp; to spaces.

    Idempotent: normalizing normalized text changes nothing, so pieces normalized apart and then
    joined with LF/TAB stay normalized.
    """
    if _ALREADY_NORMAL.fullmatch(text):
        return text  # most table cells: digits, ASCII, ideographs; nothing below would change them
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _OTHER_LINE_BREAKS.sub("\n", text)
    text = _CONTROL.sub("", text)
    text = _ENTITY_NBSP.sub(" ", text)
    text = _ZERO_WIDTH.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    return text.replace("\u00a0", " ").replace("\u3000", " ")


def collapse_whitespace(text: str) -> str:
    """Normalized text with every run of white space (LF, TAB, spaces) as one space, trimmed.

    This is how an HTML renderer shows inline text and table cells.
    """
    return _WHITESPACE_RUN.sub(" ", normalize_text(text)).strip()
