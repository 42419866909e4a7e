"""What the CLI subcommands do; kept apart from argument parsing so tests can call them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from service.contract import Extraction
from service.errors import NianbaoError, TooLarge
from service.evaluate import DEFAULT_DOCS, DEFAULT_GOLD, run_eval, scores_json, summary_line


def cmd_extract(file: str, *, as_json: bool = False) -> int:
    """Exit 0 with the result, 2 with a one-line reason for input we refuse, 1 (still one line,
    no traceback) when the reader itself fails."""
    from service.config import get_settings
    from service.pipeline import extract_bytes

    path = Path(file)
    limit = get_settings().max_upload_bytes
    try:
        with path.open("rb") as handle:  # bounded: a huge file, a pipe or /dev/zero alike
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise TooLarge(
                f"the file is larger than the limit of {limit} bytes (NIANBAO_MAX_UPLOAD_BYTES)",
                f"文件超过 {limit} 字节的上限（NIANBAO_MAX_UPLOAD_BYTES）",
            )
    except FileNotFoundError:
        print(f"nianbao: 文件不存在 / file not found: {file}", file=sys.stderr)
        return 2
    except (IsADirectoryError, PermissionError) as exc:
        print(f"nianbao: 无法读取文件 / cannot read {file}: {exc.strerror}", file=sys.stderr)
        return 2
    except NianbaoError as exc:
        print(f"nianbao: {exc.reason}", file=sys.stderr)
        return 2
    try:
        _, extraction = extract_bytes(data, path.name)
    except NianbaoError as exc:
        print(f"nianbao: {exc.reason}", file=sys.stderr)
        return 2
    except Exception as exc:  # our bug, not the input's: one line, not a traceback
        print(f"nianbao: 内部错误 / internal error reading {path.name}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    if as_json:
        print(extraction.model_dump_json(indent=1))
    else:
        print(human_summary(extraction))
    return 0


def human_summary(ex: Extraction) -> str:
    """What a reviewer wants first: what was read, what to look at, what is wrong."""
    lines = [
        f"{ex.document.filename}  ({ex.document.media_type}, {ex.document.chars} chars, {ex.document.id})",
        f"mode: {ex.extraction.mode}" + (f"  model: {ex.extraction.model}" if ex.extraction.model else ""),
    ]
    lines += [f"note: {n}" for n in ex.extraction.notices]
    by_path = {f.path: f for f in ex.fields}
    for p in ("meta.issuer", "meta.report_year", "meta.published_on", "meta.template"):
        f = by_path.get(p)
        if f:
            lines.append(f"{p:20} {f.value!s:24} [{f.level}]")
    sections: dict[str, dict[str, int]] = {}
    for f in ex.fields:
        sec = sections.setdefault(f.path.split(".")[0], {"high": 0, "medium": 0, "low": 0, "null": 0})
        sec[f.level] += 1
        sec["null"] += f.value is None
    lines.append("")
    lines.append("sections:")
    for name, c in sections.items():
        lines.append(f"  {name:24} high {c['high']:3}  medium {c['medium']:3}  low {c['low']:3}  (null {c['null']})")
    low = [f for f in ex.fields if f.level == "low"]
    absent = [f for f in low if "missing_section" in f.flags]
    low = [f for f in low if "missing_section" not in f.flags]
    for name in sorted({f.path.split(".")[0] for f in absent}):
        count = sum(1 for f in absent if f.path.startswith(name + "."))
        lines.append(f"  {name}: section not found, its {count} fields are null and low")
    lines.append("")
    lines.append(f"low-confidence fields ({len(low)}):" if low else "low-confidence fields: none")
    for f in low[:60]:
        alts = f.sources.get("alternatives")
        alt = f"  alternatives {alts}" if alts else ""
        lines.append(f"  {f.path:64} {f.value!s:8} {', '.join(f.flags)}{alt}")
    if len(low) > 60:
        lines.append(f"  … and {len(low) - 60} more (use --json)")
    lines.append("")
    lines.append(f"findings ({len(ex.findings)}):" if ex.findings else "findings: none")
    for fd in ex.findings:
        lines.append(f"  {fd.kind:20} {fd.path:48} {fd.message}")
    return "\n".join(lines)


def cmd_eval(gold_dir: str | None, docs_dir: str | None, *, as_json: bool = False,
             min_accuracy: float | None = None) -> int:
    if (gold_dir is None) != (docs_dir is None):
        print("nianbao eval: give both GOLD_DIR and DOCS_DIR, or neither", file=sys.stderr)
        return 2
    gold = Path(gold_dir) if gold_dir else DEFAULT_GOLD
    docs = Path(docs_dir) if docs_dir else DEFAULT_DOCS
    for d in (gold, docs):
        if not d.is_dir():
            print(f"nianbao eval: 目录不存在 / not a directory: {d}", file=sys.stderr)
            return 2
    if not any(gold.glob("*.json")):
        print(f"nianbao eval: 没有标注文件 / no gold *.json in {gold}", file=sys.stderr)
        return 2
    results, overall = run_eval(gold, docs)
    if as_json:
        print(json.dumps(scores_json(results, overall), ensure_ascii=False, indent=1))
    else:
        for r in results:
            if r.error:
                print(f"{r.document}: ERROR {r.error}")
            else:
                print(f"{r.document}: {summary_line(r)}")
        print(f"overall ({len(results)} documents): {summary_line(overall)}")
    threshold = min_accuracy
    if threshold is not None:
        threshold = threshold / 100 if threshold > 1 else threshold
        acc = overall.fields.rate or 0.0
        if acc < threshold or any(r.error for r in results):
            print(f"nianbao eval: accuracy {100 * acc:.2f}% below threshold {100 * threshold:.2f}%",
                  file=sys.stderr)
            return 1
    return 0
