"""The prose reader: each rule on short synthetic sentences, then every seed and dev report's gold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.errors import NianbaoError
from service.ingest.normalize import normalize_text
from service.parse.prose import META_PATHS, NARRATIVE_PATHS, read_prose
from service.readings import SectionReading
from service.templates import table3_rows

EVALS = Path(__file__).resolve().parents[1] / "evals"


def read(text: str, spans: list[tuple[int, int]] | None = None) -> SectionReading:
    return read_prose(normalize_text(text), spans or [])


def value_and_quote(text: str, path: str) -> tuple[Any, str | None]:
    """The reading's value and the text its span points at."""
    text = normalize_text(text)
    reading = read_prose(text, []).readings[path]
    quote = text[reading.span[0] : reading.span[1]] if reading.span else None
    return reading.value, quote


# --------------------------------------------------------------------------- narrative rules


@pytest.mark.parametrize(
    ("text", "value", "quote"),
    [
        ("全年主动公开政府信息 2645 条，主要通过政府网站公开。", 2645, "2645"),
        ("全年主动公开我区各级单位政府信息2645条。", 2645, "2645"),
        ("2023 年，我区在政府网站平台主动公开政府信息 1136 条。", 1136, "1136"),
        (
            "共主动公开信息1305条，通过政府网站公开政府信息105条，微信公众号共发布674条。",
            1305,
            "1305",
        ),
        (
            "主动公开政府信息 296 条。其中，通过专栏主动公开政府信息 119 条，通过政务微信主动公开政府信息 177 条。",
            296,
            "296",
        ),
        # pieces only: no stated total
        ("2021年，通过县政府网发布信息90条，通过“龙井湖”微信公众号发布信息260条。", None, None),
        ("通过政府网站公开政府信息90条，通过微信公众号公开政府信息260条。", None, None),
        # a site's total with news items is not the disclosure total
        ("“上海科技”网站全年累计发布信息 2139 条，其中动态类信息发布 1744 条。", None, None),
        ("本年度依申请公开政府信息 5 件。", None, None),
        ("我镇高度重视政务公开工作。", None, None),
    ],
)
def test_active_disclosure_total(text: str, value: int | None, quote: str | None) -> None:
    assert value_and_quote(text, "narrative.active_disclosure_total") == (value, quote)


def test_active_disclosure_two_totals_is_doubted() -> None:
    reading = read("全年主动公开政府信息 300 条。另，全年主动公开政府信息 320 条。").readings[
        "narrative.active_disclosure_total"
    ]
    assert reading.value == 300
    assert reading.doubts and reading.alternatives == [320]


@pytest.mark.parametrize(
    ("text", "value", "quote"),
    [
        ("三是解读回应情况。公开发布政策解读9条，其中文字解读9条。", 9, "9"),
        ("同步制定发布政策解读文件 3 件。", 3, "3"),
        ("对29项涉及群众切身利益、需广泛知晓的重要政策文件进行解读。", 29, "29"),
        ("解读类信息发布 21 条，回应公众关注热点信息 2 条。", 21, "21"),
        ("加强政策解读，及时回应关切。", None, None),
    ],
)
def test_policy_interpretations(text: str, value: int | None, quote: str | None) -> None:
    assert value_and_quote(text, "narrative.policy_interpretations") == (value, quote)


@pytest.mark.parametrize(
    ("text", "value", "quote"),
    [
        ("2020 年共收到政府信息公开申请 5 件，其中网络申请 2 件。", 5, "5"),
        ("本年度全区共收到70件申请，及时依法依规办结69件。", 70, "70"),
        ("2023 年全区受理政府信息公开申请 21 件。", 21, "21"),
        ("今年共收到依申请公开0件。", 0, "0"),
        (
            "2021年度张村镇未收到群众主动要求政府信息公开的申请。",
            0,
            "未收到群众主动要求政府信息公开的申请",
        ),
        ("(二)依申请公开情况\n无\n(三)政府信息管理\n", 0, "依申请公开情况\n无"),
        ("本年度收到行政复议申请 1 件。", None, None),
        ("上年结转政府信息公开申请 2 件。", None, None),
        ("进一步规范依申请公开流程。", None, None),
    ],
)
def test_applications_received(text: str, value: int | None, quote: str | None) -> None:
    assert value_and_quote(text, "narrative.applications_received") == (value, quote)


@pytest.mark.parametrize(
    ("text", "npc", "cppcc"),
    [
        ("今年共收到人大代表建议 6 件，政协委员提案 5 件，办结 11 件。", 6, 5),
        ("主合办人大代表建议 50 件，主合办政协提案 85 件的办理复文。", 50, 85),
        ("2020年，我镇没有承办人大代表建议和政协委员提案。", 0, 0),
        ("2021年度我镇未收到人大代表建议和政协委员提案。", 0, 0),
        ("本年度未收到人大代表建议。", 0, None),
        ("(三)人大代表建议和政协委员提案办理结果公开情况\n\n无\n\n(四)创新情况\n\n无\n", 0, 0),
        ("办理人大代表建议和政协委员提案共 11 件。", None, None),
        ("办理代表建议 12 件、委员提案 8 件。", 12, 8),
        ("办理代表建议和委员提案共 20 件。", None, None),
        ("存在未及时公开人大代表建议办理结果的问题。", None, None),
        ("六、其他需要报告的事项\n无。\n", None, None),
    ],
)
def test_npc_and_cppcc(text: str, npc: int | None, cppcc: int | None) -> None:
    readings = read(text).readings
    assert readings["narrative.npc_suggestions"].value == npc
    assert readings["narrative.cppcc_proposals"].value == cppcc


def test_npc_zero_span_is_the_phrase() -> None:
    assert value_and_quote("本年度未收到人大代表建议。", "narrative.npc_suggestions") == (
        0,
        "未收到人大代表建议",
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("依据《政府信息公开处理费管理办法》，2021年度我镇未收取信息处理费。", False),
        ("2021年，无收取信息处理费情况。", False),
        ("全年收取政府信息公开信息处理费 0 元。", False),
        ("本年度我镇政府信息公开工作均为免费。", False),
        ("2024 年，市科委未发生政府信息公开收费事项。", False),
        ("(一)收取信息处理费情况\n\n无\n\n(二)落实上级要点情况\n\n已落实。", False),
        ("本年度共收取信息处理费 120 元。", True),
        ("本机关不存在收取信息处理费的情况。", False),
        ("办理政府信息公开申请时，未向申请人收取任何费用。", False),
        ("信息处理费 0 元。", False),
        ("申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请", None),
        ("要求各单位依法落实信息处理费有关规定。", None),
        ("六、其他需要报告的事项\n无。\n", None),
    ],
)
def test_information_fees(text: str, value: bool | None) -> None:
    reading = read(text).readings["narrative.information_fees_collected"]
    assert reading.value is value


def test_every_path_has_a_reading_even_when_silent() -> None:
    section = read("我镇高度重视政务公开工作。")
    assert section.section == "narrative" and section.found
    assert set(section.readings) == set(META_PATHS) | set(NARRATIVE_PATHS)
    assert all(r.value is None and r.source == "text" for r in section.readings.values())
    assert section.facts == {"figures": []}


def test_tables_are_not_read() -> None:
    text = normalize_text("正文。\n同意公开答复 5 件\n全年主动公开政府信息 9 条\n结尾。")
    start = text.index("同意")
    end = text.index("结尾")
    inside = read_prose(text, [(start, end)])
    assert inside.facts["figures"] == []
    assert inside.readings["narrative.active_disclosure_total"].value is None
    outside = read_prose(text, [])
    assert outside.readings["narrative.active_disclosure_total"].value == 9
    assert [f["value"] for f in outside.facts["figures"]] == [5]


def test_a_number_split_by_a_line_break_is_not_a_clean_statement() -> None:
    assert value_and_quote("主动公开政府信息 11\n36 条。", "narrative.active_disclosure_total") == (
        None,
        None,
    )


# --------------------------------------------------------------------------- figures


def figures(text: str) -> list[dict[str, Any]]:
    norm = normalize_text(text)
    out = read_prose(norm, []).facts["figures"]
    for f in out:
        assert norm[f["span"][0] : f["span"][1]] in (str(f["value"]), f["quote"])
        assert f["quote"] in norm
    return list(out)


def rows_in_group(word: str) -> list[str]:
    return [f"applications.{r.key}.total" for r in table3_rows() if r.group and word in r.group]


def test_figures_of_application_results() -> None:
    found = figures(
        "其中，同意公开答复 5 件，部分公开的 0 件，不予公开答复 2 件，无法提供的 10 件，其他处理 14 件。"
    )
    by_value = {f["quote"]: f for f in found}
    assert by_value["同意公开答复 5 件"]["paths"] == ["applications.granted.total"]
    assert by_value["部分公开的 0 件"]["paths"] == ["applications.partially_granted.total"]
    withheld = by_value["不予公开答复 2 件"]["paths"]
    assert withheld == rows_in_group("不予公开") and len(withheld) == 8
    assert by_value["无法提供的 10 件"]["paths"] == rows_in_group("无法提供")
    assert by_value["其他处理 14 件"]["paths"] == ["applications.other_total.total"]


def test_figures_of_received_carried_and_normative_documents() -> None:
    found = figures(
        "全年收到政府信息公开申请 34 件，1件结转下年度继续办理。本年度共制发现行有效的规范性文件共 24 项。"
    )
    got = {(tuple(f["paths"]), f["value"]) for f in found}
    assert (("applications.new_received.total",), 34) in got
    assert (("applications.carried_forward.total",), 1) in got
    assert (("active_disclosure.normative_documents.in_force",), 24) in got


def test_figures_of_reviews_need_a_disclosure_context() -> None:
    lit = (
        "reviews_and_litigation.litigation_direct.total",
        "reviews_and_litigation.litigation_after_review.total",
    )
    found = figures("全年未发生因政府信息公开被行政复议、提起行政诉讼情况。")
    got = {(tuple(f["paths"]), f["value"]) for f in found}
    assert got == {(("reviews_and_litigation.administrative_review.total",), 0), (lit, 0)}
    assert figures("本局全年办理行政复议案件 30 件。") == []


def test_channel_counts_are_not_figures_of_a_total() -> None:
    assert figures("其中网络申请 2 件、信件申请 3 件。") == []


# --------------------------------------------------------------------------- meta rules


def test_issuer_year_and_date_from_title_signature_and_body() -> None:
    text = (
        "康家会镇2021年政府信息公开年度报告\n"
        "根据要求，静乐县康家会镇认真贯彻落实《条例》，现将我镇2021年情况报告如下：\n"
        "一、总体情况\n" + "工作稳步推进。\n" * 20 + "康家会镇人民政府\n2022年1月20日\n"
    )
    readings = read(text).readings
    assert readings["meta.issuer"].value == "静乐县康家会镇人民政府"
    assert value_and_quote(text, "meta.issuer")[1] == "康家会镇人民政府"
    assert value_and_quote(text, "meta.report_year") == (2021, "2021")
    assert value_and_quote(text, "meta.published_on") == ("2022-01-20", "2022年1月20日")


def test_issuer_abbreviation_is_expanded() -> None:
    text = "正文\n2024 年上海市科委政府信息公开工作\n年度报告\n上海市科委 2024 年深入贯彻《条例》。"
    assert value_and_quote(text, "meta.issuer") == ("上海市科学技术委员会", "上海市科委")


def test_issuer_ignores_crawler_source_and_date_header() -> None:
    text = (
        "标题: 平潭综合实验区2021年度政府信息公开工作年度报告\n发布时间: 2022-02-08 16:34\n"
        "来源：平潭县人民政府 时间：2022-02-08\n本报告所列数据的统计期限自2021年1月1日起至2021年12月31日止。"
    )
    readings = read(text).readings
    assert readings["meta.issuer"].value == "平潭综合实验区"
    assert readings["meta.published_on"].value is None
    assert readings["meta.report_year"].value == 2021


def test_issuer_prefix_from_the_compiling_office() -> None:
    text = (
        "洪泽区人民政府\n2023 年政府信息公开工作年度报告\n本报告由淮安市洪泽区人民政府办公室编制。"
    )
    assert read(text).readings["meta.issuer"].value == "淮安市洪泽区人民政府"


def test_issuer_partly_named_is_doubted() -> None:
    reading = read("青龙镇2021年政府信息公开工作年度报告\n工作情况。").readings["meta.issuer"]
    assert reading.value == "青龙镇"
    assert reading.doubts


def test_report_year_is_the_covered_year_not_the_publication_year() -> None:
    text = (
        "景芝镇人民政府\n2020 年政府信息公开工作年度报告\n"
        + "正文。\n" * 20
        + "安丘市景芝镇人民政府\n2021年1月26日\n"
    )
    readings = read(text).readings
    assert readings["meta.report_year"].value == 2020
    assert readings["meta.published_on"].value == "2021-01-26"
    assert readings["meta.issuer"].value == "安丘市景芝镇人民政府"


def test_report_year_from_statistics_period_and_title_conflict() -> None:
    only_stats = read("本报告中所列数据的统计期限自 2022 年 1 月 1 日起至 2022 年 12 月 31 日止。")
    assert only_stats.readings["meta.report_year"].value == 2022
    both = read("XX镇2021年政府信息公开工作年度报告\n统计期限自2022年1月1日起至2022年12月31日止。")
    assert both.readings["meta.report_year"].value == 2021
    assert both.readings["meta.report_year"].doubts


def test_chinese_numeral_signature_date() -> None:
    text = (
        "某某县人民政府2021年政府信息公开工作年度报告\n"
        + "正文。\n" * 10
        + "某某县人民政府\n二〇二二年一月二十日\n"
    )
    assert read(text).readings["meta.published_on"].value == "2022-01-20"


def test_title_cited_in_a_notice_is_used_only_as_a_fallback() -> None:
    cited = read("关于印发《华宁县2021年政府信息公开工作年度报告》的通知\n正文。").readings
    assert cited["meta.issuer"].value == "华宁县" and cited["meta.report_year"].value == 2021
    notice = read(
        "青龙镇2021年政府信息公开工作年度报告\n根据《关于做好2020年政府信息公开工作年度报告编制工作的通知》要求。"
    ).readings
    assert notice["meta.report_year"].value == 2021 and notice["meta.issuer"].value == "青龙镇"


def test_a_self_reference_is_not_an_issuer() -> None:
    assert read("2021年我局政府信息公开工作年度报告\n正文。").readings["meta.issuer"].value is None


def test_pending_cases_are_not_a_stated_zero() -> None:
    assert figures("因政府信息公开尚未审结行政复议 1 件。") == []


def test_a_date_in_the_body_is_not_a_signature() -> None:
    text = (
        "某某县人民政府2021年政府信息公开工作年度报告\n"
        + "正文。\n" * 10
        + "我县于2021年3月1日召开会议，部署工作。\n"
    )
    assert read(text).readings["meta.published_on"].value is None


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("text", "spans"), [(123, []), ("文本", [(5, 2)]), ("文本", [(1,)]), ("文本", None)]
)
def test_bad_input_is_a_clear_error(text: Any, spans: Any) -> None:
    with pytest.raises(NianbaoError) as err:
        read_prose(text, spans)
    assert err.value.message_zh and err.value.message_en


# --------------------------------------------------------------------------- gold reports


def gold_cases() -> list[tuple[Path, Path]]:
    cases = []
    for gold in sorted(EVALS.glob("gold/*/*.json")):
        name = json.loads(gold.read_text("utf-8"))["document"]
        doc = EVALS / "docs" / gold.parent.name / name
        if doc.suffix == ".txt" and doc.exists():
            cases.append((gold, doc))
    return cases


def government_core(name: str) -> str:
    for suffix in ("人民政府", "管理委员会", "管委会"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def same_issuer(got: Any, want: Any) -> bool:
    """The scoring rule: after dropping 人民政府/管委会, one name is a suffix of the other."""
    if got is None or want is None:
        return got is want
    a, b = government_core(got), government_core(want)
    return a.endswith(b) or b.endswith(a)


@pytest.mark.parametrize(("gold", "doc"), gold_cases(), ids=lambda p: p.stem)
def test_gold_meta_and_narrative(gold: Path, doc: Path) -> None:
    fields = json.loads(gold.read_text("utf-8"))["fields"]
    text = normalize_text(doc.read_text("utf-8"))
    readings = read_prose(text, []).readings
    wrong = []
    for path in (*META_PATHS, *NARRATIVE_PATHS):
        got, want = readings[path].value, fields.get(path)
        ok = (
            same_issuer(got, want)
            if path == "meta.issuer"
            else (got == want and type(got) is type(want))
        )
        if not ok:
            wrong.append((path, got, want))
        span = readings[path].span
        if isinstance(got, int) and not isinstance(got, bool) and span:
            printed = text[span[0] : span[1]]
            # a count is exactly its digits; only a stated none (未收到…) is a phrase read as 0
            assert printed == str(got) or (got == 0 and not printed.isdigit()), (path, printed)
        if got is not None:
            assert span is not None and span[1] > span[0], path
    assert wrong == []


@pytest.mark.parametrize(("gold", "doc"), gold_cases(), ids=lambda p: p.stem)
def test_gold_figures_raise_exactly_the_expected_conflicts(gold: Path, doc: Path) -> None:
    data = json.loads(gold.read_text("utf-8"))
    fields = data["fields"]
    expected = {f["path"] for f in data["expected_findings"] if f["kind"] == "text_table_conflict"}
    text = normalize_text(doc.read_text("utf-8"))
    conflicts = set()
    for figure in read_prose(text, []).facts["figures"]:
        assert text[figure["span"][0] : figure["span"][1]] in (
            str(figure["value"]),
            figure["quote"],
        )
        values = [fields.get(p) for p in figure["paths"] if p in fields]
        if values and None not in values and sum(values) != figure["value"]:
            conflicts.update(figure["paths"])
    assert conflicts == expected
