"""Reports per second of a whole `nianbao batch` of 500 generated reports, at 1 and 2 workers,
and the ratio to ideal (reports/s at N workers ÷ (N × reports/s at 1 worker)).

Run: .venv/bin/python benchmarks/batch.py [--n 500] [--workers 1 2] [--stores sqlite postgresql]
                                           [--families tabs lines html glued]

Each run is the real command in a subprocess (`nianbao batch DIR --workers N`) on a fresh
database: start-up, reading the files into the batch, the pool's start, every extraction and its
storage, the summary. SQLite runs the embedded engine (the process pool, this process storing);
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.api_latency import postgres_url  # noqa: E402
from tests.test_batch import write_reports  # noqa: E402
from tests.ui_server import scratch_postgres_database  # noqa: E402


def run_batch(folder: Path, database_url: str, workers: int, n: int) -> float:
    """Seconds for the whole command; checks that every report succeeded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIANBAO_")}
    env.update(DATABASE_URL=database_url, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "service.cli", "batch", str(folder), "--workers", str(workers)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - start
    match = re.search(r"succeeded (\d+)", done.stdout)
    if done.returncode != 0 or not match or int(match.group(1)) != n:
        raise SystemExit(f"the batch did not read every report:\n{done.stdout}\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--stores", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--families", nargs="+", default=["tabs", "lines", "html", "glued"])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nianbao-batch-bench-") as tmp:
        folder = Path(tmp) / "reports"
        write_reports(folder, args.n, families=tuple(args.families))
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{args.n} reports ({', '.join(args.families)}; {size / 1e6:.1f} MB), {os.cpu_count()} CPUs")
        for store in args.stores:
            rates: dict[int, float] = {}
            for workers in args.workers:
                if store == "sqlite":
                    seconds = run_batch(folder, f"sqlite:///{Path(tmp) / f'bench-{workers}.db'}", workers, args.n)
                else:
                    with postgres_url() as admin:
                        if admin is None:
                            break
                        with scratch_postgres_database(admin) as url:
                            seconds = run_batch(folder, url, workers, args.n)
                rates[workers] = args.n / seconds
                ideal = ""
                if 1 in rates and workers != 1:
                    ideal = f"  ratio to ideal {rates[workers] / (workers * rates[1]):.2f}"
                load = os.getloadavg()[0]
                print(f"{store:10} workers {workers}: {seconds:6.1f} s  {rates[workers]:6.1f} reports/s{ideal}"
                      f"  (load {load:.1f})")


if __name__ == "__main__":
    main()
