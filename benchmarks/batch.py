"""Reports per second of a whole `nianbao batch` of 500 generated reports, at 1 and 2 workers,
and the ratio to ideal (reports/s at N workers ÷ (N × reports/s at 1 worker)).

Run: .venv/bin/python benchmarks/batch.py [--n 500] [--workers 1 2] [--stores sqlite postgresql]
                                           [--families tabs lines html glued] [--checkout DIR]

Beside the rate: the CPU seconds of the command's own process and of its reader processes (each
reader claims, reads, stores and records its items, on both stores: the command's own share
shows whether it is the bottleneck), and on PostgreSQL those of the database server (the
throwaway cluster's processes: on this 2-core machine its share is what the readers cannot
have); the peak RSS of the `nianbao batch` process itself (its VmHWM, read from /proc
while it runs) and of its whole process tree (the command plus its reader processes, summed,
sampled every 50 ms), the most bytes waiting in `batch_source` at once (sampled every 0.2 s),
and on SQLite the database file's size at the end. `--checkout DIR`
runs the command from another checkout (`git archive <rev> | tar -x -C DIR`) for a baseline
(back to back: the machine is shared).

Each run is the real command in a subprocess (`nianbao batch DIR --workers N`) on a fresh
database: start-up, reading the files into the batch, the pool's start, every extraction and its
storage, the summary. SQLite runs the embedded engine (the process pool);
PostgreSQL runs the batch as Procrastinate jobs worked by the command's own worker (a throwaway
cluster from tests/conftest.py, or NIANBAO_TEST_POSTGRES_URL; skipped with the reason without
binaries). The machine is shared: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.api_latency import postgres_url  # noqa: E402
from service.store.db import normalize_database_url  # noqa: E402
from tests.test_batch import write_reports  # noqa: E402
from tests.ui_server import scratch_postgres_database  # noqa: E402


@dataclass
class Run:
    seconds: float
    peak_rss_kb: int  # the command's own process
    peak_tree_kb: int  # the command and its reader processes, summed
    peak_parked_bytes: int  # the most bytes waiting in batch_source at once (sampled)
    cpu_command: float  # CPU seconds of the command's own process
    cpu_readers: float  # CPU seconds of its descendants (reader processes, forkserver), summed
    cpu_server: float | None  # CPU seconds of the local PostgreSQL server meanwhile (None: none seen)


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of the process so far (Linux /proc), None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu(database_url: str) -> float | None:
    """CPU seconds the local PostgreSQL server listening on the URL's port has used so far: its
    postmaster with the backends it has reaped (cutime, cstime) and those alive; None for SQLite
    or a server this machine does not show (started without `-p PORT` on its command line)."""
    from sqlalchemy.engine import make_url

    url = make_url(normalize_database_url(database_url))
    if url.get_backend_name() != "postgresql" or url.port is None:
        return None
    wanted = ["-p", str(url.port)]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if not argv or not argv[0].endswith("postgres") or \
                not any(argv[i:i + 2] == wanted for i in range(len(argv) - 1)):
            continue
        reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
        return reaped + sum(_cpu_seconds(p) or 0.0 for p in _tree(int(proc.name)))
    return None


def _tree(pid: int) -> list[int]:
    """The process and its descendants (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def run_batch(folder: Path, database_url: str, workers: int, n: int, checkout: Path = ROOT) -> Run:
    """The whole command, timed and its memory sampled; checks that every report succeeded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIANBAO_")}
    env.update(DATABASE_URL=database_url, PYTHONPATH=str(checkout))
    server_before = _server_cpu(database_url)
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "service.cli", "batch", str(folder), "--workers", str(workers)],
                                cwd=checkout, env=env, stdout=out, stderr=err)
        peak, tree = 0, 0
        parked, ticks = 0, 0
        sampler = create_engine(normalize_database_url(database_url), poolclass=NullPool)
        cpu: dict[int, float] = {}  # the last CPU seconds seen of each process of the tree
        while proc.poll() is None:
            peak = max(peak, _status_kb(proc.pid, "VmHWM"))
            members = _tree(proc.pid)
            tree = max(tree, sum(_status_kb(p, "VmRSS") for p in members))
            for p in members:
                seconds = _cpu_seconds(p)
                if seconds is not None:
                    cpu[p] = seconds
            ticks += 1
            if ticks % 4 == 0:
                parked = max(parked, _parked_bytes(sampler))
            time.sleep(0.05)
        sampler.dispose()
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    match = re.search(r"succeeded (\d+)", stdout)
    if proc.returncode != 0 or not match or int(match.group(1)) != n:
        raise SystemExit(f"the batch did not read every report:\n{stdout}\n{stderr[-2000:]}")
    readers = sum(v for p, v in cpu.items() if p != proc.pid)
    time.sleep(0.2)  # the server reaps the command's backends
    server_after = _server_cpu(database_url)
    server = None if server_before is None or server_after is None else server_after - server_before
    return Run(seconds, peak, tree, parked, cpu.get(proc.pid, 0.0), readers, server)


def _parked_bytes(sampler: Engine) -> int:
    """Bytes in batch_source now (0 before the table exists or while the database is busy)."""
    try:
        with sampler.connect() as db:
            return int(db.execute(text("SELECT coalesce(sum(length(content)), 0) FROM batch_source")).scalar_one())
    except DBAPIError:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--stores", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--families", nargs="+", default=["tabs", "lines", "html", "glued"])
    parser.add_argument("--checkout", type=Path, default=ROOT, help="run the command from this checkout (a baseline)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nianbao-batch-bench-") as tmp:
        folder = Path(tmp) / "reports"
        write_reports(folder, args.n, families=tuple(args.families))
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{args.n} reports ({', '.join(args.families)}; {size / 1e6:.1f} MB), {os.cpu_count()} CPUs")
        for store in args.stores:
            rates: dict[int, float] = {}
            for workers in args.workers:
                db_size = ""
                if store == "sqlite":
                    db = Path(tmp) / f"bench-{workers}.db"
                    run = run_batch(folder, f"sqlite:///{db}", workers, args.n, args.checkout)
                    db_size = f", database {db.stat().st_size / 1e6:.1f} MB"
                else:
                    with postgres_url() as admin:
                        if admin is None:
                            break
                        with scratch_postgres_database(admin) as url:
                            run = run_batch(folder, url, workers, args.n, args.checkout)
                seconds = run.seconds
                rates[workers] = args.n / seconds
                ideal = ""
                if 1 in rates and workers != 1:
                    ideal = f"  ratio to ideal {rates[workers] / (workers * rates[1]):.2f}"
                load = os.getloadavg()[0]
                print(f"{store:10} workers {workers}: {seconds:6.1f} s  {rates[workers]:6.1f} reports/s{ideal}"
                      f"  CPU command {run.cpu_command:.1f} s, readers {run.cpu_readers:.1f} s"
                      + (f", database server {run.cpu_server:.1f} s" if run.cpu_server is not None else "") +
                      f"  peak RSS {run.peak_rss_kb / 1024:.0f} MB (with readers {run.peak_tree_kb / 1024:.0f} MB)"
                      f"  bytes waiting in the database at most {run.peak_parked_bytes / 1e6:.1f} MB{db_size}"
                      f"  (load {load:.1f})")


if __name__ == "__main__":
    main()
