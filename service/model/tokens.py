"""A stated, offline token estimate (no tokenizer files can be fetched here).

Chinese characters count one token each (BPE tokenizers of current models give ~0.7-1.2 per
character); every other run of characters counts one token per 4 characters, as OpenAI's rule of
thumb for English and JSON. Used alike for what the reader sends and for the naive baseline, so
the ratio between them is fair even where the absolute count is off.
"""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def estimate_tokens(text: str) -> int:
    cjk = len(_CJK.findall(text))
    other = len(text) - cjk
    return cjk + (other + 3) // 4
