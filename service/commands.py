"""What the CLI subcommands do; kept apart from argument parsing so tests can call them."""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.errors import NianbaoError

if TYPE_CHECKING:
    from service.contract import Extraction

# Each command imports what it needs when it runs: `extract` on a text file must not pay for
# the eval harness, the store or the model client (start-up is most of a CLI run).


def cmd_extract(file: str, *, as_json: bool = False, mode: str | None = None,
                llm_scope: str | None = None) -> int:
    """Exit 0 with the result, 2 with a one-line reason for input we refuse (or a mode that
    cannot run: `--mode llm` with no endpoint), 1 (still one line, no traceback) when the reader
    itself fails."""
    from service.config import get_settings
    from service.ingest.limits import file_too_large
    from service.pipeline import check_scope, extract_bytes, resolve_mode

    if not gc.isenabled():  # `nianbao extract` imported with the collector off (cli._lean_start)
        gc.freeze()
        gc.enable()
    path = Path(file)
    try:
        settings = get_settings()  # a variable that does not validate: its name, not a traceback
        resolve_mode(mode, settings)  # refused before the file is read
        check_scope(llm_scope)
    except NianbaoError as exc:
        print(f"nianbao: {exc.reason}", file=sys.stderr)
        return 2
    limit = settings.max_upload_bytes
    # Only what the user chose is passed on: the pipeline's defaults (mode auto) apply otherwise.
    options: dict[str, Any] = {k: v for k, v in (("mode", mode), ("llm_scope", llm_scope)) if v is not None}
    try:
        with path.open("rb") as handle:  # bounded: a huge file, a pipe or /dev/zero alike
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise file_too_large(limit)
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
        _, extraction = extract_bytes(data, path.name, settings=settings, **options)
    except NianbaoError as exc:
        print(f"nianbao: {exc.reason}", file=sys.stderr)
        return 2
    except Exception as exc:  # our bug, not the input's: one line, not a traceback
        print(f"nianbao: 内部错误 / internal error reading {path.name}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    try:
        print(extraction.model_dump_json(indent=1) if as_json else human_summary(extraction))
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader went away (`| head`): cli.main ends quietly
    except OSError as exc:  # a full disk: one line, not a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is left unwritten goes
        print(f"nianbao: 无法写出结果 / cannot write the result: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def human_summary(ex: Extraction) -> str:
    """What a reviewer wants first: what was read, what to look at, what is wrong."""
    lines = [
        f"{ex.document.filename}  ({ex.document.media_type}, {ex.document.chars} chars, {ex.document.id})",
        f"mode: {ex.extraction.mode}" + (f"  model: {ex.extraction.model}" if ex.extraction.model else ""),
    ]
    info = ex.extraction
    if info.mode == "llm":
        cost = f"  cost {info.cost:.4f}" if info.cost is not None else ""
        lines.append(
            f"model run: prompt {info.prompt_version}  instructor {info.instructor_mode}  scope {info.llm_scope}  "
            f"calls {info.calls} (cached {info.cached})  tokens {info.usage.prompt_tokens} in / "
            f"{info.usage.completion_tokens} out{cost}  {info.latency_ms or 0:.0f} ms  retries {info.retries}  "
            f"failures {len(info.failures)}"
        )
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
             min_accuracy: float | None = None, mode: str | None = None, llm_scope: str | None = None,
             prompt: str | None = None, baseline: str | None = None, tolerance: float = 0.5,
             record: str | None = None, replay: str | None = None) -> int:
    """Score against gold; with `baseline`, score two prompt versions and exit 1 when the
    candidate (`prompt`) is worse on any section by more than `tolerance` points."""
    from service.evaluate import (
        DEFAULT_DOCS,
        DEFAULT_GOLD,
        EvalError,
        calibration_lines,
        cost_line,
        run_eval,
        scores_json,
        summary_line,
    )
    from service.pipeline import DEFAULT_PROMPT_VERSION

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
    if baseline is not None and mode == "deterministic":
        print("nianbao eval: --baseline compares prompt versions: it needs --mode llm / "
              "--baseline 比较提示词版本，需要 --mode llm", file=sys.stderr)
        return 2
    problem = _prompt_problem([v for v in (prompt, baseline) if v], replay)
    if problem:
        print(f"nianbao eval: {problem}", file=sys.stderr)
        return 2
    options: dict[str, Any] = {"mode": mode, "llm_scope": llm_scope, "record": Path(record) if record else None,
               "replay": Path(replay) if replay else None}
    try:
        if baseline is not None:
            return _eval_compare(gold, docs, baseline, prompt or DEFAULT_PROMPT_VERSION, tolerance,
                                 as_json=as_json, options=options)
        results, overall = run_eval(gold, docs, prompt_version=prompt, **options)
    except (EvalError, NianbaoError) as exc:
        reason = exc.reason if isinstance(exc, NianbaoError) else str(exc)
        print(f"nianbao eval: {reason}", file=sys.stderr)
        return 2

    if as_json:
        print(json.dumps(scores_json(results, overall), ensure_ascii=False, indent=1))
    else:
        for r in results:
            if r.error:
                print(f"{r.document}: ERROR {r.error}")
            else:
                print(f"{r.document}: {summary_line(r)}")
        for line in calibration_lines(overall):
            print(line)
        if overall.calls or overall.cached or overall.model_failures or overall.prompt_tokens:
            print(cost_line(overall))
        print(f"overall ({len(results)} documents): {summary_line(overall)}")  # last: scripts read it
    return _threshold_exit(overall, results, min_accuracy)


def _threshold_exit(overall: Any, results: list[Any], min_accuracy: float | None) -> int:
    """1 when the accuracy is below `--min-accuracy` (a percentage or a fraction) or a document
    failed to read, else 0."""
    if min_accuracy is None:
        return 0
    threshold = min_accuracy / 100 if min_accuracy > 1 else min_accuracy
    acc = overall.fields.rate or 0.0
    if acc < threshold or any(r.error for r in results):
        print(f"nianbao eval: accuracy {100 * acc:.2f}% below threshold {100 * threshold:.2f}%", file=sys.stderr)
        return 1
    return 0


def _prompt_problem(wanted: list[str], replay: str | None) -> str | None:
    """A prompt version that does not exist (or was not recorded) is refused before any call."""
    from service.model.prompts import versions

    known = versions()
    for v in wanted:
        if replay is not None and not (Path(replay) / v).is_dir():
            return f"{Path(replay) / v} 不存在：该提示词版本没有录制 / no recording of prompt {v} in {replay}"
        if replay is None and v not in known:
            return f"没有提示词版本 {v}（现有 {', '.join(known)}）/ no prompt version {v} in prompts/ ({', '.join(known)})"
    return None


def _eval_compare(gold: Path, docs: Path, baseline: str, candidate: str, tolerance: float, *,
                  as_json: bool, options: dict[str, Any]) -> int:
    """Both prompt versions on the same gold set, side by side; exit 1 when the candidate is worse."""
    from service.evaluate import compare, compare_lines, run_eval, scores_json

    base = run_eval(gold, docs, prompt_version=baseline, **options)
    cand = run_eval(gold, docs, prompt_version=candidate, **options)
    result = compare(base, cand, tolerance)
    if as_json:
        print(json.dumps({"baseline": {"prompt": baseline, **scores_json(*base)},
                          "candidate": {"prompt": candidate, **scores_json(*cand)},
                          "fixed": result["fixed"], "broke": result["broke"],
                          "worse_sections": result["worse_sections"], "tolerance_points": tolerance},
                         ensure_ascii=False, indent=1, default=str))
    else:
        for line in compare_lines(result, baseline, candidate, tolerance):
            print(line)
    errors = [r.document for r in base[0] + cand[0] if r.error]
    if result["worse_sections"]:
        print(f"nianbao eval: prompt {candidate} is worse than {baseline} on {', '.join(result['worse_sections'])} "
              f"beyond {tolerance:g} points / 候选提示词 {candidate} 在以上部分比基线 {baseline} 差", file=sys.stderr)
        return 1
    if errors:
        print(f"nianbao eval: documents that could not be read: {', '.join(errors)} / 无法读取的文档",
              file=sys.stderr)
        return 1
    return 0


def _store_session() -> Any:
    """A session on the configured database, migrated to head (as the server does on start)."""
    from sqlmodel import Session

    from service.config import get_settings
    from service.store.db import make_engine, migrate

    engine = make_engine(get_settings().database_url)
    migrate(engine)
    return Session(engine)


def cmd_users_create(username: str, role: str, *, password_stdin: bool = False) -> int:
    """Create a user; the password comes from stdin (first line) or a prompt asked twice, never argv."""
    import getpass

    from service.auth import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password / 密码: ")
        if getpass.getpass("Again / 再次输入: ") != password:
            print("nianbao users: 两次输入的密码不一致 / the passwords differ", file=sys.stderr)
            return 2
    try:
        with _store_session() as session:
            user = create_user(session, username, password, role)
    except NianbaoError as exc:
        print(f"nianbao users: {exc.reason}", file=sys.stderr)
        return 2
    print(f"created {user.role} {user.username}")
    return 0


def cmd_users_token(username: str) -> int:
    """Print a new API token (only shown now) for `Authorization: Bearer`."""
    from service.auth import create_token

    try:
        with _store_session() as session:
            token = create_token(session, username)
    except NianbaoError as exc:
        print(f"nianbao users: {exc.reason}", file=sys.stderr)
        return 2
    print(token)
    return 0


def cmd_export(fmt: str, shape: str, out: str, part: str = "fields") -> int:
    """Write an export file; for csv/parquet `part` picks fields or findings (xlsx has both)."""
    from service.exports import export

    target = Path(out)
    if not target.parent.is_dir():
        print(f"nianbao export: 目录不存在 / no such directory: {target.parent}", file=sys.stderr)
        return 2
    try:
        with _store_session() as session:
            data = export(session, fmt, shape, part)
    except NianbaoError as exc:
        print(f"nianbao export: {exc.reason}", file=sys.stderr)
        return 2
    try:
        target.write_bytes(data)
    except OSError as exc:
        print(f"nianbao export: 无法写入 / cannot write {target}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"wrote {target} ({len(data)} bytes)")
    return 0


def cmd_eval_reviewed(*, as_json: bool = False, min_accuracy: float | None = None,
                      mode: str | None = None, llm_scope: str | None = None) -> int:
    """Score the current reader against what people reviewed in the database (`--gold reviewed`):
    each stored document is read again and compared with its reviewed values."""
    from service.config import get_settings
    from service.evaluate import DocScore, score
    from service.pipeline import extract_document, resolve_mode
    from service.review import reviewed_gold, stored_document

    try:
        resolve_mode(mode, get_settings())
        with _store_session() as session:
            golds = reviewed_gold(session)
    except NianbaoError as exc:
        print(f"nianbao eval: {exc.reason}", file=sys.stderr)
        return 2
    if not golds:
        print("nianbao eval: 还没有复核过的字段 / no reviewed fields in the database yet", file=sys.stderr)
        return 2
    results: list[DocScore] = []
    overall = DocScore(document="overall")
    for document, gold in golds:
        name = f"{document.id} {gold['document']}"
        try:
            extraction = extract_document(stored_document(document), mode=mode, llm_scope=llm_scope)
            result = score(extraction, gold, name)
        except Exception as exc:  # one unreadable document is a failed score, not a crash
            result = DocScore(document=name, error=f"{type(exc).__name__}: {exc}")
            result.fields.total = len(gold["fields"])
        results.append(result)
        overall.merge(result)
    return _print_scores(results, overall, as_json=as_json, min_accuracy=min_accuracy)


def _print_scores(results: list[Any], overall: Any, *, as_json: bool, min_accuracy: float | None) -> int:
    from service.evaluate import calibration_lines, scores_json, summary_line

    if as_json:
        print(json.dumps(scores_json(results, overall), ensure_ascii=False, indent=1))
    else:
        for r in results:
            print(f"{r.document}: ERROR {r.error}" if r.error else f"{r.document}: {summary_line(r)}")
        for line in calibration_lines(overall):
            print(line)
        print(f"overall ({len(results)} documents): {summary_line(overall)}")
    return _threshold_exit(overall, results, min_accuracy)
