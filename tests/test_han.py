"""The regex-free Han tests answer exactly what the character-class regexes they replaced did."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from service.parse.han import all_han, has_han, is_han

HAN_CLASS = "[\u4e00-\u9fff]"
# Around both ends of the block, and the common neighbours (CJK punctuation, extension A, ASCII).
EDGES = "\u4dff\u4e00\u4e01\u9ffe\u9fff\ua000\u3400\u3001\uff08a1 \t"
TEXTS = st.text(alphabet=st.one_of(st.sampled_from(EDGES), st.characters()), max_size=30)


@given(st.one_of(st.sampled_from(EDGES), st.characters()))
def test_is_han_is_the_class(ch: str) -> None:
    assert is_han(ch) == bool(re.match(HAN_CLASS, ch))


@given(TEXTS)
def test_has_han_is_a_search(text: str) -> None:
    assert has_han(text) == bool(re.search(HAN_CLASS, text))


@given(TEXTS)
def test_all_han_is_a_full_match(text: str) -> None:
    assert all_han(text) == bool(re.fullmatch(HAN_CLASS + "+", text))


def test_the_block_ends() -> None:
    assert is_han("\u4e00") and is_han("\u9fff") and not is_han("\u4dff") and not is_han("\ua000")
    assert all_han("平潭县") and not all_han("") and not all_han("平潭县1")
    assert has_han("12 件（其中3件）") and not has_han("12 | 3 |")
