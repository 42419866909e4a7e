"""The extraction process pool: same results as in-process, refusals cross the process boundary
as themselves, a dead worker is replaced (its request retried once), a full pool says busy."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service import pipeline, pool
from service.config import Settings
from service.errors import UnreadableDocument
from service.pipeline import InvalidMode
from tests.conftest import seed_files

SEEDS = seed_files()


def settings(**overrides: Any) -> Settings:
    return Settings(**{"llm_base_url": None, "llm_model": None, **overrides})


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[None]:
    """Every test starts and ends without worker processes."""
    pool.shutdown()
    yield
    pool.shutdown()


def summary(extraction: Any) -> list[tuple[str, Any, str]]:
    return [(f.path, f.value, f.level) for f in extraction.fields]


def test_workers_read_what_the_calling_process_reads() -> None:
    for seed in SEEDS[:3]:
        data = seed.read_bytes()
        doc, extraction = pool.extract(data, seed.name, workers=2, mode="deterministic")
        here_doc, here = pipeline.extract_bytes(data, seed.name, mode="deterministic")
        assert doc.text == here_doc.text and doc.sha256 == here_doc.sha256
        assert summary(extraction) == summary(here)
        assert [(f.kind, f.path) for f in extraction.findings] == [(f.kind, f.path) for f in here.findings]
    workers = multiprocessing.active_children()
    assert workers and all(w.pid != os.getpid() for w in workers)


def test_refusals_come_back_as_the_same_error_with_both_messages() -> None:
    with pytest.raises(UnreadableDocument) as unreadable:
        pool.extract(b"\x00\x01\x02\xff" * 100, "junk.bin", workers=1)
    assert unreadable.value.message_zh != unreadable.value.message_en
    assert unreadable.value.code == "unreadable_document"
    # A refusal whose constructor takes other arguments than its messages (not picklable as is).
    with pytest.raises(InvalidMode) as invalid:
        pool.extract(SEEDS[0].read_bytes(), "a.txt", workers=1, mode="sometimes")
    assert "sometimes" in invalid.value.message_en and invalid.value.status_code == 422


def test_async_calls_run_side_by_side() -> None:
    async def many() -> list[Any]:
        return await asyncio.gather(*(
            pool.extract_async(seed.read_bytes(), seed.name, workers=2, mode="deterministic")
            for seed in SEEDS
        ))

    results = asyncio.run(many())
    assert [doc.filename for doc, _ in results] == [seed.name for seed in SEEDS]
    assert all(extraction.fields for _, extraction in results)


def _die_the_first_time(data: bytes, marker: str | None, options: dict[str, Any]) -> tuple[str, Any]:
    """Kill the worker unless the marker file exists (then create it first): one crash, then work."""
    assert marker is not None
    if not Path(marker).exists():
        Path(marker).write_text("died once")
        os._exit(1)
    return pool._run(data, "report.txt", options)


def _always_die(data: bytes, marker: str | None, options: dict[str, Any]) -> tuple[str, Any]:
    os._exit(1)


def test_a_dead_worker_is_replaced_and_its_request_retried_once(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "_run", _die_the_first_time)
    marker = tmp_path / "marker"
    doc, extraction = pool.extract(SEEDS[0].read_bytes(), str(marker), workers=1, mode="deterministic")
    assert marker.exists() and extraction.fields and doc.filename == "report.txt"


def test_a_document_that_kills_the_worker_twice_is_refused_and_the_pool_recovers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "_run", _always_die)
    with pytest.raises(pool.ReaderCrashed) as crashed:
        pool.extract(SEEDS[0].read_bytes(), "x.txt", workers=1)
    assert crashed.value.status_code < 500 and crashed.value.message_zh
    monkeypatch.undo()
    _, extraction = pool.extract(SEEDS[0].read_bytes(), "x.txt", workers=1, mode="deterministic")
    assert extraction.fields


def wait_for(path: str) -> None:
    """Hold a worker until `path` exists (at most 60 s): a busy pool for as long as a test needs."""
    deadline = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_full_pool_is_busy_not_a_backlog(tmp_path: Path) -> None:
    tight = settings(pool_queue=0)
    running = pool.get_pool(1, 0)
    release = tmp_path / "release"
    future, _ = running.submit(wait_for, str(release))  # the one worker is taken
    try:
        with pytest.raises(pool.PoolBusy) as busy:
            pool.extract(SEEDS[0].read_bytes(), "a.txt", workers=1, settings=tight)
    finally:
        release.touch()
    assert busy.value.status_code == 503 and busy.value.retry_after >= 1 and busy.value.message_zh
    future.result(timeout=30)
    _, extraction = pool.extract(SEEDS[0].read_bytes(), "a.txt", workers=1, settings=tight,
                                 mode="deterministic")
    assert extraction.fields and running.inflight == 0


def test_zero_workers_run_in_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def fake(data: bytes, filename: str | None = None, **options: Any) -> Any:
        seen.append(threading.get_ident())
        return "doc", "extraction"

    monkeypatch.setattr("service.pipeline.extract_bytes", fake)
    assert pool.extract(b"x", "a.txt", workers=0) == ("doc", "extraction")
    assert seen == [threading.get_ident()]
    assert asyncio.run(pool.extract_async(b"x", "a.txt", settings=settings(workers=0))) == ("doc", "extraction")
    assert len(seen) == 2 and not multiprocessing.active_children()


def test_shutdown_stops_every_worker() -> None:
    pool.start(2, settings=settings())
    assert len(multiprocessing.active_children()) >= 2
    pool.shutdown()
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    # the forkserver itself is not a child we track; the workers are gone
    assert not multiprocessing.active_children()
