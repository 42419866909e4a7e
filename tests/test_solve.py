"""Glued digits and ambiguous readings: the rules choose, and doubt is never hidden."""

from __future__ import annotations

import time

from service.parse.rows import Slot, cut_slots, find_anchors
from service.parse.solve import row_options, split_run
from service.pipeline import extract_bytes
from service.templates import table3_rows

ROW = [(6, list(range(6)))]


def texts(run: str, n: int, groups=ROW) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [[t for t, _ in s] for s in split_run(run, n, groups=groups).splits]


def test_row_total_pins_a_glued_row() -> None:
    assert texts("640020470", 7) == [["64", "0", "0", "2", "0", "4", "70"]]


def test_row_total_alone_can_leave_two_readings() -> None:
    got = texts("270020130", 7)
    assert ["27", "0", "0", "2", "0", "1", "30"] in got and ["2", "7", "0", "0", "20", "1", "30"] in got


def test_no_leading_zeros_and_group_totals_for_table4() -> None:
    groups = [(4, range(4)), (9, range(5, 9)), (14, range(10, 14))]
    got = texts("10203120001200000", 15, groups)
    assert got == [["1", "0", "2", "0", "3", "12", "0", "0", "0", "12", "0", "0", "0", "0", "0"]]


def test_forced_cuts_are_respected() -> None:
    got = texts("500000" + "5", 7)
    assert got == [["5", "0", "0", "0", "0", "0", "5"]]
    res = split_run("5000005", 7, cuts=frozenset({6}), groups=ROW)
    assert [[t for t, _ in s] for s in res.splits] == [["5", "0", "0", "0", "0", "0", "5"]]


def test_long_glued_row_is_bounded_and_says_so() -> None:
    run = "1020304050607080" * 4  # 64 digits under three group totals
    groups = [(4, range(4)), (9, range(5, 9)), (14, range(10, 14))]
    start = time.perf_counter()
    full = split_run(run, 15, groups=groups)
    elapsed = time.perf_counter() - start
    assert elapsed < 5 and not full.truncated  # pruned by the group totals, exhaustive
    small = split_run(run, 15, groups=groups, budget=200)
    assert small.truncated  # out of budget: recorded, never silent


def test_row_options_fill_blanks_or_split() -> None:
    slots = [Slot("3", (0, 1)), Slot("3", (2, 3))]
    trailing = [Slot("", (4, 4), blank=True)] * 5
    opts = row_options(slots, [], trailing, 7, groups=ROW)
    assert opts.options  # blanks complete the row; the row total cannot be checked
    assert all(len(o) == 7 for o in opts.options)


def test_extra_cells_are_kept_aside() -> None:
    slots = [Slot(str(i % 2), (i, i + 1)) for i in range(8)]
    opts = row_options(slots, [], [], 7)
    assert len(opts.options) == 1 and len(opts.extra) == 1


def test_cut_slots_peels_the_next_labels_numbering() -> None:
    text = "1.属于国家秘密00000002.其他法律行政法规禁止公开"
    start = text.index("密") + 1
    end = text.index("其他") - 2
    raw = cut_slots(text, start, end + 2, "2")
    assert [s.text for s in raw.slots] == ["0000000"]


def test_misspelt_label_is_found_fuzzily_in_order() -> None:
    text = "\n".join(["1.属于国家秘密", "2.其他法律行政止公开", "3.危及“三安全一稳定”"])
    anchors = find_anchors(text, 0, len(text), [r for r in table3_rows() if r.key.startswith("withheld")][:3])
    assert [a.key for a in anchors] == ["withheld_state_secret", "withheld_prohibited_by_law",
                                       "withheld_security_stability"]
    assert anchors[1].fuzzy


def _glued_report(row: str) -> bytes:
    from service.templates import table3_rows as rows

    parts = ["某县2021年政府信息公开工作年度报告", "三、收到和处理政府信息公开申请情况（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）申请人情况自然人法人或其他组织总计商业企业科研机构社会公益组织法律服务机构其他"]
    for r in rows():
        if r.key in ("other_overdue_correction", "other_overdue_fee", "other_misc"):
            continue
        parts.append(r.label + (row if r.key in ("new_received", "total") else "0000000"))
    return "".join(parts).encode("utf-8")


def test_ambiguous_glued_cells_are_low_with_alternatives() -> None:
    # 11 0 0 0 0 0 11 vs 1 1 0 0 0 0 ... : "1100000 11" style runs admit several splits.
    _, ex = extract_bytes(_glued_report("2200004"), "glued.txt")
    cells = [ex.field(f"applications.new_received.{c}") for c in ("natural_person", "commercial_enterprise")]
    assert all(c is not None for c in cells)
    values = [c.value for c in cells]  # type: ignore[union-attr]
    if values != [2, 2]:
        assert all(c.level == "low" for c in cells)  # type: ignore[union-attr]
    low = [f for f in ex.fields if f.level == "low" and f.path.startswith("applications.new_received")]
    for f in low:
        assert f.flags


def test_unambiguous_glued_row_is_high() -> None:
    _, ex = extract_bytes(_glued_report("640020470"), "glued.txt")
    f = ex.field("applications.new_received.natural_person")
    assert f is not None and f.value == 64
    t = ex.field("applications.total.total")
    assert t is not None and t.value == 70
