"""The name a document arrived under, made safe to store and show.

Clients send whole paths (`C:\\Users\\…\\年报.pdf`), control characters and names a million
characters long; what we keep is the base name without control or format characters (no
NUL, no line breaks, no bidi overrides that make `exe.pdf` read as `fdp.exe`), at most
MAX_FILENAME_CHARS characters long, keeping its end, where the extension is.
"""

from __future__ import annotations

import unicodedata

MAX_FILENAME_CHARS = 255
# Cc controls, Cf format (bidi overrides, zero-width), Cs lone surrogates, Co private use,
# Zl/Zp line and paragraph separators.
_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def clean_filename(filename: str | None) -> str | None:
    """The base name, cleaned and bounded; None when nothing usable is left."""
    if not filename:
        return None
    # Only the last path part: Windows and POSIX separators alike (a browser may send either),
    # and no drive letter ("C:年报.pdf").
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if len(base) >= 2 and base[1] == ":" and base[0].isascii() and base[0].isalpha():
        base = base[2:]
    # Look at the end only: a million-character name costs no more than a short one.
    base = base[-4 * MAX_FILENAME_CHARS :]
    kept = "".join(ch for ch in base if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    kept = kept.strip()[-MAX_FILENAME_CHARS:].strip()
    if kept in ("", ".", ".."):
        return None
    return kept
