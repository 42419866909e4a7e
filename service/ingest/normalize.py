"""One normalization for every format, so that spans and label matching agree everywhere."""

from __future__ import annotations

import re
import unicodedata

_ENTITY_NBSP = re.compile(r"&nbsp;?|&#160;|&#xa0;", re.IGNORECASE)
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")


def normalize_text(text: str) -> str:
    """NFKC (full-width digits and punctuation to ASCII), LF line ends, NBSP and &nbsp; to spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ENTITY_NBSP.sub(" ", text)
    text = _ZERO_WIDTH.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    return text.replace("\u00a0", " ").replace("\u3000", " ")
