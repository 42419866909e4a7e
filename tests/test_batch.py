"""Batches (issue 10): `nianbao batch` interrupted and resumed stores every file once with the
right summary; bad files are refused one by one while the batch goes on, from the CLI and the
API, on SQLite (in-process pool) and PostgreSQL (Procrastinate jobs)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from service.batch.driver import Driver
from service.batch.sources import (
    MAX_MEMBERS,
    NoSuchInput,
    Source,
    expand_paths,
    from_upload,
    read_paths,
    register_paths,
)
from service.store.db import make_engine, migrate
from service.store.models import BatchItemRow, BatchSourceRow, ExtractionRow, ExtractionVersionRow
from tests.corpus.render import render
from tests.corpus.values import generate_values

REPO = Path(__file__).resolve().parent.parent
FAST_FAMILIES = ("tabs", "lines", "html", "glued")
UPLOAD_LIMIT = 100_000  # NIANBAO_MAX_UPLOAD_BYTES for these tests: reports are 4-20 kB
FEED_WINDOW = 16  # NIANBAO_BATCH_FEED_WINDOW in the interrupted CLI batch


def write_reports(folder: Path, n: int, *, families: tuple[str, ...] = FAST_FAMILIES,
                  first_seed: int = 0) -> list[Path]:
    """n generated reports (distinct bytes), cycling through `families`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(first_seed, first_seed + n):
        family = families[i % len(families)]
        data, name = render(generate_values(random.Random(i), "2021"), "2021", family, seed=i)
        path = folder / f"{i:04d}_{name}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def zip_bomb_member(good: bytes | None = None) -> bytes:
    """A zip whose member `bomb.txt` inflates to 50× the upload limit (and one good report)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.txt", b"0" * (50 * UPLOAD_LIMIT))
        if good is not None:
            archive.writestr("内/good.txt", good)
    return buf.getvalue()


@dataclass
class BadFiles:
    """Files that must each be refused, by name, with the code expected."""

    expected: dict[str, str]


def write_bad_files(folder: Path) -> BadFiles:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "junk.bin").write_bytes(bytes(random.Random(7).randrange(256) for _ in range(3000)))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "huge.txt").write_bytes("政府信息公开工作年度报告\n".encode() * (UPLOAD_LIMIT // 20))
    (folder / "bundle.zip").write_bytes(zip_bomb_member())
    return BadFiles({"junk.bin": "unreadable_document", "empty.txt": "unreadable_document",
                     "huge.txt": "too_large", "bundle.zip/bomb.txt": "too_large"})


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- sources -----------------------------------------------------------------------------------

def test_expand_paths_takes_files_folders_and_globs_once_and_refuses_what_names_nothing(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "a", 3)
    (tmp_path / "a" / ".hidden").write_text("x")
    found = expand_paths([str(tmp_path / "a"), str(reports[0]), str(tmp_path / "a" / "*.txt")])
    assert found == sorted(reports)  # each once, hidden files left out
    with pytest.raises(NoSuchInput):
        expand_paths([str(tmp_path / "missing.txt")])
    with pytest.raises(NoSuchInput):
        expand_paths([str(tmp_path / "a" / "*.pdf")])


def _lying_zip(declared: int) -> bytes:
    """A zip whose member says it inflates to `declared` bytes but inflates to 50× the limit."""
    data = bytearray(zip_bomb_member())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        struct.pack_into("<I", data, at + offset, declared)
    return bytes(data)


def test_zip_members_are_inflated_within_the_limit_and_refused_one_by_one() -> None:
    good = b"\xef\xbb\xbf" + "某县2023年政府信息公开工作年度报告".encode()
    sources = list(from_upload("x.zip", io.BytesIO(zip_bomb_member(good)), UPLOAD_LIMIT))
    by_name = {s.name: s for s in sources}
    assert by_name["x.zip/bomb.txt"].refusal is not None
    assert by_name["x.zip/bomb.txt"].refusal.code == "too_large"
    assert "zip bomb" in by_name["x.zip/bomb.txt"].refusal.message_en
    assert by_name["x.zip/内/good.txt"].data == good
    assert by_name["x.zip/内/good.txt"].filename == "good.txt"
    # A header that lies about the size: refused, and never inflated past the limit.
    lied = list(from_upload("y.zip", io.BytesIO(_lying_zip(1000)), UPLOAD_LIMIT))
    assert len(lied) == 1 and lied[0].refusal is not None and lied[0].data is None
    # Not an archive at all.
    junk = list(from_upload("z.zip", io.BytesIO(b"not a zip"), UPLOAD_LIMIT))
    assert junk[0].refusal is not None and junk[0].refusal.code == "unreadable_document"


def test_gbk_member_names_are_read_back(tmp_path: Path) -> None:
    """Zips made on Chinese Windows store GBK names without the UTF-8 flag."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        info = zipfile.ZipInfo("placeholder")
        archive.writestr(info, b"x")
    raw = bytearray(buf.getvalue())
    gbk = "年报.txt".encode("gbk")
    assert len(gbk) == len(b"placeholder") - 3
    for old in (b"placeholder",):
        at = 0
        while (at := raw.find(old, at)) != -1:
            raw[at:at + len(old)] = gbk + b"   "
    path = tmp_path / "gbk.zip"
    path.write_bytes(bytes(raw))
    names = [s.name for s in read_paths([path], UPLOAD_LIMIT)]
    assert names == [f"{path}/年报.txt   "]


def test_archive_with_too_many_members_is_refused_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import service.batch.sources as sources

    monkeypatch.setattr(sources, "MAX_MEMBERS", 2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for i in range(3):
            archive.writestr(f"{i}.txt", b"x")
    got: list[Source] = list(from_upload("many.zip", io.BytesIO(buf.getvalue()), UPLOAD_LIMIT))
    assert len(got) == 1 and got[0].refusal is not None and "3" in got[0].refusal.message_en
    assert MAX_MEMBERS > 2


def test_files_registered_by_path_are_read_when_claimed(tmp_path: Path) -> None:
    """`nianbao batch` on the embedded store: no bytes read at registration (a zip's directory
    only), none parked in the database; each file read when claimed, a file gone by then refused
    with its reason, an archive member inflated then, a bomb refused from the directory."""
    from service.batch import store

    folder = tmp_path / "in"
    a, b, c = write_reports(folder, 3)
    good = c.read_bytes()
    (folder / "archive.zip").write_bytes(zip_bomb_member(good=good))
    c.unlink()
    sources = list(register_paths(expand_paths([str(folder)]), UPLOAD_LIMIT))
    assert all(s.data is None for s in sources)
    names = {s.name.split("/in/")[-1]: s for s in sources}
    assert names["archive.zip/bomb.txt"].refusal is not None
    assert names[a.name].size == a.stat().st_size and names[a.name].refusal is None

    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    migrate(engine)
    try:
        with Session(engine) as session:
            batch = store.create_batch(session, iter(sources), origin="cli", mode=None, llm_scope=None,
                                       reader_version="test")
            session.commit()
            batch_id = batch.id
        with Session(engine) as session:
            assert session.exec(select(func.count()).select_from(BatchSourceRow)).one() == 0
            items = {i.filename.split("/in/")[-1]: i.id or 0 for i in session.exec(
                select(BatchItemRow).where(BatchItemRow.batch_id == batch_id)).all()}
        b.unlink()  # gone before its turn
        version = lambda _batch: "test"  # noqa: E731
        first = store.claim(engine, items[a.name], version, UPLOAD_LIMIT)
        assert isinstance(first, store.Claim) and first.data == a.read_bytes()
        member = store.claim(engine, items["archive.zip/内/good.txt"], version, UPLOAD_LIMIT)
        assert isinstance(member, store.Claim) and member.data == good
        assert store.claim(engine, items[b.name], version, UPLOAD_LIMIT) == "refused"
        with Session(engine) as session:
            gone = session.get(BatchItemRow, items[b.name])
            bomb = session.get(BatchItemRow, items["archive.zip/bomb.txt"])
            claimed = session.get(BatchItemRow, items[a.name])
        assert gone is not None and gone.code == "unreadable_document" and gone.reason_zh
        assert bomb is not None and bomb.status == "refused" and bomb.code == "too_large"
        assert claimed is not None and claimed.status == "running" and claimed.sha256 == sha(a)
    finally:
        engine.dispose()


def test_feed_moves_files_into_the_database_as_the_window_frees(tmp_path: Path) -> None:
    """PostgreSQL's `nianbao batch` (here with the queue recorded): at most `window` files' bytes
    in the database and the queue at once, in order; the next ones as items finish; a file gone
    by its turn refused there."""
    from service.batch import store

    files = write_reports(tmp_path / "in", 6)
    engine = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    migrate(engine)
    queued: list[int] = []
    try:
        with Session(engine) as session:
            batch = store.create_batch(session, register_paths(files, UPLOAD_LIMIT), origin="cli", mode=None,
                                       llm_scope=None, reader_version="test")
            session.commit()
            batch_id = batch.id
            ids = [i.id for i in session.exec(select(BatchItemRow).where(BatchItemRow.batch_id == batch_id)
                                              .order_by(col(BatchItemRow.position))).all()]

        files[3].unlink()  # gone before its turn

        def parked() -> int:
            with Session(engine) as session:
                return session.exec(select(func.count()).select_from(BatchSourceRow)).one()

        def enqueue(_session: Session, item_ids: list[int]) -> None:
            queued.extend(item_ids)

        assert store.feed(engine, batch_id, UPLOAD_LIMIT, 2, enqueue)
        assert queued == ids[:2] and parked() == 2
        assert store.feed(engine, batch_id, UPLOAD_LIMIT, 2, enqueue)  # no room: nothing moves
        assert queued == ids[:2]
        store.store_refusal(engine, ids[0] or 0, None)  # one finishes: its bytes go, one more comes
        assert store.feed(engine, batch_id, UPLOAD_LIMIT, 2, enqueue)
        assert queued == ids[:3] and parked() == 2
        for item_id in ids[:3]:
            store.store_refusal(engine, item_id or 0, None)
        assert store.feed(engine, batch_id, UPLOAD_LIMIT, 2, enqueue)  # the gone file is refused on the way
        assert queued == [*ids[:3], ids[4]]
        assert store.feed(engine, batch_id, UPLOAD_LIMIT, 2, enqueue)
        assert queued == [*ids[:3], *ids[4:]] and parked() == 2
        for item_id in ids[4:]:
            store.store_refusal(engine, item_id or 0, None)
        assert not store.feed(engine, batch_id, UPLOAD_LIMIT, 2, enqueue)
        with Session(engine) as session:
            gone = session.get(BatchItemRow, ids[3])
        assert gone is not None and gone.status == "refused" and gone.code == "unreadable_document"
        assert parked() == 0
    finally:
        engine.dispose()


# --- the CLI: interrupted and resumed ----------------------------------------------------------

def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIANBAO_")}
    env.update(DATABASE_URL=database_url, NIANBAO_WORKERS="2", NIANBAO_MAX_UPLOAD_BYTES=str(UPLOAD_LIMIT),
               PYTHONPATH=str(REPO))
    return env


def _batch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "service.cli", "batch", *args]


@dataclass
class Summary:
    total: int
    succeeded: int
    refused: int
    failed: int
    skipped: int
    refusals: dict[str, str]


def parse_summary(stdout: str) -> Summary:
    """The counts line and the per-file refusals of `nianbao batch`'s summary."""
    match = re.search(r"(\d+) files: succeeded (\d+), refused (\d+), failed (\d+), skipped (\d+)", stdout)
    assert match, stdout
    refusals = {}
    for line in stdout.splitlines():
        m = re.match(r"\s+(refused|failed): (.+?) \[(\w+)\]: .+ / .+", line)
        if m:
            refusals[m.group(2)] = m.group(3)
    total, succeeded, refused, failed, skipped = (int(g) for g in match.groups())
    return Summary(total, succeeded, refused, failed, skipped, refusals)


def _final_count(engine: Engine, status: str = "succeeded") -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(BatchItemRow)
                            .where(BatchItemRow.status == status)).one()


def _wait_until_stored(engine: Engine, process: subprocess.Popen[bytes] | subprocess.Popen[str], n: int) -> None:
    """Until the running `nianbao batch` has read `n` files."""
    deadline = time.monotonic() + 120
    while _final_count(engine) < n:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.05)


def test_cli_batch_interrupted_and_resumed_stores_every_file_once(
        tmp_path: Path, database_url: str, engine: Engine) -> None:
    folder = tmp_path / "season"
    reports = write_reports(folder, 240)
    bad = write_bad_files(folder / "bad")
    good_shas = {sha(p) for p in reports}
    assert len(good_shas) == len(reports)
    env = _env(database_url) | {"NIANBAO_BATCH_FEED_WINDOW": str(FEED_WINDOW)}

    from service.batch import store

    first = subprocess.Popen(_batch_command(str(folder)), cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_until_stored(engine, first, 30)
        # Its driver alive: whoever looks leaves the batch running.
        assert store.mark_abandoned(engine) == []
        with Session(engine) as session:
            (running,) = store.list_batches(session)
        assert running.status == "running" and running.driver is not None
        os.killpg(first.pid, signal.SIGKILL)  # no goodbye: the worst interruption
    finally:
        first.wait(timeout=60)
    with Session(engine) as session:
        assert store.get_batch(session, running.id, with_items=False).status == "running"  # type: ignore[union-attr]
    assert store.mark_abandoned(engine) == [running.id]  # the next look: the driver is gone
    with Session(engine) as session:
        killed = store.get_batch(session, running.id, with_items=False)
        final = _final_count(engine) + _final_count(engine, "refused") + _final_count(engine, "skipped")
        unfed = session.exec(select(BatchItemRow.id).where(col(BatchItemRow.source_path).is_not(None))).all()
    assert killed is not None and killed.status == "interrupted" and killed.driver is None
    c = killed.counts
    assert c.queued + c.running == killed.total - final and killed.done == final and c.failed == 0
    if database_url.startswith("sqlite"):
        assert c.running == 0  # what the dead process was reading is queued again
    else:
        # The files never fed stay queued under the interrupted batch, with no job: no orphan jobs.
        assert unfed and c.queued >= len(unfed)
        assert not set(unfed) & _job_item_ids(engine)
    with Session(engine) as session:
        stored_before = session.exec(select(func.count()).select_from(ExtractionVersionRow)).one()
        parked = session.exec(select(func.count()).select_from(BatchSourceRow)).one()
        by_path = session.exec(select(func.count()).select_from(BatchItemRow)
                               .where(col(BatchItemRow.source_path).is_not(None))).one()
    assert 30 <= stored_before < len(reports), "the first run was not interrupted: make the batch larger"
    if database_url.startswith("sqlite"):
        # Embedded: files are registered by path and read in their turn, never parked in the database.
        # (junk.bin too: only reading it shows it is junk; empty, huge and the bomb are refused
        # from their size alone.)
        assert parked == 0 and by_path == len(reports) + 1
    else:
        # Workers elsewhere read the bytes from the database: moved in as the queue drains, at
        # most NIANBAO_BATCH_FEED_WINDOW files at a time.
        assert parked <= FEED_WINDOW and by_path > 0

    second = subprocess.run(_batch_command(str(folder)), cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    summary = parse_summary(second.stdout)
    # The re-run is a new batch that skips what was read; the interrupted one names it.
    with Session(engine) as session:
        latest, old = store.list_batches(session)
    assert old.id == running.id and old.status == "interrupted" and old.continued_by == latest.id
    assert latest.status == "done" and f"goes on from interrupted batch {old.id}" in second.stderr
    assert summary.total == len(reports) + len(bad.expected)
    assert summary.failed == 0
    assert summary.refused == len(bad.expected)
    assert summary.succeeded + summary.skipped == len(reports)
    assert summary.skipped >= stored_before  # what the first run stored is not read again
    assert {name.split("bad/")[-1]: code for name, code in summary.refusals.items()} == bad.expected

    with Session(engine) as session:
        versions = session.exec(select(ExtractionVersionRow)).all()
        extractions = session.exec(select(ExtractionRow.id, ExtractionRow.document_id)).all()
    assert sorted(v.sha256 for v in versions) == sorted(good_shas)  # each file once, none twice
    assert len(extractions) == len(reports)
    assert len({doc for _, doc in extractions}) == len(reports)

    third = subprocess.run(_batch_command(str(folder)), cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=600)
    again = parse_summary(third.stdout)
    assert (again.succeeded, again.skipped, again.refused, again.failed) == (0, len(reports), len(bad.expected), 0)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(ExtractionRow)).one() == len(reports)


def _recording_process_in_worker(item_id: int, settings: object, database_url: str,
                                 owner: tuple[int, str] | None, final_attempt: bool = True) -> str:
    """`work.process_in_worker` whose store function leaves a file named after the storing
    process's pid in the folder $TEST_STORED_BY (a test double: the schema records no pid)."""
    from service.batch import store, work

    real = store.store_extraction
    folder = Path(os.environ["TEST_STORED_BY"])

    def recording(*args: object, **kwargs: object) -> str:
        folder.mkdir(exist_ok=True)
        (folder / str(os.getpid())).touch()
        return real(*args, **kwargs)  # type: ignore[arg-type]

    store.store_extraction = recording
    try:
        return work.process_in_worker(item_id, settings, database_url, owner, final_attempt)
    finally:
        store.store_extraction = real


def recorded_batch_command(*args: str) -> list[str]:
    """`nianbao batch ARGS` whose reader processes record who stores (`_recording_process_in_worker`)."""
    script = ("import sys; import service.batch.work as work; import tests.test_batch as t; "
              "work.process_in_worker = t._recording_process_in_worker; "
              "from service.batch.cli import cmd_batch; sys.exit(cmd_batch(sys.argv[1:]))")
    return [sys.executable, "-c", script, *args]


def _pgroup_gone(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_embedded_readers_store_their_own_items_exactly_once_through_a_parent_sigkill(tmp_path: Path) -> None:
    """SQLite: each reader process claims, reads and stores its items itself (more than one pid
    stores, never the command's own process). SIGKILL of the command alone (its readers left
    orphaned) and a re-run: every file stored exactly once, nothing failed."""
    from service.batch import store

    database_url = f"sqlite:///{tmp_path / 'nianbao.db'}"
    folder = tmp_path / "season"
    reports = write_reports(folder, 120)
    env = _env(database_url) | {"TEST_STORED_BY": str(tmp_path / "stored-by")}
    first = subprocess.Popen(recorded_batch_command(str(folder)), cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    engine = make_engine(database_url)
    try:
        deadline = time.monotonic() + 120
        while True:  # the command migrates the database: wait for it before counting
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the run never got going"
            with contextlib.suppress(DBAPIError):
                if _final_count(engine) >= 20:
                    break
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)  # the command only: its readers are orphaned
        first.wait(timeout=60)
        assert _pgroup_gone(first.pid, 30), "orphaned reader processes linger"
        stored_by = {int(p.name) for p in (tmp_path / "stored-by").iterdir()}
        assert len(stored_by) >= 2 and first.pid not in stored_by
        with Session(engine) as session:
            (killed,) = store.list_batches(session)
        assert killed.done < len(reports), "the first run was not interrupted: make the batch larger"
        assert store.mark_abandoned(engine) == [killed.id]
        with Session(engine) as session:
            view = store.get_batch(session, killed.id, with_items=False)
        assert view is not None and view.counts.running == 0 and view.counts.failed == 0

        second = subprocess.run(_batch_command(str(folder)), cwd=REPO, env=env, capture_output=True,
                                text=True, timeout=600)
        assert second.returncode == 0, second.stdout + second.stderr
        summary = parse_summary(second.stdout)
        assert summary.failed == 0 and summary.succeeded + summary.skipped == len(reports)
        with Session(engine) as session:
            versions = session.exec(select(ExtractionVersionRow.sha256)).all()
            extractions = session.exec(select(func.count()).select_from(ExtractionRow)).one()
        assert sorted(versions) == sorted(sha(p) for p in reports) and extractions == len(reports)
    finally:
        if first.poll() is None:
            first.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)
        engine.dispose()


def _crashing_process_in_worker(item_id: int, settings: object, database_url: str,
                                owner: tuple[int, str] | None, final_attempt: bool = True) -> str:
    """`work.process_in_worker` that kills its reader process (as a segfault or an OOM kill
    would) under a file named `crash_*` every time, under `once_*` the first time (a marker
    file beside the database)."""
    from service.batch import work

    engine = make_engine(database_url)
    with Session(engine) as session:
        item = session.get(BatchItemRow, item_id)
        name = Path(item.filename).name if item is not None else ""
    engine.dispose()
    marker = Path(database_url.removeprefix("sqlite:///")).with_name(f"died-{item_id}")
    if name.startswith("crash_") or (name.startswith("once_") and not marker.exists()):
        marker.touch()
        os._exit(1)
    return work.process_in_worker(item_id, settings, database_url, owner, final_attempt)


def test_a_reader_that_dies_under_an_item_is_replaced_and_the_item_tried_once_more(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader process doing an item dies: a fresh pool, the item tried once more; dead twice,
    the item `failed` (ReaderCrashed) on its last attempt, queued again for the queue's retry
    before it (`Requeued`). The pool reads the next item as before."""
    from service.batch import store, work
    from service.config import Settings

    once, crash, again, plain = write_reports(tmp_path / "r", 4)
    paths = [once.rename(once.with_name("once_" + once.name)), crash.rename(crash.with_name("crash_" + crash.name)),
             again.rename(again.with_name("crash_" + again.name)), plain]
    database_url = f"sqlite:///{tmp_path / 'nianbao.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    try:
        with Session(engine) as session:
            batch = store.create_batch(session, read_paths(paths, UPLOAD_LIMIT), origin="cli", mode=None,
                                       llm_scope=None, reader_version="nianbao test r1")
            session.commit()
            ids = [i.id or 0 for i in session.exec(select(BatchItemRow).where(BatchItemRow.batch_id == batch.id)
                                                   .order_by(col(BatchItemRow.position))).all()]
        monkeypatch.setattr(work, "process_in_worker", _crashing_process_in_worker)
        settings = Settings(DATABASE_URL=database_url, workers=1, max_upload_bytes=UPLOAD_LIMIT,
                            llm_base_url=None, llm_model=None)
        assert work.do_item(engine, ids[0], settings) == "succeeded"  # died once, then read
        assert work.do_item(engine, ids[1], settings) == "failed"
        with pytest.raises(work.Requeued, match="ReaderCrashed"):
            work.do_item(engine, ids[2], settings, final_attempt=False)
        assert work.do_item(engine, ids[3], settings) == "succeeded"
        with Session(engine) as session:
            items = [session.get(BatchItemRow, i) for i in ids]
        assert [i.status for i in items if i is not None] == ["succeeded", "failed", "queued", "succeeded"]
        failed = items[1]
        assert failed is not None and failed.code == "internal_error" and "ReaderCrashed" in (failed.reason_en or "")
        assert (tmp_path / f"died-{ids[0]}").exists() and (tmp_path / f"died-{ids[2]}").exists()
    finally:
        engine.dispose()


def _job_item_ids(engine: Engine) -> set[int]:
    """The items that have a Procrastinate job (PostgreSQL)."""
    from sqlalchemy import text

    with engine.connect() as connection:
        rows = connection.execute(text("SELECT (args->>'item_id')::int FROM procrastinate.procrastinate_jobs "
                                       "WHERE args ? 'item_id'")).all()
    return {row[0] for row in rows}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_marks_the_batch_interrupted_at_once_and_exits_130(
        tmp_path: Path, database_url: str, engine: Engine, workers: str) -> None:
    """SIGINT to the command's process group (what a terminal's Ctrl-C sends): the command marks
    its batch interrupted itself, with the counts right, and exits 130. (Embedded, two workers:
    the items the readers hold are finished by them before the batch is let go of.)"""
    from service.batch import store

    folder = tmp_path / "season"
    write_reports(folder, 80)
    env = _env(database_url) | {"NIANBAO_BATCH_FEED_WINDOW": str(FEED_WINDOW), "NIANBAO_WORKERS": workers}
    run = subprocess.Popen(_batch_command(str(folder)), cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_until_stored(engine, run, 5)
        os.killpg(run.pid, signal.SIGINT)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 130, out + err
    assert "interrupted / 已中断" in out and "Traceback" not in err
    with Session(engine) as session:
        (view,) = store.list_batches(session)  # no one else looked: the command marked it
    c = view.counts
    assert view.status == "interrupted" and view.driver is None and view.interrupted_at is not None
    assert c.failed == 0 and c.succeeded >= 5 and c.queued > 0
    assert c.queued + c.running + view.done == view.total == 80
    summary = parse_summary(out)
    assert summary.succeeded <= c.succeeded  # the summary was printed after the batch was marked
    if database_url.startswith("sqlite"):
        assert c.running == 0
    assert store.mark_abandoned(engine) == []  # already let go of: nothing more to mark


def test_cli_batch_refuses_bad_input_before_starting(tmp_path: Path, database_url: str) -> None:
    env = _env(database_url)
    missing = subprocess.run(_batch_command(str(tmp_path / "nothing-here")), cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "nothing-here" in missing.stderr and "Traceback" not in missing.stderr
    write_reports(tmp_path / "one", 1)
    llm = subprocess.run(_batch_command(str(tmp_path / "one"), "--mode", "llm"), cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert llm.returncode == 2 and "NIANBAO_LLM_BASE_URL" in llm.stderr
    window = subprocess.run(_batch_command(str(tmp_path / "one")), cwd=REPO,
                            env=env | {"NIANBAO_BATCH_FEED_WINDOW": "0"}, capture_output=True, text=True, timeout=120)
    assert window.returncode == 2 and "NIANBAO_BATCH_FEED_WINDOW" in window.stderr
    assert "Traceback" not in window.stderr and "batch " not in window.stdout  # nothing stored


def test_worker_needs_postgresql(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "service.cli", "worker"], cwd=REPO,
                          env=_env(f"sqlite:///{tmp_path / 'x.db'}"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "PostgreSQL" in done.stderr


# --- the API -----------------------------------------------------------------------------------

def _wait_done(client: object, batch_id: str, database_url: str) -> dict[str, object]:
    """Follow GET /batches/{id} until done; on PostgreSQL, work the queue here first (what
    `nianbao worker` does), until it is empty."""
    if database_url.startswith("postgresql"):
        from service.batch.queue import run_worker
        from service.config import Settings

        engine = make_engine(database_url)
        try:
            settings = Settings(DATABASE_URL=database_url, workers=1, max_upload_bytes=UPLOAD_LIMIT,
                                llm_base_url=None, llm_model=None)
            run_worker(engine, settings, wait=False, signals=False)
        finally:
            engine.dispose()
    deadline = time.monotonic() + 120
    while True:
        view: dict[str, object] = client.get(f"/batches/{batch_id}").json()  # type: ignore[attr-defined]
        if view["status"] == "done":
            return view
        assert time.monotonic() < deadline, view
        time.sleep(0.1)


def test_api_batch_refuses_bad_files_one_by_one_and_goes_on(tmp_path: Path, database_url: str,
                                                            make_client: object) -> None:
    client = make_client(max_upload_bytes=UPLOAD_LIMIT, workers=1)  # type: ignore[operator]
    reports = write_reports(tmp_path / "r", 3)
    bad = write_bad_files(tmp_path / "bad")
    files = [("file", (p.name, p.read_bytes())) for p in reports]
    files += [("file", (p.name, p.read_bytes())) for p in sorted((tmp_path / "bad").iterdir())]
    answer = client.post("/batches", files=files, data={"mode": "deterministic"})
    assert answer.status_code == 202, answer.text
    created = answer.json()
    assert answer.headers["location"] == f"/batches/{created['id']}"
    assert created["total"] == len(reports) + len(bad.expected)

    view = _wait_done(client, created["id"], database_url)
    items = {item["filename"]: item for item in view["items"]}  # type: ignore[attr-defined]
    assert {name: items[name]["code"] for name in bad.expected} == bad.expected
    for name in bad.expected:
        assert items[name]["status"] == "refused"
        assert items[name]["reason_en"] and items[name]["reason_zh"] and items[name]["document_id"] is None
    for path in reports:
        item = items[path.name]
        assert item["status"] == "succeeded" and item["sha256"] == sha(path)
        stored = client.get(f"/extractions/{item['extraction_id']}")
        assert stored.status_code == 200 and stored.json()["document"]["sha256"] == sha(path)
    assert view["counts"] == {"queued": 0, "running": 0, "succeeded": len(reports),
                              "refused": len(bad.expected), "failed": 0, "skipped": 0}

    # The same files again: read by the same reader version, so skipped, pointing at the same extractions.
    again = client.post("/batches", files=files[: len(reports)])
    assert again.status_code == 202
    view2 = _wait_done(client, again.json()["id"], database_url)
    assert [i["status"] for i in view2["items"]] == ["skipped"] * len(reports)  # type: ignore[attr-defined]
    assert {i["extraction_id"] for i in view2["items"]} == {  # type: ignore[attr-defined]
        items[p.name]["extraction_id"] for p in reports}
    head = client.get(f"/batches/{created['id']}", params={"items": "false"}).json()
    assert head["items"] is None and head["counts"] == view["counts"] and head["done"] == view["done"]
    listed = client.get("/batches").json()["batches"]
    assert [b["id"] for b in listed[:2]] == [again.json()["id"], created["id"]]


def test_a_single_upload_counts_for_resume(tmp_path: Path, database_url: str, engine: Engine,
                                           make_client: object) -> None:
    """Bytes read by POST /extract under the same reader version are skipped by a later batch,
    which points at that extraction; uploading them twice records the version once."""
    client = make_client(max_upload_bytes=UPLOAD_LIMIT, workers=1)  # type: ignore[operator]
    first, second = write_reports(tmp_path / "r", 2)
    single = client.post("/extract", files={"file": (first.name, first.read_bytes())},
                         data={"mode": "deterministic"})
    assert single.status_code == 200, single.text
    again = client.post("/extract", files={"file": (first.name, first.read_bytes())},
                        data={"mode": "deterministic"})
    assert again.status_code == 200, again.text  # a second upload of the same bytes is no conflict

    files = [("file", (p.name, p.read_bytes())) for p in (first, second)]
    created = client.post("/batches", files=files, data={"mode": "deterministic"})
    assert created.status_code == 202, created.text
    view = _wait_done(client, created.json()["id"], database_url)
    items = {item["filename"]: item for item in view["items"]}  # type: ignore[attr-defined]
    assert items[first.name]["status"] == "skipped"
    assert items[first.name]["extraction_id"] == single.json()["extraction"]["id"]
    assert items[second.name]["status"] == "succeeded"
    with Session(engine) as session:
        versions = session.exec(select(ExtractionVersionRow).where(ExtractionVersionRow.sha256 == sha(first))).all()
    assert [v.extraction_id for v in versions] == [single.json()["extraction"]["id"]]


def test_api_batch_refusals(database_url: str, make_client: object) -> None:
    client = make_client()  # type: ignore[operator]
    assert client.get("/batches/bat_missing").status_code == 404
    assert client.post("/batches", json={"text": "x"}).status_code == 415
    no_file = client.post("/batches", data={"mode": "deterministic"}, files={"other": ("a.txt", b"x")})
    assert no_file.status_code == 422 and no_file.json()["error"] == "invalid_request"
    llm = client.post("/batches", data={"mode": "llm"}, files={"file": ("a.txt", b"x")})
    assert llm.status_code == 422 and llm.json()["error"] == "llm_not_configured"
    assert "/batches" in client.get("/openapi.json").json()["paths"]


def test_the_service_resumes_embedded_batches_a_stopped_server_left(tmp_path: Path) -> None:
    """SQLite: a batch stored but not run (its server stopped) goes on when the service starts
    again. (On PostgreSQL the queue keeps it for `nianbao worker`: test_workers.py.)"""
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from service.batch import store
    from service.batch.sources import read_paths
    from service.config import Settings

    database_url = f"sqlite:///{tmp_path / 'nianbao.db'}"
    reports = write_reports(tmp_path / "r", 4)
    engine = make_engine(database_url)
    migrate(engine)
    with Session(engine) as session:
        batch = store.create_batch(session, read_paths(reports, UPLOAD_LIMIT), origin="api", mode=None,
                                   llm_scope=None, reader_version="nianbao 0.1.0 r1 deterministic")
        session.commit()
        batch_id = batch.id
    with Session(engine) as session:
        assert store.unfinished_batch_ids(session) == [batch_id]
    engine.dispose()
    settings = Settings(DATABASE_URL=database_url, workers=1, llm_base_url=None, llm_model=None)
    with TestClient(create_app(settings)) as client:
        view = _wait_done(client, batch_id, database_url)
    assert view["counts"]["succeeded"] == len(reports)  # type: ignore[index]


def test_an_item_that_fails_is_listed_and_the_batch_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """SQLite: an unexpected error in one item (our fault, not the file's) fails that item with
    its reason; the others are read; exit 1 because something failed."""
    import service.batch.work as work
    from service.batch.cli import cmd_batch

    reports = write_reports(tmp_path / "r", 3)
    real_extract = work.extract

    def extract(data: bytes, filename: str | None, **options: object) -> object:
        if filename == reports[1].name:
            raise RuntimeError("reader bug")
        return real_extract(data, filename, **options)

    monkeypatch.setattr(work, "extract", extract)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'nianbao.db'}")
    monkeypatch.setenv("NIANBAO_WORKERS", "0")
    assert cmd_batch([str(tmp_path / "r")]) == 1
    out = capsys.readouterr().out
    summary = parse_summary(out)
    assert (summary.succeeded, summary.failed, summary.refused, summary.skipped) == (2, 1, 0, 0)
    assert summary.refusals == {str(reports[1]): "internal_error"}
    assert "RuntimeError: reader bug" in out


@pytest.mark.parametrize("command", ["batch", "worker"])
def test_an_unreachable_database_is_one_line_exit_2(tmp_path: Path, command: str) -> None:
    write_reports(tmp_path / "r", 1)
    args = [str(tmp_path / "r")] if command == "batch" else []
    done = subprocess.run([sys.executable, "-m", "service.cli", command, *args], cwd=REPO,
                          env=_env("postgresql://nb:secret@127.0.0.1:1/nianbao"), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert "cannot reach the database" in done.stderr and "Traceback" not in done.stderr
    assert "secret" not in done.stderr


# --- who drives a batch: interrupted batches ----------------------------------------------------

def _driven_batch(engine: Engine, folder: Path, driver: Driver) -> str:
    """A `nianbao batch`-like batch of two files registered by path, driven by `driver`."""
    from service.batch import store

    with Session(engine) as session:
        batch = store.create_batch(session, register_paths(write_reports(folder, 2), UPLOAD_LIMIT), origin="cli",
                                   mode=None, llm_scope=None, reader_version="nianbao test r1",
                                   driver=driver)
        session.commit()
        return batch.id


def _dead_driver() -> Driver:
    """A driver on this host whose process has exited (its pid and start token, taken alive)."""
    from service.batch.driver import hostname, start_token

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        token = start_token(child.pid)
        assert token is not None and start_token(child.pid) == token
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
        assert start_token(child.pid) is None  # killed and not yet reaped is gone too
    finally:
        child.kill()
        child.wait()
    return Driver(hostname(), child.pid, token)


def test_a_batch_is_marked_interrupted_when_its_driver_is_gone_and_never_while_it_lives(
        tmp_path: Path, database_url: str, engine: Engine, make_client: object) -> None:
    from datetime import timedelta

    from service.batch import store
    from service.batch.driver import STALE_SECONDS, hostname, this_process
    from service.store.models import BatchRow, utc_now

    me = this_process()
    live = _driven_batch(engine, tmp_path / "live", me)
    elsewhere = _driven_batch(engine, tmp_path / "elsewhere", Driver("another-host", 4242, "proc:x:1"))
    client = make_client(max_upload_bytes=UPLOAD_LIMIT, workers=1)  # type: ignore[operator]
    # Alive: this process (pid and start token match); another host whose heartbeat is fresh.
    listed = {b["id"]: b for b in client.get("/batches").json()["batches"]}
    assert listed[live]["status"] == "queued" and listed[live]["driver"] == f"{hostname()}:{me.pid}"
    assert listed[elsewhere]["status"] == "queued" and listed[elsewhere]["interrupted_at"] is None
    with Session(engine) as session:
        assert live not in store.unfinished_batch_ids(session)  # the server leaves it to its driver
    store.beat(engine, live, me)

    dead = _driven_batch(engine, tmp_path / "dead", _dead_driver())
    reused = _driven_batch(engine, tmp_path / "reused", Driver(hostname(), os.getpid(), "proc:another:1"))
    view = client.get(f"/batches/{dead}").json()
    assert view["status"] == "interrupted" and view["interrupted_at"] and view["driver"] is None
    assert view["counts"]["queued"] == view["total"] == 2 and view["done"] == 0
    assert [i["status"] for i in view["items"]] == ["queued", "queued"]
    assert client.get(f"/batches/{reused}").json()["status"] == "interrupted"  # the pid is another process's now

    with Session(engine) as session:
        row = session.get(BatchRow, elsewhere)
        assert row is not None
        row.heartbeat_at = utc_now() - timedelta(seconds=STALE_SECONDS + 1)
        session.add(row)
        session.commit()
        assert store.unfinished_batch_ids(session) == []  # interrupted ones wait for their command
    listed = {b["id"]: b for b in client.get("/batches").json()["batches"]}
    assert listed[elsewhere]["status"] == "interrupted"
    assert listed[live]["status"] == "queued" and listed[live]["interrupted_at"] is None
    assert store.mark_abandoned(engine) == []  # each marked once; the live one never
    assert store.release(engine, live)  # its driver leaves with files unread: interrupted
    assert client.get(f"/batches/{live}").json()["status"] == "interrupted"


def test_cli_batches_left_unfinished_before_the_upgrade_are_marked_interrupted(database_url: str) -> None:
    """Migration 0006: a CLI batch from before (no driver recorded) with work left only its
    command would do says `interrupted`, not "running" forever; API and finished ones are left."""
    from alembic import command
    from sqlalchemy import text

    from service.batch import store
    from service.store.db import alembic_config

    engine = make_engine(database_url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0005_batch_item_paths")
            for batch_id, origin, status in (("bat_cli_left", "cli", "queued"), ("bat_api_left", "api", "queued"),
                                             ("bat_cli_done", "cli", "succeeded")):
                connection.execute(text(
                    "INSERT INTO batch (id, origin, reader_version, total, created_at) "
                    "VALUES (:id, :origin, 'r1', 1, CURRENT_TIMESTAMP)"), {"id": batch_id, "origin": origin})
                connection.execute(text(
                    "INSERT INTO batch_item (batch_id, position, filename, status, source_path, attempts, updated_at) "
                    "VALUES (:id, 1, 'a.txt', :status, '/nowhere/a.txt', 0, CURRENT_TIMESTAMP)"),
                    {"id": batch_id, "status": status})
        migrate(engine)
        with Session(engine) as session:
            statuses = {b.id: b.status for b in store.list_batches(session)}
            assert store.unfinished_batch_ids(session) == ["bat_api_left"]  # the server goes on with it
        assert statuses == {"bat_cli_left": "interrupted", "bat_api_left": "queued", "bat_cli_done": "done"}
    finally:
        engine.dispose()
