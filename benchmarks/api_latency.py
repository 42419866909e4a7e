"""Latency and throughput of `POST /extract` on the real server, SQLite and PostgreSQL, 1 and 8 clients.

Run: .venv/bin/python benchmarks/api_latency.py [--requests N] [--concurrency 1 8] [--stores sqlite postgresql]
                                                [--workers 1 2]

The app runs as it does in production: uvicorn in a subprocess on 127.0.0.1 (an ephemeral port),
one API process reading in its pool of worker processes (NIANBAO_WORKERS, default the CPU count;
`--workers 1 2` runs each setting once per pool size, to see throughput grow with cores; 0 reads
in the API process's threads, as before the pool), on a fresh SQLite file or a throwaway PostgreSQL cluster (tests/conftest.py's helper,
or `NIANBAO_TEST_POSTGRES_URL`; without binaries PostgreSQL is skipped with the reason printed).
Clients are threads with one keep-alive `http.client` connection each, uploading the seed
reports in turn as multipart/form-data; every upload gets a unique last line so that each request
is a new document (the store keeps one per sha256), i.e. the full pipeline and a fresh insert
every time. The latency is the whole HTTP round trip a client sees (request written, response read
to its end); the client is the standard library's, not httpx, because on a 2-core machine the
client's own CPU (~1.6 ms a request with httpx, ~0.5 ms with http.client) is taken from the server
it measures (`--client httpx` measures with httpx). Prints p50/p95/p99 latency and requests/s per
store × concurrency, and the client's CPU per request. The machine is shared: the load average is
printed beside the figures.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.conftest import seed_files  # noqa: E402
from tests.ui_server import running_server, scratch_postgres_database  # noqa: E402


@contextmanager
def serve(database_url: str, log_dir: Path) -> Iterator[str]:
    """`uvicorn service.api.app:create_app` on DATABASE_URL (tests/ui_server.running_server);
    yields its base URL, stops it on exit. The server log goes to `log_dir`/server.log."""
    with running_server(log_dir, database_url) as server:
        yield server.url


@contextmanager
def postgres_url() -> Iterator[str | None]:
    """An admin URL of a PostgreSQL server, or None (the reason printed) when there is none."""
    external = os.environ.get("NIANBAO_TEST_POSTGRES_URL")
    if external:
        from service.store.db import normalize_database_url

        yield normalize_database_url(external)
        return
    import pytest

    from tests import conftest

    bin_dir = conftest._find_postgres_bin()
    if bin_dir is None:
        print(f"postgresql: skipped, no initdb/pg_ctl found under {conftest.PG_ROOT} or on PATH")
        yield None
        return
    try:
        cluster = conftest._start_cluster(bin_dir)
    except (Exception, pytest.skip.Exception, pytest.fail.Exception) as exc:
        print(f"postgresql: skipped, the throwaway server did not start: {str(exc).splitlines()[0]}")
        yield None
        return
    try:
        yield cluster.url
    finally:
        cluster.stop()


class Uploads:
    """Seed reports in turn, each with a unique last line (a new sha256, so a new document)."""

    def __init__(self) -> None:
        self.seeds = [(p.name, p.read_bytes()) for p in seed_files()]
        self.counter = itertools.count()
        self.lock = threading.Lock()

    def next(self) -> tuple[str, bytes]:
        with self.lock:
            n = next(self.counter)
        name, data = self.seeds[n % len(self.seeds)]
        return f"bench{n}_{name}", data + f"\n基准测试请求 {n} {uuid.uuid4().hex}\n".encode()


def _one(client: httpx.Client, url: str, uploads: Uploads) -> float:
    name, data = uploads.next()
    start = time.perf_counter()
    response = client.post(f"{url}/extract", files={"file": (name, data, "text/plain")},
                           data={"mode": "deterministic"})
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"POST /extract {name}: {response.status_code} {response.text[:300]}")
    return elapsed


_BOUNDARY = "nianbao-bench-" + uuid.uuid4().hex


def multipart(name: str, data: bytes) -> bytes:
    """The body httpx sends for files={"file": ...}, data={"mode": "deterministic"}."""
    return b"".join([
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="mode"\r\n\r\ndeterministic\r\n'.encode(),
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: text/plain\r\n\r\n".encode(),
        data, f"\r\n--{_BOUNDARY}--\r\n".encode(),
    ])


class LeanClient:
    """One keep-alive HTTP/1.1 connection (http.client): the same request on the wire as httpx's,
    for a fraction of its CPU."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=300)

    def post(self, name: str, data: bytes) -> float:
        body = multipart(name, data)
        start = time.perf_counter()
        self.connection.request("POST", "/extract", body=body, headers={
            "Content-Type": f"multipart/form-data; boundary={_BOUNDARY}"})
        response = self.connection.getresponse()
        answer = response.read()
        elapsed = time.perf_counter() - start
        if response.status != 200:
            raise RuntimeError(f"POST /extract {name}: {response.status} {answer[:300]!r}")
        return elapsed

    def close(self) -> None:
        self.connection.close()


def run_setting(url: str, uploads: Uploads, concurrency: int, requests: int,
                client_kind: str = "http.client") -> tuple[list[float], float, float]:
    """`requests` uploads spread over `concurrency` threads; per-request seconds, the wall time
    and this process's CPU seconds (the clients')."""
    local = threading.local()
    clients: list[Any] = []
    clients_lock = threading.Lock()

    def task(_: int) -> float:
        send: Callable[[], float] | None = getattr(local, "send", None)
        if send is None:
            if client_kind == "httpx":
                client: Any = httpx.Client(timeout=300)
                send = local.send = lambda: _one(client, url, uploads)
            else:
                client = LeanClient(url)
                send = local.send = lambda: client.post(*uploads.next())
            with clients_lock:
                clients.append(client)
        return send()

    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            cpu = time.process_time()
            start = time.perf_counter()
            latencies = list(pool.map(task, range(requests)))
            wall = time.perf_counter() - start
            cpu = time.process_time() - cpu
    finally:
        for client in clients:
            client.close()
    return latencies, wall, cpu


def percentile(values: list[float], q: int) -> float:
    """Inclusive-method percentile (q in 1..99) of a small sample."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def bench_store(store: str, database_url: str, tmp: Path, args: argparse.Namespace,
                workers: int | None) -> None:
    uploads = Uploads()
    if workers is None:
        os.environ.pop("NIANBAO_WORKERS", None)
    else:
        os.environ["NIANBAO_WORKERS"] = str(workers)  # the server inherits the environment
    label = f"{store} w={workers if workers is not None else os.cpu_count()}"
    with serve(database_url, tmp) as url:
        with httpx.Client(timeout=300) as warm:  # migrations done; first imports and caches warmed
            for _ in range(args.warmup):
                _one(warm, url, uploads)
        for concurrency in args.concurrency:
            latencies, wall, cpu = run_setting(url, uploads, concurrency, args.requests, args.client)
            ms = [s * 1000 for s in latencies]
            print(f"{label:16} {concurrency:>3} clients  n={len(ms):<4} "
                  f"p50 {percentile(ms, 50):7.1f} ms  p95 {percentile(ms, 95):7.1f} ms  "
                  f"p99 {percentile(ms, 99):7.1f} ms  {len(ms) / wall:6.2f} req/s  "
                  f"client CPU {cpu / len(ms) * 1000:.1f} ms/req  (load avg {os.getloadavg()[0]:.2f})", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=40, help="requests per store × concurrency (default 40)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--stores", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--client", choices=["http.client", "httpx"], default="http.client",
                        help="the benchmark's HTTP client (default http.client: least CPU taken from the server)")
    parser.add_argument("--workers", type=int, nargs="+", default=[None],
                        help="NIANBAO_WORKERS for the server, one run each (default: its default, the CPU count)")
    args = parser.parse_args()
    if args.requests < 1 or args.requests > 2000 or any(c < 1 or c > 64 for c in args.concurrency):
        parser.error("--requests must be 1..2000 and --concurrency 1..64")
    if any(w is not None and not 0 <= w <= 64 for w in args.workers):
        parser.error("--workers must be 0..64")
    print(f"POST /extract, seed reports ({len(seed_files())}) in turn, each upload a new document; "
          f"{os.cpu_count()} CPUs, one uvicorn process with w worker processes; clients: {args.client} "
          f"(the full HTTP round trip, on the same cores as the server)")
    with tempfile.TemporaryDirectory(prefix="nianbao-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if "sqlite" in args.stores:
            for n, workers in enumerate(args.workers):
                bench_store("sqlite", f"sqlite:///{tmp / f'bench{n}.db'}", tmp, args, workers)
        if "postgresql" in args.stores:
            with postgres_url() as admin:
                if admin is not None:
                    for workers in args.workers:
                        with scratch_postgres_database(admin) as pg:
                            bench_store("postgresql", pg, tmp, args, workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
