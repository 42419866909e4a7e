"""`nianbao` command line: extract | batch | worker | serve | eval | users | export."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import types
from collections.abc import Sequence

COMMANDS = ("extract", "batch", "worker", "serve", "eval", "users", "export")
# Commands that read, print and end: their process may end without tearing the interpreter down.
ONE_SHOT = ("extract",)


def main(argv: Sequence[str] | None = None) -> int:
    """The console entry point; quiet when the reader of our output goes away
    (`nianbao extract f.pdf | head`) instead of a BrokenPipeError traceback; a refusal that
    reaches here (an invalid setting for `serve`, `batch` or `worker`) is one line and exit 2.

    Run as the program (no argv given) a one-shot command starts lean (`_lean_start`) and ends
    the process right after flushing its output: freeing every module and object one by one at
    exit was ~20 ms of a 0.19 s `nianbao extract`, and nothing of ours runs at exit (no atexit
    handler, no open file, no thread left: the model reader joins its pool)."""
    from service.errors import NianbaoError

    one_shot = argv is None and _one_shot(sys.argv[1:])
    if one_shot:
        _lean_start()
    try:
        code = _dispatch(argv)
        sys.stdout.flush()
    except NianbaoError as refusal:
        print(f"nianbao: {refusal.reason}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python flushes stdout once more at exit
        return 1
    if one_shot:
        with contextlib.suppress(OSError):  # stderr gone: the interpreter's own exit ignores it too
            sys.stderr.flush()
        os._exit(code)
    return code


def _one_shot(args: Sequence[str]) -> bool:
    return bool(args) and args[0] in ONE_SHOT


def _lean_start() -> None:
    """Start-up of a one-shot command, before its imports (issue 10: ≤ 0.15 s for `extract`).

    - pydantic looks for plugins (package entry points) when it builds its first model, and its
      loader imports importlib.metadata for that (email, zipfile, csv …: ~12 ms). nianbao uses no
      pydantic plugin: the loader is replaced by one that finds none, the answer pydantic's own
      gives with PYDANTIC_DISABLE_PLUGINS=__all__. Only when pydantic has not loaded it yet.
    - The cyclic garbage collector is off during the imports: it examined every class and
      function they create, ~70 times (~4 ms), and found nothing to free. `cmd_extract` freezes
      what start-up built and turns it back on before the document is read, so a document's
      garbage is collected as usual.
    """
    name = "pydantic.plugin._loader"
    if name not in sys.modules:
        loader = types.ModuleType(name, "nianbao: no pydantic plugins in a one-shot CLI command")
        loader.get_plugins = _no_plugins  # type: ignore[attr-defined]
        sys.modules[name] = loader
    gc.disable()


def _no_plugins() -> tuple[()]:
    return ()


def _dispatch(argv: Sequence[str] | None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    # Only the command asked for gets its arguments declared (each declaration costs; help and
    # errors are the same); anything else (`--help`, a typo) gets the whole parser.
    only = given[0] if given and given[0] in COMMANDS else None

    def wanted(command: str) -> bool:
        return only is None or command == only

    parser = argparse.ArgumentParser(prog="nianbao", description=__doc__)
    # With one command declared, an error's usage line still names them all.
    names = {"metavar": "{" + ",".join(COMMANDS) + "}"} if only else {}
    sub = parser.add_subparsers(dest="command", required=True, **names)

    if wanted("extract"):
        p_extract = sub.add_parser("extract", help="read one report file and print what was found")
        p_extract.add_argument("file")
        p_extract.add_argument("--json", action="store_true", help="print the contract JSON")
        _model_options(p_extract)

    if wanted("batch"):
        p_batch = sub.add_parser("batch", help="read and store many files (files, folders, globs, .zip archives)")
        p_batch.add_argument("paths", nargs="+", metavar="PATH")
        _model_options(p_batch)
        p_batch.add_argument("--workers", type=int, default=None,
                             help="reader processes (default NIANBAO_WORKERS, one per core); on PostgreSQL 0 "
                                  "leaves the work to `nianbao worker` processes")
        p_batch.add_argument("--no-wait", action="store_true",
                             help="PostgreSQL: queue the files for `nianbao worker` and exit")

    if wanted("worker"):
        p_worker = sub.add_parser("worker", help="work batch jobs from DATABASE_URL (PostgreSQL), on any machine")
        p_worker.add_argument("--concurrency", type=int, default=None,
                              help="reader processes (default NIANBAO_WORKERS, one per core); twice as many jobs run at "
                                   "once, so that reading and storing overlap")
        p_worker.add_argument("--stalled-seconds", type=float, default=None,
                              help="a worker silent this long is dead: its jobs are retried (default 30)")
        p_worker.add_argument("--heartbeat-seconds", type=float, default=None,
                              help="how often this worker says it is alive (default 10)")

    if wanted("serve"):
        p_serve = sub.add_parser("serve", help="start the HTTP service (FastAPI on uvicorn)")
        p_serve.add_argument("--host", default="127.0.0.1")
        p_serve.add_argument("--port", type=int, default=8000)

    if wanted("eval"):
        p_eval = sub.add_parser("eval", help="score the reader against hand-labelled reports")
        p_eval.add_argument("gold_dir", nargs="?")
        p_eval.add_argument("docs_dir", nargs="?")
        p_eval.add_argument("--json", action="store_true")
        p_eval.add_argument("--gold", choices=("reviewed",), default=None,
                            help="reviewed: score against the values people reviewed in the database")
        p_eval.add_argument("--min-accuracy", type=float, default=None)
        _model_options(p_eval)
        p_eval.add_argument("--prompt", default=None, help="prompt version to run (the candidate with --baseline)")
        p_eval.add_argument("--baseline", default=None,
                            help="prompt version to compare against; exit 1 when --prompt is worse on a section")
        p_eval.add_argument("--tolerance", type=float, default=0.5,
                            help="percentage points a section may lose against --baseline (default 0.5)")
        p_eval.add_argument("--record", metavar="DIR", default=None, help="save each document's model run in DIR")
        p_eval.add_argument("--replay", metavar="DIR", default=None,
                            help="score offline from model runs recorded in DIR (no endpoint needed)")

    if wanted("users"):
        p_users = sub.add_parser("users", help="manage reviewers and admins")
        users_sub = p_users.add_subparsers(dest="users_command", required=True)
        p_create = users_sub.add_parser("create", help="create a user (password from a prompt or --password-stdin)")
        p_create.add_argument("username")
        p_create.add_argument("--role", choices=("reviewer", "admin"), required=True)
        p_create.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
        p_token = users_sub.add_parser("token", help="print a new API token for the user (shown once)")
        p_token.add_argument("username")

    if wanted("export"):
        p_export = sub.add_parser("export", help="write every document's values (reviewed ones where they exist)")
        p_export.add_argument("--format", dest="fmt", choices=("csv", "xlsx", "parquet"), required=True)
        p_export.add_argument("--shape", choices=("long", "wide"), default="long")
        p_export.add_argument("--part", choices=("fields", "findings"), default="fields",
                              help="csv/parquet: which part to write (xlsx holds both as two sheets)")
        p_export.add_argument("--out", required=True)

    args = parser.parse_args(argv)
    if args.command == "users":
        from service.commands import cmd_users_create, cmd_users_token

        if args.users_command == "create":
            return cmd_users_create(args.username, args.role, password_stdin=args.password_stdin)
        return cmd_users_token(args.username)
    if args.command == "export":
        from service.commands import cmd_export

        return cmd_export(args.fmt, args.shape, args.out, args.part)
    if args.command == "extract":
        from service.commands import cmd_extract

        return cmd_extract(args.file, as_json=args.json, mode=args.mode, llm_scope=args.llm_scope)
    if args.command == "batch":
        from service.batch.cli import cmd_batch

        return cmd_batch(args.paths, mode=args.mode, llm_scope=args.llm_scope, workers=args.workers,
                         wait=not args.no_wait)
    if args.command == "worker":
        from service.batch.cli import cmd_worker

        return cmd_worker(concurrency=args.concurrency, stalled_seconds=args.stalled_seconds,
                          heartbeat_seconds=args.heartbeat_seconds)
    if args.command == "serve":
        from service.api.app import serve

        serve(host=args.host, port=args.port)
        return 0
    if args.command == "eval" and args.gold == "reviewed":
        from service.commands import cmd_eval_reviewed

        if args.gold_dir or args.baseline or args.record or args.replay or args.prompt:
            print("nianbao eval: --gold reviewed takes no GOLD_DIR/DOCS_DIR, --prompt, --baseline, --record "
                  "or --replay / --gold reviewed 不能与这些参数同用", file=sys.stderr)
            return 2
        return cmd_eval_reviewed(as_json=args.json, min_accuracy=args.min_accuracy, mode=args.mode,
                                 llm_scope=args.llm_scope)
    if args.command == "eval":
        from service.commands import cmd_eval

        return cmd_eval(args.gold_dir, args.docs_dir, as_json=args.json, min_accuracy=args.min_accuracy,
                        mode=args.mode, llm_scope=args.llm_scope, prompt=args.prompt, baseline=args.baseline,
                        tolerance=args.tolerance, record=args.record, replay=args.replay)
    return 2


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=("auto", "deterministic", "llm"), default=None,
                   help="auto (default): use the model when NIANBAO_LLM_BASE_URL and NIANBAO_LLM_MODEL are set; "
                        "llm: require it; deterministic: never call it")
    p.add_argument("--llm-scope", choices=("doubtful", "all"), default=None,
                   help="ask the model only about tables with cells that are not high (doubtful, default) or all")


if __name__ == "__main__":
    sys.exit(main())
