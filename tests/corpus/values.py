"""Field dicts (path → value) for synthetic reports, built constructively so that every rule holds.

Parts are drawn first (with the skew real reports show: mostly zeros, natural persons dominant, a few
large counts), totals are computed from them; a rule is broken only on purpose (`break_one_rule`),
so a test knows exactly which `sum_mismatch` the reader owes. Paths and labels come from
`service.templates`, never typed here.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from pathlib import Path

from service.templates import (
    Equation,
    equations,
    paths_for,
    table2,
    table3_columns,
    table3_result_rows,
    table3_rows,
    table4_columns,
    table4_groups,
)

Value = int | float | str | bool | None
Values = dict[str, Value]

# How busy a body is: mean count of one (row, column) cell before row/column weights.
_SCALES = {"idle": 0.0, "tiny": 0.3, "small": 2.0, "medium": 12.0, "large": 120.0}
_SCALE_WEIGHTS = {"idle": 25, "tiny": 30, "small": 25, "medium": 15, "large": 5}

# Natural persons file most applications; research institutions almost never.
_COLUMN_WEIGHTS = {
    "natural_person": 1.0,
    "commercial_enterprise": 0.25,
    "research_institution": 0.02,
    "social_welfare_organization": 0.04,
    "legal_service_organization": 0.08,
    "other_organization": 0.08,
}
_ROW_WEIGHTS = {
    "granted": 1.0,
    "partially_granted": 0.2,
    "withheld_third_party_rights": 0.08,
    "withheld_process_information": 0.08,
    "unavailable_not_held": 0.5,
    "unavailable_needs_creation": 0.1,
    "not_processed_petition_complaint": 0.12,
    "not_processed_repeated": 0.08,
    "other_total": 0.15,
    "other_overdue_correction": 0.08,
    "other_overdue_fee": 0.02,
    "other_misc": 0.12,
}
_DEFAULT_ROW_WEIGHT = 0.03

_PLACES = [
    ("山东省", "庆云县", "常家镇"), ("山西省", "静乐县", "康家会镇"), ("山东省", "安丘市", "景芝镇"),
    ("江苏省", "淮安市洪泽区", "高良涧街道"), ("浙江省", "临海市", "杜桥镇"), ("河南省", "长垣市", "蒲西街道"),
    ("四川省", "蒲江县", "鹤山街道"), ("湖南省", "浏阳市", "大瑶镇"), ("福建省", "永泰县", "嵩口镇"),
    ("广东省", "博罗县", "龙溪街道"), ("河北省", "正定县", "新城铺镇"), ("安徽省", "肥东县", "撮镇镇"),
]
# The official division (行政区划代码, full name) of each county above, as the gazetteer prints it.
_DIVISIONS = {
    "庆云县": ("371423", "山东省德州市庆云县"), "静乐县": ("140926", "山西省忻州市静乐县"),
    "安丘市": ("370784", "山东省潍坊市安丘市"), "淮安市洪泽区": ("320813", "江苏省淮安市洪泽区"),
    "临海市": ("331082", "浙江省台州市临海市"), "长垣市": ("410783", "河南省新乡市长垣市"),
    "蒲江县": ("510131", "四川省成都市蒲江县"), "浏阳市": ("430181", "湖南省长沙市浏阳市"),
    "永泰县": ("350125", "福建省福州市永泰县"), "博罗县": ("441322", "广东省惠州市博罗县"),
    "正定县": ("130123", "河北省石家庄市正定县"), "肥东县": ("340122", "安徽省合肥市肥东县"),
}
_DEPARTMENTS = ["交通运输局", "自然资源和规划局", "市场监督管理局", "卫生健康委员会", "生态环境局",
                "科学技术局", "住房和城乡建设局", "民政局", "人力资源和社会保障局", "水利局"]


@dataclass(frozen=True)
class BrokenRule:
    """What `break_one_rule` did: the rule id and every equation that now fails."""

    rule: str
    equations: tuple[Equation, ...]
    changed: tuple[str, ...]


def _skewed(rng: random.Random, mean: float) -> int:
    """A count with an exponential tail: mostly 0 for small means, occasionally large."""
    if mean <= 0:
        return 0
    return int(rng.expovariate(1.0 / mean))


def other_subrows_printed(values: Values) -> bool:
    """(六)其他处理 is printed as three sub-rows when any sub-row cell carries a value."""
    return any(
        values.get(f"applications.{r.key}.{c.key}") is not None
        for r in table3_rows() if r.subrow_of
        for c in table3_columns()
    )


def applicable_equations(values: Values) -> list[Equation]:
    """The rules' equations that apply to this report (the sub-row rule only when sub-rows print)."""
    template = str(values["meta.template"])
    paths = set(paths_for(template))
    subrows = other_subrows_printed(values)
    out = []
    for eq in equations():
        if eq.when == "other_subrows_printed" and not subrows:
            continue
        if all(p in paths for p in [*eq.lhs, *eq.rhs]):
            out.append(eq)
    return out


def _total(values: Values, paths: list[str]) -> float | None:
    terms = [values.get(p) for p in paths]
    if any(t is None for t in terms):
        return None
    return float(sum(t for t in terms if isinstance(t, int | float)))


def failing_equations(values: Values) -> list[Equation]:
    """Equations whose cells are all printed and do not add up (blank cells cannot be checked)."""
    out = []
    for eq in applicable_equations(values):
        lhs, rhs = _total(values, eq.lhs), _total(values, eq.rhs)
        if lhs is not None and rhs is not None and abs(lhs - rhs) > 1e-9:
            out.append(eq)
    return out


def numeric_paths(template: str) -> list[str]:
    """Every table cell of the template (tables 2, 3 and 4)."""
    return [p for p in paths_for(template) if p.split(".")[0] in
            ("active_disclosure", "applications", "reviews_and_litigation")]


def printed_cells(values: Values) -> list[str]:
    """The table cells a rendering shows: (六) is either its one row or its three sub-rows."""
    subrows = other_subrows_printed(values)
    template = str(values["meta.template"])
    sub_keys = {r.key for r in table3_rows() if r.subrow_of}
    parents = {r.subrow_of for r in table3_rows() if r.subrow_of}
    hidden = parents if subrows else sub_keys
    return [p for p in numeric_paths(template)
            if not (p.startswith("applications.") and p.split(".")[1] in hidden)]


def _issuer(rng: random.Random) -> str:
    _province, county, town = rng.choice(_PLACES)
    if rng.random() < 0.6:
        return f"{county}{town}人民政府"
    if rng.random() < 0.5:
        return f"{county}人民政府"
    return f"{county}{rng.choice(_DEPARTMENTS)}"


def _decimal(rng: random.Random, scale: float) -> float:
    """A fee or procurement amount: 0 often, else with 0–6 printed decimals."""
    if rng.random() < 0.5:
        return 0
    digits = rng.choice([0, 1, 2, 2, 2, 4, 6])
    return round(rng.uniform(0.01, scale), digits) if digits else float(int(rng.uniform(1, scale)))


def _table2(rng: random.Random, template: str, busy: float) -> Values:
    out: Values = {}
    for group in table2(template):
        for row in group.rows:
            for col in group.columns:
                path = f"active_disclosure.{row.key}.{col.key}"
                if col.type == "decimal":
                    out[path] = _decimal(rng, 50000 if busy > 10 else 300)
                elif col.key == "change":
                    out[path] = int(rng.choice([0, 0, 0, 1, -1, 2, -3, 5, -12]))
                elif row.key == "regulations":
                    out[path] = 0 if rng.random() < 0.85 else _skewed(rng, 3)
                elif col.key in ("in_force", "total_published", "previous_year_items"):
                    out[path] = _skewed(rng, 5 + busy * 4)
                elif col.key == "decisions":
                    out[path] = _skewed(rng, 1 + busy * 60) if rng.random() < 0.7 else 0
                else:
                    out[path] = _skewed(rng, 1 + busy)
    return out


def _table3(rng: random.Random, template: str, busy: float, subrows: bool) -> Values:
    out: Values = {}
    columns = [c.key for c in table3_columns() if c.key != "total"]
    result_rows = list(table3_result_rows())
    parent = next(r.subrow_of for r in table3_rows() if r.subrow_of)
    sub_keys = [r.key for r in table3_rows() if r.subrow_of == parent]
    for col in columns:
        mean = busy * _COLUMN_WEIGHTS[col]
        results: dict[str, int] = {}
        for row in result_rows:
            if row == parent and subrows:
                parts = {k: _skewed(rng, mean * _ROW_WEIGHTS.get(k, _DEFAULT_ROW_WEIGHT)) for k in sub_keys}
                for k, v in parts.items():
                    out[f"applications.{k}.{col}"] = v
                results[row] = sum(parts.values())
            else:
                results[row] = _skewed(rng, mean * _ROW_WEIGHTS.get(row, _DEFAULT_ROW_WEIGHT))
        for row, v in results.items():
            out[f"applications.{row}.{col}"] = v
        total = sum(results.values())
        carried_over = _skewed(rng, mean * 0.1)
        carried_forward = _skewed(rng, mean * 0.1)
        new_received = total + carried_forward - carried_over
        if new_received < 0:
            carried_forward -= new_received
            new_received = 0
        out[f"applications.total.{col}"] = total
        out[f"applications.carried_over.{col}"] = carried_over
        out[f"applications.carried_forward.{col}"] = carried_forward
        out[f"applications.new_received.{col}"] = new_received
    for label in table3_rows():
        if label.subrow_of and not subrows:
            continue
        cells = [out[f"applications.{label.key}.{c}"] for c in columns]
        out[f"applications.{label.key}.total"] = sum(int(v) for v in cells if isinstance(v, int))
    return out


def _table4(rng: random.Random, busy: float) -> Values:
    out: Values = {}
    parts = [c.key for c in table4_columns() if c.key != "total"]
    for group in table4_groups():
        mean = busy * (0.05 if group.key != "litigation_after_review" else 0.02)
        values = {p: _skewed(rng, mean * (2 if p == "upheld" else 1)) for p in parts}
        for p, v in values.items():
            out[f"reviews_and_litigation.{group.key}.{p}"] = v
        out[f"reviews_and_litigation.{group.key}.total"] = sum(values.values())
    return out


def _narrative(rng: random.Random, values: Values, busy: float) -> Values:
    """Prose figures: stated (a number the renderer prints) or silent (None)."""
    received = values.get("applications.new_received.total")
    both = rng.random() < 0.5
    npc = (0 if rng.random() < 0.5 else rng.randint(1, 60)) if both else None
    cppcc = (0 if npc == 0 else rng.randint(0, 90)) if both else None
    fees = rng.choice([False, False, True, None])
    return {
        "narrative.active_disclosure_total": rng.randint(20, 3000) if rng.random() < 0.7 else None,
        "narrative.policy_interpretations": rng.randint(0, 40) if rng.random() < 0.5 else None,
        "narrative.applications_received": received if rng.random() < 0.7 else None,
        "narrative.npc_suggestions": npc,
        "narrative.cppcc_proposals": cppcc,
        "narrative.information_fees_collected": fees,
    }


def generate_values(
    rng: random.Random,
    template: str,
    *,
    other_subrows: bool = False,
    blanks: int = 0,
) -> Values:
    """A full field dict for one report on `template` ("2021" or "2019") where every rule holds.

    `other_subrows` prints (六)其他处理 as three sub-rows (template 2021 only; otherwise the sub-row
    paths are None). `blanks` cells of tables 2–4 are then left blank (None), as real reports do.
    """
    if template not in ("2019", "2021"):
        raise ValueError(f"unknown template {template!r}")
    subrows = other_subrows and template == "2021"
    level = rng.choices(list(_SCALES), weights=list(_SCALE_WEIGHTS.values()))[0]
    busy = _SCALES[level]
    year = rng.randint(2021, 2024) if template == "2021" else rng.randint(2019, 2020)
    signed = rng.random() < 0.8
    published = dt.date(year + 1, rng.randint(1, 3), rng.randint(1, 28)).isoformat() if signed else None
    values: Values = {p: None for p in paths_for(template)}
    issuer = _issuer(rng)
    county = next(c for _, c, _ in _PLACES if issuer.startswith(c))
    values.update({
        "meta.issuer": issuer,
        "meta.division_code": _DIVISIONS[county][0],
        "meta.division_name": _DIVISIONS[county][1],
        "meta.report_year": year,
        "meta.published_on": published,
        "meta.template": template,
    })
    values.update(_table2(rng, template, busy))
    values.update(_table3(rng, template, busy, subrows))
    values.update(_table4(rng, busy))
    values.update(_narrative(rng, values, busy))
    _blank_out(rng, values, blanks, keep=set())
    _sync_narrative(values)
    return values


def _blank_out(rng: random.Random, values: Values, count: int, keep: set[str]) -> None:
    """Leave `count` printed cells blank; never a whole (六) sub-row block, never a `keep` cell."""
    candidates = [p for p in printed_cells(values) if values.get(p) is not None and p not in keep]
    for path in rng.sample(candidates, min(count, len(candidates))):
        values[path] = None
    if other_subrows_printed(values):  # (六) is the sum of its sub-rows: unknown if one is blank
        for row in table3_rows():
            if row.subrow_of:
                continue
            subs = [r.key for r in table3_rows() if r.subrow_of == row.key]
            for col in table3_columns():
                if any(values.get(f"applications.{s}.{col.key}") is None for s in subs):
                    values[f"applications.{row.key}.{col.key}"] = None


def _sync_narrative(values: Values) -> None:
    """The prose states the table's 新收 total; a blank total leaves the prose silent."""
    if values.get("narrative.applications_received") is not None:
        values["narrative.applications_received"] = values.get("applications.new_received.total")


def _bump(values: Values, changes: dict[str, int]) -> None:
    for path, delta in changes.items():
        current = values[path]
        assert isinstance(current, int)
        values[path] = current + delta


def _printed(values: Values, *paths: str) -> bool:
    return all(values.get(p) is not None for p in paths)


def _negative(value: Value) -> bool:
    return isinstance(value, int) and value < 0


def _rule_breakers(values: Values, rng: random.Random) -> dict[str, dict[str, int]]:
    """One way to break each rule alone (only its own equations fail), among printed cells."""
    d = rng.choice([1, 1, 2, 3, 10])
    cols = [c.key for c in table3_columns() if c.key != "total"]
    subrows = other_subrows_printed(values)
    results = [r for r in table3_result_rows() if not (subrows and r == "other_total")]
    options: dict[str, dict[str, int]] = {}
    col = rng.choice(cols)
    row_a = rng.choice(results)
    # a cell raised and carried into the column total and 新收, but no row total updated
    cell, col_total, new_cell = (f"applications.{r}.{col}" for r in (row_a, "total", "new_received"))
    if _printed(values, cell, col_total, new_cell, *(f"applications.{r}.total" for r in (row_a, "total", "new_received"))):
        options["applications.row_total"] = {cell: d, col_total: d, new_cell: d}
    total = f"applications.{row_a}.total"
    if _printed(values, cell, total):
        options["applications.column_total"] = {cell: d, total: d}
    new_cell, new_total = f"applications.new_received.{col}", "applications.new_received.total"
    if _printed(values, new_cell, new_total):
        options["applications.balance"] = {new_cell: d, new_total: d}
    group = rng.choice([g.key for g in table4_groups()])
    group_total = f"reviews_and_litigation.{group}.total"
    if _printed(values, group_total):
        options["reviews_and_litigation.group_total"] = {group_total: d}
    return options


def break_one_rule(values: Values, rng: random.Random) -> tuple[Values, BrokenRule]:
    """A copy of valid `values` with exactly one rule broken, as a printed typo would.

    Table 4's group total breaks one equation; a table-3 rule needs two or three cells changed so
    that only that rule fails (e.g. a row's cell and its total move together: the row still adds
    up, the column does not). The (六) sub-row rule is never broken: when the sub-rows print,
    (六) has no row of its own, so its value is their sum by definition.
    """
    out = dict(values)
    for _ in range(20):
        options = _rule_breakers(out, rng)
        rule = rng.choice(sorted(options))
        changes = options[rule]
        trial = dict(out)
        _bump(trial, changes)
        if any(_negative(trial[p]) for p in changes):
            continue
        _sync_narrative(trial)
        failing = failing_equations(trial)
        if failing and {eq.rule for eq in failing} == {rule}:
            return trial, BrokenRule(rule=rule, equations=tuple(failing), changed=tuple(changes))
    raise AssertionError("could not break a rule alone")  # pragma: no cover - every dict has table 4


# Catalog fields added after the hand labels were made: a gold file's silence about them is no null.
LABELLED_LATER = frozenset({"meta.division_code", "meta.division_name"})


def load_gold(path: str | Path) -> Values:
    """A gold file (evals/gold/**/*.json) as the same dict: every template path, absent ones None
    (the contract's missing-path rule), but for fields the labels predate unless they label them."""
    data = json.loads(Path(path).read_text("utf-8"))
    fields: dict[str, Value] = data["fields"]
    template = str(fields["meta.template"])
    return {p: fields.get(p) for p in paths_for(template) if p in fields or p not in LABELLED_LATER}
