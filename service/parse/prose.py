"""Read the report's prose by rules: who issued it, for which year, when, and the figures it states.

Only explicit statements count. A count given only in pieces (per website, per WeChat account) is
not a total, silence is null, and a stated "none" (未收到, 未收取, a heading answered 无) is a 0 or a
false. Figures that the tables also hold are returned as facts for the text/table conflict check.

Matching runs on a compact copy of the text (white space dropped, tables blanked) because PDF and
Word conversions break lines inside words; every span is mapped back into the original text.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from service.document import Span
from service.errors import NianbaoError
from service.parse.divisions import Placement, place
from service.parse.han import is_han
from service.readings import Reading, SectionReading
from service.templates import SCHEMAS_DIR, table3_rows, table4_groups

TABLE_MARK = "\x00"
HAN = "\u4e00-\u9fff"
CLAUSE_END = ",。;:!?\x00"
# A run of table marks (white space between them) or of other non-space characters; the
# trailing white space a mark run takes is dropped anyway.
_VIEW_RUN = re.compile(r"(\x00)[\x00\s]*|[^\s\x00]+")
# One clause, no digits / one clause: the room a pattern may leave between its key words.
NOT_DIGIT = r"[^,。;:!?、\x00\d]"
IN_CLAUSE = r"[^,。;:!?\x00]"
CN_COUNT = "〇零一二两三四五六七八九十百千万"
# A count: plain digits, digits with thousands separators (2,645), or Chinese numerals (十二).
NUM = (
    rf"(?<![\d.{CN_COUNT}第])(?<!\d,)(?P<n>\d{{1,3}}(?:,\d{{3}})+|\d{{1,7}}|[{CN_COUNT}]{{1,8}})"
    rf"(?![\d.{CN_COUNT}]|,\d{{3}})"
)
# NUM for a pattern that starts with the count. It opens with the count's first character, the
# look-behinds moved after it, so that the regex engine looks for that character in C and tries
# nothing at the other positions (a look-around first makes it try every position). Matches what
# NUM matches (tests/test_prose.py); elsewhere NUM is cheaper to compile (each class of CJK
# characters costs ~0.1 ms at every start of the CLI).
LEADING_NUM = (
    rf"(?P<n>[\d{CN_COUNT}](?<![\d.{CN_COUNT}第].)(?<!\d,.)"
    rf"(?:(?<=\d)(?:\d{{0,2}}(?:,\d{{3}})+|\d{{0,6}})|(?<=[{CN_COUNT}])[{CN_COUNT}]{{0,7}}))"
    rf"(?![\d.{CN_COUNT}]|,\d{{3}})"
)
TOTAL_WORDS = r"(?:共计|总计|合计|累计|共|计|为|达到|达|有|:)*"

NARRATIVE_PATHS = (
    "narrative.active_disclosure_total",
    "narrative.policy_interpretations",
    "narrative.applications_received",
    "narrative.npc_suggestions",
    "narrative.cppcc_proposals",
    "narrative.information_fees_collected",
)
DIVISION_PATHS = ("meta.division_code", "meta.division_name")
META_PATHS = ("meta.issuer", "meta.report_year", "meta.published_on", *DIVISION_PATHS)


class InvalidProseInput(NianbaoError):
    """The prose reader was handed something that is not a text with valid table ranges."""

    code = "invalid_prose_input"


@cache
def phrases() -> dict[str, Any]:
    """Abbreviations, name endings and channel words, kept as data in schemas/prose.json."""
    data: dict[str, Any] = json.loads((SCHEMAS_DIR / "prose.json").read_text("utf-8"))
    return data


# --------------------------------------------------------------------------- the compact view


@dataclass(frozen=True)
class ProseView:
    """The prose without white space and tables, and the original offset of each character."""

    original: str
    masked: str
    compact: str
    offsets: tuple[int, ...]

    def span(self, start: int, end: int) -> Span:
        """Compact [start, end) to original [start, end)."""
        return (self.offsets[start], self.offsets[end - 1] + 1)


def build_view(text: str, table_spans: Iterable[tuple[int, int]]) -> ProseView:
    """Blank the tables (one TABLE_MARK each, so no pattern reads across them) and drop white space."""
    parts: list[str] = []
    pos = 0
    for start, end in sorted((max(0, s), min(len(text), e)) for s, e in table_spans):
        if end <= pos:
            continue
        start = max(start, pos)
        parts.append(text[pos:start])
        parts.append("\n".join(TABLE_MARK * len(line) for line in text[start:end].split("\n")))
        pos = end
    parts.append(text[pos:])
    masked = "".join(parts)
    chars: list[str] = []
    offsets: list[int] = []
    # Runs, not characters: a table's marks (white space between them) stand as one mark.
    for m in _VIEW_RUN.finditer(masked):
        if m.group(1):
            chars.append(TABLE_MARK)
            offsets.append(m.start())
        else:
            chars.append(m.group())
            offsets.extend(range(m.start(), m.end()))
    return ProseView(text, masked, "".join(chars), tuple(offsets))


# --------------------------------------------------------------------------- hits and choosing


@dataclass(frozen=True)
class Hit:
    """One explicit statement: the value, where it was read, the phrase, and whether it is a part.

    `clean` is False for a count that had to be put together (digits broken by a line break,
    thousands separators): read, but not support for itself.
    """

    value: int | bool
    span: Span
    quote: Span
    qualified: bool = False
    clean: bool = True
    subset: bool = False  # said to be a part (其中…): smaller than the whole by its own words


CN_UNITS = {"十": 10, "百": 100, "千": 1000}


def count_value(printed: str) -> int | None:
    """2645, 2,645, 十二, 两千零五 → the count; None for what is not one."""
    digits = printed.replace(",", "")
    if digits.isdigit():
        return int(digits)
    total, section, current = 0, 0, None
    for ch in printed:
        if ch in CN_DIGITS or ch == "两":
            current = 2 if ch == "两" else CN_DIGITS[ch]
        elif ch in CN_UNITS:
            section += (1 if current is None else current) * CN_UNITS[ch]
            current = None
        elif ch == "万":
            total += (section + (current or 0)) * 10000
            section, current = 0, None
        else:
            return None
    return total + section + (current or 0)


def _clause_start(view: ProseView, pos: int) -> int:
    i = pos - 1
    while i >= 0 and view.compact[i] not in CLAUSE_END:
        i -= 1
    return i + 1


PART_CONTEXT = 30


def _is_part(view: ProseView, match_start: int, value_start: int, words: Iterable[str]) -> bool:
    """A count stated for one channel (通过网站…, 其中…) is a part, not the whole. Only the clause
    close before it counts: glued crawler text has no punctuation to end a clause."""
    start = max(_clause_start(view, match_start), value_start - PART_CONTEXT)
    context = view.compact[start:value_start]
    return any(w in context for w in words)


SUBSET_WORDS = ("其中",)


def channel_words() -> list[str]:
    words: list[str] = phrases()["channel_words"]
    return words


def scan(patterns: Iterable[str], text: str, needs: tuple[str, ...] = ()) -> Iterator[re.Match[str]]:
    """Every match of each pattern in turn. `needs`: words one of which every match of these
    patterns contains (tests/test_prose.py proves it from each pattern's parse); a text with
    none of them has no match, so the patterns are neither compiled nor run on it (a third of
    the CLI's start-up went to compiling prose patterns, half of them for nothing)."""
    if needs and not any(w in text for w in needs):
        return
    for pattern in patterns:
        yield from re.finditer(pattern, text)


def number_hits(
    view: ProseView,
    patterns: Iterable[str],
    reject: str | None = None,
    part_words: Iterable[str] | None = None,
    needs: tuple[str, ...] = (),
) -> list[Hit]:
    """Every match of the patterns whose `n` group is a count printed as plain digits."""
    words = list(channel_words() if part_words is None else part_words)
    hits: list[Hit] = []
    for m in scan(patterns, view.compact, needs):
        if reject and re.search(reject, m.groupdict().get("mid") or ""):
            continue
        s, e = m.span("n")
        span = view.span(s, e)
        printed = view.original[span[0] : span[1]]
        value = count_value(m.group("n"))
        if value is None:
            continue
        broken = printed != m.group("n")
        if broken and not (printed.isascii() and "\n" in printed):
            continue  # digits apart by spaces alone: two numbers as often as one
        part = _is_part(view, m.start(), s, words)
        clean = not broken and "," not in printed
        subset = part and _is_part(view, m.start(), s, SUBSET_WORDS)
        hits.append(Hit(value, span, view.span(*m.span()), part, clean, subset))
    return _in_text_order(hits)


def phrase_hits(
    view: ProseView, patterns: Iterable[str], value: int | bool, reject: str | None = None,
    needs: tuple[str, ...] = (),
) -> list[Hit]:
    """Every match of the patterns, read as `value` (a stated 0 or false); the span is the phrase."""
    hits: list[Hit] = []
    for m in scan(patterns, view.compact, needs):
        if reject and re.search(reject, m.groupdict().get("mid") or ""):
            continue
        span = view.span(*m.span())
        hits.append(Hit(value, span, span))
    return _in_text_order(hits)


def _in_text_order(hits: list[Hit]) -> list[Hit]:
    seen: set[Span] = set()
    out = []
    for h in sorted(hits, key=lambda h: h.quote):
        if h.span not in seen:
            seen.add(h.span)
            out.append(h)
    return out


def choose(path: str, hits: list[Hit], view: ProseView | None = None) -> Reading:
    """One reading from the statements: a whole beats its parts; parts alone are not a total;
    wholes that disagree are a doubt; the same value stated in two different sentences is
    evidence (a count put together from broken digits does not vouch for itself)."""
    whole = [h for h in hits if not h.qualified]
    pool = whole or hits
    values: list[int | bool] = []
    for h in pool:
        if h.value not in values:
            values.append(h.value)
    if not values:
        return Reading(path=path, value=None, source="text")
    first = pool[0]
    # A count for one channel (在网站平台公开…) that differs from the whole is a second statement
    # of it as often as a share: a person would ask which is meant. 其中 says it is a share.
    rivals = [h.value for h in hits if h.qualified and whole and view is not None
              and h.value not in values and _rival(view, h, whole)]
    if len(values) == 1 and rivals:
        return Reading(path=path, value=first.value, source="text", span=first.span,
                       doubts=["several_statements_disagree"], alternatives=sorted(set(rivals)))
    if len(values) == 1:
        evidence = ["second_statement_agrees"] if view and _stated_twice(view, pool) else []
        return Reading(path=path, value=first.value, source="text", span=first.span,
                       evidence=evidence)
    if not whole:
        return Reading(path=path, value=None, source="text", doubts=["only_partial_counts"],
                       alternatives=values)
    return Reading(path=path, value=first.value, source="text", span=first.span,
                   doubts=["several_statements_disagree"], alternatives=values[1:])


def _rival(view: ProseView, part: Hit, whole: list[Hit]) -> bool:
    """A channel's count that cannot be a share of the whole: larger than it, or alone in a
    sentence of its own (no 其中, no other channel's count beside it, no whole in it)."""
    if any(isinstance(part.value, int) and isinstance(w.value, int) and part.value > w.value for w in whole):
        return True
    sentence = sentence_of(view, part.quote[0])
    if part.subset or any(w in sentence for w in SUBSET_WORDS):
        return False
    if any(sentence_of(view, w.quote[0]) == sentence for w in whole):
        return False
    return not other_pieces(view, [part])


def _stated_twice(view: ProseView, hits: list[Hit]) -> bool:
    """Two clean statements in two different sentences (a page printed twice is one statement)."""
    sentences = {sentence_of(view, h.quote[0]) for h in hits if h.clean}
    return len(sentences) >= 2


# --------------------------------------------------------------------------- narrative figures

ACTIVE_TOTAL = [
    rf"(?P<verb>主动公开|公开发布|发布|公开)(?P<mid>{NOT_DIGIT}{{0,14}}?)(?P<obj>政府信息|信息)"
    rf"(?:数量|总数|总量|数)?{TOTAL_WORDS}{NUM}余?(?:条|件|篇)",
    # 主动公开各类政府信息: the count before the object (主动公开 2645 条政府信息)
    rf"(?P<verb>主动公开)(?P<mid>(?:各类|各级|各项)?){TOTAL_WORDS}{NUM}余?(?:条|件|篇)"
    r"(?:各类)?(?P<obj>政府信息|信息)",
]
ACTIVE_REJECT = r"申请|解读|建议|提案|增加|减少|增长|下降|新闻|动态|(?<!各)类"
# Another channel's count in the same sentence (通过微信公众号发布信息260条).
CHANNEL_PIECE = (
    rf"(?:通过|在|依托|利用){IN_CLAUSE}{{0,30}}?(?:公开|发布|推送|编发|刊发|更新)"
    rf"{NOT_DIGIT}{{0,10}}?{NUM}(?:条|篇|件)"
)

POLICY = [
    rf"政策解读(?:文件|材料|稿件|信息|文章|类信息)?{TOTAL_WORDS}{NUM}余?(?:条|件|篇|项|个|份)",
    rf"解读类?(?:信息|文章|稿件|材料)(?:发布)?{TOTAL_WORDS}{NUM}(?:条|件|篇|项|个)",
    rf"(?:发布|制作|推出|完成|编发|撰写)(?:政策)?解读{TOTAL_WORDS}{NUM}(?:条|件|篇|项)",
    rf"解读(?:政策|文件|政策文件|各类政策|重要政策){TOTAL_WORDS}{NUM}(?:条|件|篇|项|个|份)",
    rf"对{NUM}(?:项|件|个|份|篇){IN_CLAUSE}{{0,40}}?(?:政策|文件)(?:进行|开展|作|做)了?(?:政策)?解读",
]
POLICY_NEEDS = ("解读",)  # what every match of these contains (`scan`)

# "无" closing a heading: end of text, a full stop, or the next heading.
NONE_ANSWER = (
    r":?(?:本年度|今年|年度内|本年)?(?:无此类情况|无相关情况|无|暂无|没有|不涉及)"
    r"(?:[。.;]|$|(?=[#*(\[|\x00]|[一二三四五六七八九十]+、|\d+[、.]))"
)

APP_VERB = r"(?:收到|受理|接收|接到|新收|收悉)"
APP_OBJECT = (
    r"(?:政府信息公开申请|信息公开申请|依申请公开申请|依申请公开件|依申请公开|公开申请|申请)"
    r"(?:事项|件|类)?"
)
APP_REJECT = r"复议|诉讼|信访|咨询|投诉|建议|提案|举报|结转|上年|人大|政协|因"
APPLICATIONS = [
    rf"{APP_VERB}(?P<mid>{NOT_DIGIT}{{0,10}}?){APP_OBJECT}(?:数量|总数)?{TOTAL_WORDS}{NUM}(?:件|条|个|宗|份|起)",
    rf"{APP_VERB}了?(?:各类)?{NUM}(?:件|个|宗|份|条)(?:政府信息公开|依申请公开|信息公开)?申请",
]
APP_NEEDS = ("收到", "受理", "接收", "接到", "新收", "收悉")  # APP_VERB's words
APPLICATIONS_NONE = [
    rf"(?:未|没有)(?:收到|受理|接到|接收|发生|产生)(?P<mid>{IN_CLAUSE}{{0,16}}?)"
    r"(?:政府信息公开申请|信息公开的?申请|依申请公开|公开申请|的申请)",
    r"(?:无|没有)(?:政府信息公开申请|依申请公开(?:申请|事项|情况|件)?)",
    rf"依申请公开(?:工作)?(?:情况|办理情况){NONE_ANSWER}",
]
APPLICATIONS_NONE_NEEDS = ("申请",)

NPC_ITEM = r"(?:人大(?:代表)?|(?<!人大)代表)(?:建议|议案)"
CPPCC_ITEM = r"(?:政协(?:委员)?|(?<!政协)委员)提案"
NPC_NEEDS = ("建议", "议案")  # what every match of NPC_ITEM contains; CPPCC_ITEM's:
CPPCC_NEEDS = ("提案",)
AND = r"(?:和|及|与|、|或|以及)"
COUNT_UNIT = r"(?:件|条|个|份|项)"
NONE_VERB = r"(?:未|没有|无)(?:收到|承办|办理|接到|接收|承接|涉及|交办)?"
NONE_REJECT = r"公开|结果|及时|按时|办结|答复"


def npc_patterns(item: str, other: str) -> tuple[list[str], list[str]]:
    """Count and none patterns for 人大代表建议 or 政协委员提案 (the other one may share a none)."""
    # "人大代表建议和政协委员提案共 11 件" is a joint count: neither item's own.
    joint = "".join(
        f"(?<!{tail}{conj})"
        for tail in ("建议", "议案", "提案")
        for conj in ("和", "及", "与", "、", "或", "以及")
    )
    counts = [  # (?=item) first: eighteen look-behinds are tried only where the item starts
        rf"(?={item}){joint}{item}(?!{AND}{other}){TOTAL_WORDS}{NUM}{COUNT_UNIT}",
        rf"{LEADING_NUM}{COUNT_UNIT}{item}(?!{AND}{other})",
    ]
    nones = [
        rf"{NONE_VERB}(?P<mid>{NOT_DIGIT}{{0,6}}?){item}",
        rf"{NONE_VERB}(?P<mid>{NOT_DIGIT}{{0,6}}?){other}{AND}{item}",
        rf"{item}(?:{AND}{other})?{IN_CLAUSE}{{0,12}}?情况{NONE_ANSWER}",
        rf"{other}{AND}{item}{IN_CLAUSE}{{0,12}}?情况{NONE_ANSWER}",
    ]
    return counts, nones


FEE_NAME = r"(?:信息处理费|处理费)"
FEES_NONE = [
    rf"(?:未|没有|不存在|不|无|免)收取?(?:任何)?(?P<mid>{IN_CLAUSE}{{0,12}}?){FEE_NAME}",
    rf"(?:未|没有|不)向{IN_CLAUSE}{{0,8}}?收取(?:任何)?(?:费用|{FEE_NAME})",
    rf"(?<!收取){FEE_NAME}{TOTAL_WORDS}0(?:\.0+)?万?元",
    rf"(?:政府信息公开|依申请公开|信息公开|申请)(?P<mid>{IN_CLAUSE}{{0,20}}?)"
    r"(?:未|没有|不|无|免)收取?(?:任何)?费用",
    rf"(?:政府信息公开|依申请公开|信息公开|申请)(?P<mid>{IN_CLAUSE}{{0,20}}?)(?:均为|全部为|全部|一律|均|都是)免费",
    rf"未(?:发生|产生|出现)(?P<mid>{IN_CLAUSE}{{0,14}}?)(?:收费|收取{IN_CLAUSE}{{0,6}}?费|{FEE_NAME})",
    rf"(?:无|没有)(?P<mid>{IN_CLAUSE}{{0,6}}?){FEE_NAME}",
    r"(?:无|没有)收费(?:情况|事项|行为)",
    rf"(?:{FEE_NAME}|收费){IN_CLAUSE}{{0,8}}?情况{NONE_ANSWER}",
]
FEES_NONE_REJECT = r"理由|按|逾期|通知"
FEES_NEEDS = ("费",)  # every match of FEES_NONE and FEE_AMOUNT
FEE_AMOUNT = (
    rf"收取(?P<mid>{IN_CLAUSE}{{0,16}}?){FEE_NAME}{TOTAL_WORDS}"
    r"(?<![\d.])(?P<amount>\d+(?:\.\d+)?)万?元"
)


def fee_hits(view: ProseView) -> list[Hit]:
    """收取…信息处理费 N 元: false when N is 0, true otherwise; plus every stated none."""
    hits = phrase_hits(view, FEES_NONE, False, reject=FEES_NONE_REJECT, needs=FEES_NEEDS)
    for m in scan((FEE_AMOUNT,), view.compact, FEES_NEEDS):
        if re.search(r"(?:未|不|无|免|没有)$", view.compact[max(0, m.start() - 2) : m.start()]):
            continue  # 未收取…0元 is a none, already read above
        span = view.span(*m.span())
        hits.append(Hit(float(m.group("amount")) > 0, span, span))
    return _in_text_order(hits)


def read_narrative(view: ProseView) -> tuple[dict[str, Reading], dict[str, list[Hit]]]:
    """The six narrative.* readings, and the hits behind them (the figures reuse some)."""
    hits: dict[str, list[Hit]] = {}
    active = [
        h for h in number_hits(view, ACTIVE_TOTAL, reject=ACTIVE_REJECT) if _active_ok(view, h)
    ]
    hits["narrative.active_disclosure_total"] = active
    hits["narrative.policy_interpretations"] = number_hits(view, POLICY, needs=POLICY_NEEDS)
    hits["narrative.applications_received"] = number_hits(
        view, APPLICATIONS, reject=APP_REJECT, needs=APP_NEEDS
    ) + phrase_hits(view, APPLICATIONS_NONE, 0, reject=APP_REJECT, needs=APPLICATIONS_NONE_NEEDS)
    npc_counts, npc_nones = npc_patterns(NPC_ITEM, CPPCC_ITEM)
    cppcc_counts, cppcc_nones = npc_patterns(CPPCC_ITEM, NPC_ITEM)
    hits["narrative.npc_suggestions"] = number_hits(view, npc_counts, needs=NPC_NEEDS) + phrase_hits(
        view, npc_nones, 0, reject=NONE_REJECT, needs=NPC_NEEDS
    )
    hits["narrative.cppcc_proposals"] = number_hits(view, cppcc_counts, needs=CPPCC_NEEDS) + phrase_hits(
        view, cppcc_nones, 0, reject=NONE_REJECT, needs=CPPCC_NEEDS
    )
    hits["narrative.information_fees_collected"] = fee_hits(view)
    readings = {path: choose(path, _in_text_order(hits[path]), view) for path in NARRATIVE_PATHS}
    if active and all(h.qualified for h in active) and other_pieces(view, active):
        path = "narrative.active_disclosure_total"
        readings[path] = Reading(
            path=path,
            value=None,
            source="text",
            doubts=["only_partial_counts"],
            alternatives=sorted({h.value for h in active}),
        )
    for path, reading in readings.items():
        if reading.value is None and not reading.doubts:
            near = numbers_near_keywords(view, path)
            if near:
                readings[path] = reading.model_copy(
                    update={"doubts": ["keyword_sentence_unread"], "alternatives": near})
    return readings, hits


def numbers_near_keywords(view: ProseView, path: str) -> list[int]:
    """Counts printed right after a field's keyword in the same sentence (schemas/prose.json
    `unread_keywords`): the text may state the figure in a way no pattern reads. Words right
    before the keyword (`reject_before`: 上年结转…申请) or between it and the count (`reject`)
    make it another quantity."""
    spec = phrases()["unread_keywords"].get(path)
    if not spec:
        return []
    unit = spec["units"]
    found: list[int] = []
    for keyword in spec["keywords"]:
        for k in re.finditer(re.escape(keyword), view.compact):
            lead = view.compact[max(_clause_start(view, k.start()), k.start() - 8) : k.start()]
            if any(w in lead for w in spec.get("reject_before", ())):
                continue
            window = re.split(r"[。;\x00]", view.compact[k.end() : k.end() + spec["window"]])[0]
            for m in re.finditer(rf"{LEADING_NUM}余?\(?[{unit}]", window):
                between = window[: m.start()]
                if any(w in between for w in spec["reject"]):
                    break
                value = count_value(m.group("n"))
                if value is not None and value not in found:
                    found.append(value)
    return found


def _active_ok(view: ProseView, hit: Hit) -> bool:
    """信息 alone counts only after 主动公开; 依申请公开 is not active disclosure."""
    phrase = re.sub(r"\s", "", view.original[hit.quote[0] : hit.quote[1]])
    m = re.match(ACTIVE_TOTAL[0], phrase) or re.match(ACTIVE_TOTAL[1], phrase)
    if m is None:
        return False
    if m.group("obj") == "信息" and "主动公开" not in m.group("verb") + m.group("mid"):
        return False
    before = re.sub(r"\s", "", view.original[max(0, hit.quote[0] - 4) : hit.quote[0]])
    return not before.endswith("申请")


def compact_index(view: ProseView, original_pos: int) -> int:
    return bisect_left(view.offsets, original_pos)


def sentence_of(view: ProseView, original_pos: int) -> str:
    """The compact sentence (between 。) around an original position."""
    i = compact_index(view, original_pos)
    start = view.compact.rfind("。", 0, i) + 1
    end = view.compact.find("。", i)
    return view.compact[start : len(view.compact) if end < 0 else end]


def other_pieces(view: ProseView, hits: list[Hit]) -> bool:
    """A channel's count next to another channel's different count: pieces, not a total."""
    values = {h.value for h in hits}
    for h in hits:
        for m in re.finditer(CHANNEL_PIECE, sentence_of(view, h.quote[0])):
            if count_value(m.group("n")) not in values:
                return True
    return False


# --------------------------------------------------------------------------- figures for checks


def application_paths(*keys_or_groups: str) -> list[str]:
    """Table-3 总计 paths of the rows with these keys or in these groups, from the templates."""
    return list(_application_paths(keys_or_groups))


@cache
def _application_paths(keys_or_groups: tuple[str, ...]) -> tuple[str, ...]:
    """application_paths once per question (the templates are static; asked for every report)."""
    return tuple(
        f"applications.{r.key}.total"
        for r in table3_rows()
        if (r.key in keys_or_groups or (r.group or "") in keys_or_groups) and r.subrow_of is None
    )


def review_paths(*keys: str) -> list[str]:
    return list(_review_paths(keys))


@cache
def _review_paths(keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"reviews_and_litigation.{g.key}.total" for g in table4_groups() if g.key in keys)


@cache
def group_label(prefix: str) -> str:
    """The printed group label of table 3 that contains `prefix` (e.g. 不予公开 → （三）不予公开)."""
    for r in table3_rows():
        if r.group and prefix in r.group:
            return r.group
    raise KeyError(prefix)


RESULT_TAIL = rf"(?:答复|决定|的|类|申请)*{TOTAL_WORDS}{NUM}(?:件|条|个|宗|份)"
REVIEW_UNIT = r"(?:件|起|宗|个)"
# 未 / 没有 not after 尚 (尚未 is "not yet", no statement of none). The look-behind stands after
# the first character, so that the engine looks for 未 and 没 in C (see LEADING_NUM).
NOT_YET = r"(?:未(?<!尚未)|没(?<!尚没)有)"
REVIEW_NONE = (
    rf"{NOT_YET}(?:发生|出现|收到)?(?P<mid>{NOT_DIGIT}{{0,20}}?)(?:被?申请|被?提起|引起|引发)?"
    rf"行政复议(?P<lit>{AND}?,?(?:被?提起|引起)?行政诉讼)?"
)
LITIGATION_NONE = rf"{NOT_YET}(?:发生|出现|收到)?(?P<mid>{NOT_DIGIT}{{0,20}}?)(?:被?提起|引起|引发)?行政诉讼"
REVIEW_NONE_REJECT = r"纠|败诉|撤销|复议|审结|办结|结案"


@dataclass(frozen=True)
class FigureRule:
    """Prose patterns for one table quantity and the table paths whose sum it is.

    `about_disclosure`: a 行政复议 count must be about 信息公开, not all the body's cases.
    """

    paths: Callable[[], list[str]]
    patterns: tuple[str, ...]
    needs: tuple[str, ...]  # what every match contains (`scan`)
    about_disclosure: bool = False


def figure_rules() -> list[FigureRule]:
    granted = r"(?=[同予全])(?<!不)(?<!部分)(?<!不予)(?:同意公开|予以公开|全部公开)"  # fail fast: see LEADING_NUM
    return [
        FigureRule(lambda: application_paths("granted"), (granted + RESULT_TAIL,),
                   ("同意公开", "予以公开", "全部公开")),
        FigureRule(
            lambda: application_paths("partially_granted"),
            (r"(?:同意部分公开|部分予以公开|部分公开)" + RESULT_TAIL,),
            ("部分",),
        ),
        FigureRule(
            lambda: application_paths(group_label("不予公开")), (r"不予以?公开" + RESULT_TAIL,), ("不予",)
        ),
        FigureRule(
            lambda: application_paths(group_label("无法提供")), (r"无法提供" + RESULT_TAIL,), ("无法提供",)
        ),
        FigureRule(
            lambda: application_paths(group_label("不予处理")), (r"不予处理" + RESULT_TAIL,), ("不予处理",)
        ),
        FigureRule(lambda: application_paths("other_total"), (r"其他处理" + RESULT_TAIL,), ("其他处理",)),
        FigureRule(
            lambda: application_paths("carried_over"),
            (rf"上年结转(?:政府信息公开|依申请公开)?(?:申请)?{TOTAL_WORDS}{NUM}(?:件|个|宗)",),
            ("上年结转",),
        ),
        FigureRule(
            lambda: application_paths("carried_forward"),
            (
                rf"(?:结转|转入|转)(?:至|到)?下一?年度?(?:继续)?(?:办理|处理)?(?:答复)?的?{TOTAL_WORDS}{NUM}(?:件|个|宗)",
                rf"{LEADING_NUM}(?:件|个|宗)(?:申请)?(?:结转|转入|转)(?:至|到)?下一?年度",
            ),
            ("转",),
        ),
        FigureRule(
            lambda: ["active_disclosure.normative_documents.in_force"],
            (
                rf"现行有效的?(?:行政)?规范性文件{TOTAL_WORDS}{NUM}(?:件|项|个|份)",
                rf"(?:行政)?规范性文件(?:现行有效|有效)的?{TOTAL_WORDS}{NUM}(?:件|项|个|份)",
            ),
            ("规范性文件",),
        ),
        FigureRule(
            lambda: review_paths("administrative_review"),
            (
                rf"行政复议(?:案件|申请)?(?:数)?{TOTAL_WORDS}{NUM}{REVIEW_UNIT}",
                rf"{LEADING_NUM}{REVIEW_UNIT}(?P<mid>{NOT_DIGIT}{{0,16}}?)行政复议(?!{AND}?行政诉讼)",
            ),
            ("行政复议",),
            about_disclosure=True,
        ),
        FigureRule(
            lambda: review_paths("litigation_direct", "litigation_after_review"),
            (
                rf"行政诉讼(?:案件)?(?:数)?{TOTAL_WORDS}{NUM}{REVIEW_UNIT}",
                rf"{LEADING_NUM}{REVIEW_UNIT}(?P<mid>{NOT_DIGIT}{{0,16}}?)行政诉讼",
            ),
            ("行政诉讼",),
            about_disclosure=True,
        ),
    ]


def none_review_hits(view: ProseView) -> list[tuple[list[str], Hit]]:
    """未发生…行政复议、行政诉讼: a stated 0 for the review total and the litigation totals."""
    out: list[tuple[list[str], Hit]] = []
    for pattern, both, needs in ((REVIEW_NONE, True, "行政复议"), (LITIGATION_NONE, False, "行政诉讼")):
        for m in scan((pattern,), view.compact, (needs,)):
            if re.search(REVIEW_NONE_REJECT, m.group("mid")):
                continue
            if re.match(r"被?(?:纠|撤销|败诉)", view.compact[m.end() : m.end() + 3]):
                continue
            span = view.span(*m.span())
            hit = Hit(0, span, span)
            if both:
                out.append((review_paths("administrative_review"), hit))
                if m.group("lit"):
                    out.append((review_paths("litigation_direct", "litigation_after_review"), hit))
            else:
                out.append((review_paths("litigation_direct", "litigation_after_review"), hit))
    return out


def about_disclosure(view: ProseView, hit: Hit) -> bool:
    """A 行政复议/行政诉讼 count about 信息公开 (this sentence or the one before says so), and not
    the body acting as the review organ (办理/受理行政复议案件)."""
    start = compact_index(view, hit.quote[0])
    if re.search(r"办理|审理|受理|审结|办结|收到|接到", view.compact[max(0, start - 6) : start]):
        return False
    sentence_start = view.compact.rfind("。", 0, start)
    previous_start = view.compact.rfind("。", 0, max(0, sentence_start))
    end = view.compact.find("。", start)
    context = view.compact[previous_start + 1 : len(view.compact) if end < 0 else end]
    return "信息公开" in context


def read_figures(view: ProseView, narrative_hits: dict[str, list[Hit]]) -> list[dict[str, Any]]:
    """Explicit prose statements of table quantities, for the text_table_conflict check."""
    found: list[tuple[list[str], Hit]] = []
    for rule in figure_rules():
        paths = rule.paths()
        for hit in number_hits(view, rule.patterns, reject="其中|通过", part_words=(), needs=rule.needs):
            if not rule.about_disclosure or about_disclosure(view, hit):
                found.append((paths, hit))
    received = application_paths("new_received")
    for hit in narrative_hits["narrative.applications_received"]:
        if not hit.qualified:
            found.append((received, hit))
    found.extend(f for f in none_review_hits(view) if about_disclosure(view, f[1]))
    stated: dict[tuple[str, ...], set[int | bool]] = {}
    for paths, hit in found:
        stated.setdefault(tuple(paths), set()).add(hit.value)
    figures: list[dict[str, Any]] = []
    seen: set[tuple[tuple[str, ...], int | bool]] = set()
    for paths, hit in sorted(found, key=lambda f: f[1].quote):
        key = (tuple(paths), hit.value)
        if not paths or key in seen or len(stated[key[0]]) > 1:
            continue  # two different statements of one quantity: unsure, so no figure
        seen.add(key)
        figures.append(
            {
                "paths": paths,
                "value": int(hit.value),
                "span": list(hit.span),
                "quote": view.original[hit.quote[0] : hit.quote[1]],
            }
        )
    return figures


# --------------------------------------------------------------------------- meta: year, date


TITLE = (
    rf"(?P<year>20\d{{2}})年度?(?P<mid>[{HAN}()]{{0,30}}?)政府信息公开(?:工作)?"
    r"(?:年度报告|年报|工作报告|报告)"
)
STATS_YEAR = [
    r"统计(?:期限|期间|周期|时间|区间|期)[^。]{0,12}?(?P<n>20\d{2})年",
    r"自(?P<n>20\d{2})年1月1日",
]
STATS_YEAR_NEEDS = ("统计", "年1月1日")
CN_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"○": 0, "零": 0, "O": 0, "0": 0}
DATE = (
    r"(?P<y>20\d{2}|二[〇○零O0][一二三四五六七八九〇○零]{2})\s*年\s*"
    r"(?P<m>\d{1,2}|[一二三四五六七八九十]{1,2})\s*月\s*"
    r"(?P<d>\d{1,2}|[一二三四五六七八九十]{1,3})\s*日"
)
ISO_DATE = r"(?P<y>20\d{2})[-./](?P<m>\d{1,2})[-./](?P<d>\d{1,2})"


@dataclass(frozen=True)
class Title:
    """A title-like statement: its year, and the body it names before or inside it (if any)."""

    year: int
    year_span: Span
    name: str | None
    name_span: Span | None


def in_book_title(compact: str, start: int) -> bool:
    return compact.rfind("《", 0, start) > compact.rfind("》", 0, start)


def names_a_notice(compact: str, end: int) -> bool:
    """Followed by 编制/报送/…的通知: the title of a notice about reports, not a report's title."""
    follow = r"的?(?:编制|报送|编报|工作的通知|有关事项)|(?:发布|公布)(?:工作|和|及|等)"
    return re.match(follow, compact[end:]) is not None


def find_titles(view: ProseView) -> list[Title]:
    """Title-like statements in text order; 《…》 citations only when nothing else names a title
    (some pages print the report's title only inside 关于印发《…》的通知)."""
    plain: list[Title] = []
    cited: list[Title] = []
    for m in re.finditer(TITLE, view.compact):
        if names_a_notice(view.compact, m.end()):
            continue
        name, span = _title_name(view, m)
        title = Title(int(m.group("year")), view.span(*m.span("year")), name, span)
        (cited if in_book_title(view.compact, m.start()) else plain).append(title)
    return plain or cited


def _line_bounds(text: str, pos: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, len(text) if end < 0 else end


# Browser print headers put the page title between a date/time and a URL: 静乐县人民政府门户网站 |
# 2023年…报告, or 2023年…报告_静乐县人民政府网.
TITLE_SEPARATOR = r"[|_\-—–·:]+"
SITE_WORDS = r"(?:门户网站|政府网站|网站|网)"


TITLE_NAME_REACH = 200


def _title_name(view: ProseView, m: re.Match[str]) -> tuple[str | None, Span | None]:
    """The body a title names: between year and 政府信息公开, else before the year on its line
    (past a print header's separator), else after the title behind a separator, else the line
    above when that line is only a body's name."""
    mid = m.group("mid")
    if mid and is_org_name(mid):
        return mid, view.span(*m.span("mid"))
    year_at = view.span(*m.span("year"))[0]
    own_line_start, line_end = _line_bounds(view.masked, year_at)
    # A name stands close before its title: a window, not the whole line (crawler text is one
    # line, and an end-anchored search over it is quadratic).
    line_start = max(own_line_start, year_at - TITLE_NAME_REACH)
    line_end = min(line_end, year_at + TITLE_NAME_REACH)
    before = view.masked[line_start:year_at]
    site = re.search(rf"{SITE_WORDS}?\s*{TITLE_SEPARATOR}\s*$", before)
    if site:
        before = before[: site.start()]
    run = re.search(rf"[{HAN}()\s]+$", before)
    if run and run.group().strip():
        name, offset = _clean_run(run.group())
        if name and is_org_name(name):
            start = line_start + run.start() + offset
            return name, _span_of(view.masked, start, name)
    title_end = view.span(m.start(), m.end())[1]
    tail = re.match(
        rf"\s*{TITLE_SEPARATOR}\s*(?P<org>[{HAN}()]{{2,40}}?){SITE_WORDS}?(?![{HAN}()])",
        view.masked[title_end:line_end],
    )
    if tail and is_org_name(tail.group("org")):
        return tail.group("org"), (title_end + tail.start("org"), title_end + tail.end("org"))
    if run and run.group().strip():
        return None, None
    previous = [(p, ln) for p, ln in _lines(view.masked[:own_line_start]) if ln.strip()]
    if previous:
        pos, line = previous[-1]
        name = re.sub(r"\s", "", line)
        if is_org_name(name):
            return name, _span_of(view.masked, pos + len(line) - len(line.lstrip()), name)
        header = re.fullmatch(PRINT_HEADER, line)
        if header and is_org_name(header.group("org")):
            return header.group("org"), (pos + header.start("org"), pos + header.end("org"))
    return None, None


# A printed page's header line: date and time, the page title (a body's name), a URL, a counter.
PRINT_HEADER = (
    r"[\s\d/:.\-]*(?:[上下]午[\s\d:]*)?\s*"
    rf"(?P<org>[{HAN}()]{{2,40}}?){SITE_WORDS}?[\s|_\-]*(?:https?://\S*)?[\s\d/]*"
)


JUNK_BEFORE_NAME = ("当前位置", "首页", "正文", "标题", "栏目", "年报", "公开", "位置")


def _clean_run(run: str) -> tuple[str, int]:
    """Drop navigation words before a name; return the name and its offset inside the run."""
    cut = 0
    for junk in JUNK_BEFORE_NAME:
        i = run.rfind(junk)
        if i >= 0:
            cut = max(cut, i + len(junk))
    rest = run[cut:]
    lead = len(rest) - len(rest.lstrip())
    return re.sub(r"\s", "", rest), cut + lead


def _span_of(text: str, start: int, name: str) -> Span:
    """The original span of `name` starting at `start`, skipping white space inside it."""
    i, k = start, 0
    while i < len(text) and k < len(name):
        if text[i] == name[k]:
            k += 1
        elif not text[i].isspace():
            break
        i += 1
    return (start, i)


def is_org_name(name: str) -> bool:
    """A body's name: 2–40 Chinese characters ending like a body (镇, 人民政府, 委员会, 局 …);
    not a self-reference such as 我局, 本市, 全区."""
    if not re.fullmatch(rf"[{HAN}()]{{2,40}}", name):
        return False
    if len(name) == 2 and name[0] in "我本该全各此":
        return False
    return name.endswith(tuple(phrases()["org_suffixes"]))


def read_report_year(view: ProseView, titles: list[Title], signature: Signature) -> Reading:
    """The year the report covers: the title's, checked against the 统计期限 and the 落款's year
    (a report is signed in the year after the one it covers)."""
    stats = number_hits(view, STATS_YEAR, part_words=(), needs=STATS_YEAR_NEEDS)
    path = "meta.report_year"
    if titles:
        t = titles[0]
        doubts: list[str] = []
        evidence: list[str] = []
        if stats and stats[0].value != t.year:
            doubts.append("statistics_year_differs")
        elif stats:
            evidence.append("statistics_period_agrees")
        if signature.date is not None and signature.date.year == t.year + 1:
            evidence.append("signed_the_year_after")
        return Reading(
            path=path,
            value=t.year,
            source="text",
            span=t.year_span,
            doubts=doubts,
            alternatives=[stats[0].value] if doubts else [],
            evidence=evidence,
        )
    if stats:
        evidence = []
        if signature.date is not None and signature.date.year == stats[0].value + 1:
            evidence.append("signed_the_year_after")
        return Reading(path=path, value=stats[0].value, source="text", span=stats[0].span,
                       evidence=evidence)
    return Reading(path=path, value=None, source="text")


def _cn_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if all(c in CN_DIGITS for c in text):
        return int("".join(str(CN_DIGITS[c]) for c in text))
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (CN_DIGITS[tens] if tens else 1) * 10 + (CN_DIGITS[ones] if ones else 0)
    return CN_DIGITS[text]


def _to_date(m: re.Match[str]) -> date | None:
    try:
        return date(_cn_number(m.group("y")), _cn_number(m.group("m")), _cn_number(m.group("d")))
    except (ValueError, KeyError):
        return None


@dataclass(frozen=True)
class Signature:
    """The 落款: the date under the report and the body's name above or beside it.

    `alone`: the date stands on its own line (or under the name) and no other closing date line
    says otherwise: a layout with one reading, unlike a date found glued into the last sentence.
    """

    date: date | None
    date_span: Span | None
    name: str | None
    name_span: Span | None
    alone: bool = False


def _lines(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, line))
        pos += len(line) + 1
    return out


def _glued_signature(view: ProseView) -> Signature | None:
    """Crawler text runs the 落款 into the last sentence: `…事项。某某局2025年3月16日 附件下载`."""
    tail_start = max(0, len(view.masked) - 600)
    found = None
    for m in re.finditer(rf"[。！；;.!]\s*(?P<org>[{HAN}()]{{2,40}}?)\s*{DATE}", view.masked[tail_start:]):
        found = m
    if found is None or not is_org_name(found.group("org")):
        return None
    when = _to_date(found)
    if when is None:
        return None
    base = tail_start
    return Signature(when, (base + found.start("y"), base + found.end()), found.group("org"),
                     (base + found.start("org"), base + found.end("org")))


def _closing_dates(lines: list[tuple[int, str]], half: int) -> set[date]:
    """Every date that fills a line of its own in the second half of the text."""
    out = set()
    for pos, line in lines:
        if pos < half:
            continue
        m = re.fullmatch(rf"(?:[{HAN}()]{{2,40}})?\s*(?:{DATE})", line.strip()) or re.fullmatch(
            rf"(?:[{HAN}()]{{2,40}})?\s*(?:{ISO_DATE})", line.strip()
        )
        when = _to_date(m) if m else None
        if when is not None:
            out.add(when)
    return out


def find_signature(view: ProseView) -> Signature:
    """The last date line that closes the text (or sits under a body's name); a crawler's
    发布时间 header is a key: value line, not a 落款."""
    margin = " \t" + TABLE_MARK
    lines = [(p, ln) for p, ln in _lines(view.masked) if ln.strip(margin)]
    half = len(view.masked) // 2
    for idx in range(len(lines) - 1, -1, -1):
        pos, line = lines[idx]
        if pos < half:
            break
        stripped = line.strip()
        lead = pos + len(line) - len(line.lstrip())
        m = re.fullmatch(rf"(?P<org>[{HAN}()]{{2,40}})?\s*{DATE}", stripped) or re.fullmatch(
            rf"(?P<org>[{HAN}()]{{2,40}})?\s*{ISO_DATE}", stripped
        )
        if m is None:
            continue
        when = _to_date(m)
        if when is None:
            continue
        date_start = lead + m.start("y")
        date_span = (date_start, lead + m.end())
        name, name_span = None, None
        if m.group("org") and is_org_name(m.group("org")):
            name, name_span = m.group("org"), (lead + m.start("org"), lead + m.end("org"))
        elif idx > 0:
            ppos, pline = lines[idx - 1]
            cand = re.sub(r"\s", "", pline)
            if is_org_name(cand):
                start = ppos + len(pline) - len(pline.lstrip())
                name, name_span = cand, _span_of(view.masked, start, cand)
        tail = re.sub(r"\s", "", view.masked[date_span[1] :]).replace(TABLE_MARK, "")
        if name or len(tail) <= 200:
            others = {d for d in _closing_dates(lines, half) if d != when}
            return Signature(when, date_span, name, name_span, alone=not others)
    glued = _glued_signature(view)
    if glued is not None:
        return glued
    if lines:
        pos, line = lines[-1]
        cand = re.sub(r"\s", "", line)
        if is_org_name(cand) and pos >= half:
            start = pos + len(line) - len(line.lstrip())
            return Signature(None, None, cand, _span_of(view.masked, start, cand))
    return Signature(None, None, None, None)


def read_published_on(signature: Signature, year: int | None) -> Reading:
    """The 落款 date. Evidence: it stands alone (one reading of the layout) and falls in the
    report year or the year after, the only window a report is signed in."""
    path = "meta.published_on"
    if signature.date is None:
        return Reading(path=path, value=None, source="text")
    doubts = []
    evidence = []
    if year is not None and not year <= signature.date.year <= year + 2:
        doubts.append("signature_date_far_from_year")
    elif year is not None and signature.alone and signature.date.year in (year, year + 1):
        evidence.append("single_signature_date_in_year")
    return Reading(
        path=path,
        value=signature.date.isoformat(),
        source="text",
        span=signature.date_span,
        doubts=doubts,
        evidence=evidence,
    )


# --------------------------------------------------------------------------- meta: issuer

PLACE = r"(?:自治区|自治州|自治县|地区|省|市|州|盟|县|区|旗)"


def government_core(name: str) -> str:
    """The name without a trailing 人民政府/管理委员会/管委会: what the scoring compares."""
    for suffix in phrases()["government_suffixes"]:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def expand_abbreviation(name: str) -> str:
    """上海市科委 → 上海市科学技术委员会, from the small table in schemas/prose.json only."""
    for short, full in sorted(phrases()["abbreviations"].items(), key=lambda kv: -len(kv[0])):
        if name.endswith(short) and not name.endswith(full):
            return name[: -len(short)] + full
    return name


def starts_line(view: ProseView, pos: int) -> bool:
    """The compact character at `pos` begins a line of the original text."""
    if pos <= 0:
        return True
    return "\n" in view.original[view.offsets[pos - 1] + 1 : view.offsets[pos]]


def place_prefix(view: ProseView, core: str) -> str | None:
    """The county/city the body text puts before the name (静乐县 + 康家会镇), most common first."""
    boundary = phrases()["prefix_boundary_chars"]
    bad_start = phrases()["not_place_names"]
    found: Counter[str] = Counter()
    for m in re.finditer(re.escape(core), view.compact):
        window_start = max(0, m.start() - 14)
        window = view.compact[window_start : m.start()]
        cut_by_text = window_start == 0
        non_han = [i for i, c in enumerate(window) if not is_han(c)]
        if non_han:
            window = window[non_han[-1] + 1 :]
            cut_by_text = True
        first = m.start() - len(window)
        for k in range(len(window)):
            clean = (
                (k == 0 and cut_by_text)
                or (k > 0 and window[k - 1] in boundary)
                or starts_line(view, first + k)
            )
            cand = window[k:]
            if (
                clean
                and cand[0] not in bad_start
                and re.fullmatch(rf"(?:[{HAN}]{{1,5}}?{PLACE})+", cand)
            ):
                if not core.startswith(cand):
                    found[cand] += 1
                break
    if not found:
        return None
    return max(found.items(), key=lambda kv: (kv[1], len(kv[0])))[0]


def _consistent(longer: str, shorter: str) -> bool:
    return government_core(longer).endswith(government_core(shorter))


def read_issuer(
    view: ProseView, titles: list[Title], signature: Signature
) -> tuple[Reading, Placement | None]:
    """The issuing body's full name: the signature and the title, completed from the body text,
    and placed in the official list of divisions (a one-character slip in a county or city name
    that the text never prints correctly is put right, and said so)."""
    path = "meta.issuer"
    title = next((t for t in titles if t.name), None)
    named: list[tuple[str, Span]] = []
    if title and title.name and title.name_span:
        named.append((title.name, title.name_span))
    if signature.name and signature.name_span:
        named.append((signature.name, signature.name_span))
    if not named:
        return Reading(path=path, value=None, source="text", doubts=["issuer_not_named"]), None
    doubts: list[str] = []
    evidence: list[str] = []
    name, span = named[0]
    if len(named) == 2:
        other, other_span = named[1]
        if _consistent(other, name) and len(other) >= len(name):
            name, span = other, other_span
            evidence.append("title_and_signature_agree")
        elif _consistent(name, other) or other.startswith(government_core(name)):
            evidence.append("title_and_signature_agree")
        else:
            doubts.append("title_signature_disagree")
    name = expand_abbreviation(name)
    core = government_core(name)
    prefix = place_prefix(view, core)
    if prefix:
        name = prefix + name
        core = prefix + core
    if (
        not name.endswith(tuple(phrases()["government_suffixes"]))
        and re.search(r"(?:镇|乡|县|区|市|旗)$", name)
        and (core + "人民政府") in view.compact
    ):
        name = core + "人民政府"
    placement = place(name, view.compact, tuple(phrases()["never_division_endings"]))
    alternatives: list[str] = []
    if placement.corrections:
        printed = name
        for wrong, right in placement.corrections:
            name = name.replace(wrong, right, 1)
            core = core.replace(wrong, right, 1)
        doubts.append("issuer_corrected_to_official_name")
        alternatives.append(printed)
    elif placement.exact and placement.division is not None:
        evidence.append("official_division")
    if re.search(r"(?:镇|乡|街道|街道办事处|苏木)$", core) and not re.search(
        r"(?:县|区|市|旗)", core[:-2]
    ):
        doubts.append("issuer_without_county")
    reading = Reading(path=path, value=name, source="text", span=span, doubts=doubts,
                      alternatives=alternatives, evidence=evidence)
    return reading, placement


def read_division(placement: Placement | None, span: Span | None) -> dict[str, Reading]:
    """meta.division_code / meta.division_name: the most specific official division the issuer
    names (a town's or a department's is its county's, city's or province's; the 6-digit code
    has no town level). Same-named divisions the text cannot tell apart: null, low, listed."""
    code_path, name_path = DIVISION_PATHS
    if placement is None or (placement.division is None and not placement.candidates):
        return {p: Reading(path=p, value=None, source="text") for p in DIVISION_PATHS}
    if placement.division is None:
        doubts = ["division_ambiguous"]
        return {
            code_path: Reading(path=code_path, value=None, source="text", doubts=doubts,
                               alternatives=[d.code for d in placement.candidates]),
            name_path: Reading(path=name_path, value=None, source="text", doubts=doubts,
                               alternatives=[d.full_name for d in placement.candidates]),
        }
    div = placement.division
    doubts = ["issuer_corrected_to_official_name"] if placement.corrections else []
    evidence = ["official_division"] if placement.exact else []
    return {
        code_path: Reading(path=code_path, value=div.code, source="text", span=span,
                           doubts=doubts, evidence=evidence),
        name_path: Reading(path=name_path, value=div.full_name, source="text", span=span,
                           doubts=doubts, evidence=evidence),
    }


# --------------------------------------------------------------------------- entry point


def _check_input(text: object, table_spans: object) -> list[tuple[int, int]]:
    if not isinstance(text, str):
        raise InvalidProseInput("the prose must be a text string", "正文必须是文本字符串")
    spans: list[tuple[int, int]] = []
    for item in table_spans if isinstance(table_spans, list | tuple) else [None]:
        if (
            not isinstance(item, list | tuple)
            or len(item) != 2
            or not all(isinstance(x, int) for x in item)
            or item[0] > item[1]
        ):
            raise InvalidProseInput(
                f"a table range must be two increasing offsets, got {item!r}",
                f"表格范围必须是两个递增的字符位置，实际为 {item!r}",
            )
        spans.append((item[0], item[1]))
    return spans


def read_prose(text: str, table_spans: list[tuple[int, int]]) -> SectionReading:
    """Read meta.issuer/report_year/published_on and narrative.* from the prose outside the tables.

    Every path gets a Reading (value None when the text does not state it); facts["figures"]
    lists the prose statements of table quantities for the text/table conflict check.
    """
    spans = _check_input(text, table_spans)
    view = build_view(text, spans)
    titles = find_titles(view)
    signature = find_signature(view)
    year = read_report_year(view, titles, signature)
    issuer, placement = read_issuer(view, titles, signature)
    readings = {
        "meta.issuer": issuer,
        "meta.report_year": year,
        "meta.published_on": read_published_on(
            signature, year.value if isinstance(year.value, int) else None
        ),
        **read_division(placement, issuer.span),
    }
    narrative, hits = read_narrative(view)
    readings.update(narrative)
    return SectionReading(
        section="narrative",
        found=True,
        readings=readings,
        facts={"figures": read_figures(view, hits)},
    )
