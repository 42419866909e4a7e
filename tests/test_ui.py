"""The review UI in real headless Chromium against a real server and database (issue 9 journeys).

Chromium is Debian's (`shutil.which("chromium")`); without it these tests skip, except under CI=true
where they fail. Each test runs against a server on SQLite and one on the throwaway PostgreSQL of
tests/conftest.py (which fails rather than skips under CI=true). Screenshots at 1280×800 (from the
SQLite run) go to tests/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import Browser, Dialog, Page, ViewportSize, expect, sync_playwright

from tests.conftest import seed_files
from tests.ui_server import Server, add_user, running_server, scratch_postgres_database

SHOTS = Path(__file__).resolve().parent / "screenshots"
PASSWORD = "correct horse battery"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
# The machine is shared: give each page step room (a failure still fails, only later).
expect.set_options(timeout=15_000)


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed; CI=true, so the browser tests must run, not skip", pytrace=False)
        pytest.skip("chromium is not installed")
    return path


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One live server per backend; `postgres_url` (conftest) skips or, under CI=true, fails without PostgreSQL."""
    base = tmp_path_factory.mktemp(f"ui-{request.param}")
    with ExitStack() as stack:
        if request.param == "sqlite":
            database_url = f"sqlite:///{base / 'ui.db'}"
        else:
            database_url = stack.enter_context(scratch_postgres_database(request.getfixturevalue("postgres_url")))
        add_user(database_url, "alice", PASSWORD)
        add_user(database_url, "bob", PASSWORD)
        yield stack.enter_context(running_server(base, database_url, batch_worker=True))


def shoot(page: Page, server: Server, name: str) -> None:
    """Screenshots from the SQLite run only (the pages look the same on both backends)."""
    if server.database_url.startswith("sqlite"):
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / name))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=executable,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def damaged_copy(seed: Path, out: Path) -> Path:
    """The seed with the first `0` cell of two table-3 rows printed as the letter O (a low cell each)."""
    lines = seed.read_text("utf-8").split("\n")
    done = 0
    for i, line in enumerate(lines):
        if ("予以公开" in line or "属于国家秘密" in line) and "\t0" in line:
            cells = line.split("\t")
            j = cells.index("0")
            cells[j] = "O"
            lines[i] = "\t".join(cells)
            done += 1
    assert done >= 2, "the seed has no tab-separated 予以公开 / 属于国家秘密 rows to damage"
    out.write_text("\n".join(lines), "utf-8")
    return out


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def sign_in(page: Page, server: Server, user: str) -> None:
    page.goto(f"{server.url}/#/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#who")).to_contain_text(user)


def open_document(page: Page, server: Server, doc_id: str) -> None:
    page.goto(f"{server.url}/#/doc/{doc_id}")
    expect(page.locator("td.cell").first).to_be_visible()


def _seed_with_rows() -> Path:
    for seed in seed_files():
        try:
            damaged_copy(seed, Path(os.devnull))
        except AssertionError:
            continue
        return seed
    raise AssertionError("no seed with tab-separated table-3 rows")


def test_static_files_are_served_with_nosniff(server: Server) -> None:
    for path, kind in [("/", "text/html"), ("/static/app.js", "javascript"), ("/static/app.css", "text/css")]:
        with urllib.request.urlopen(server.url + path, timeout=10) as r:
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert kind in r.headers["Content-Type"]
    for bad in ["/static/..%2Fapp.py", "/static/web.py", "/static/.hidden.js"]:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(server.url + bad, timeout=10)
        assert info.value.code == 404


def test_review_journey(server: Server, browser: Browser, tmp_path: Path) -> None:
    seed = _seed_with_rows()
    damaged = damaged_copy(seed, tmp_path / f"damaged_{seed.name}")

    alice = browser.new_context(viewport=VIEWPORT)
    page = alice.new_page()
    sign_in(page, server, "alice")

    # Upload two files one after the other; each gets its own progress row and lands as a document
    # (several files at once make a batch: test_batch_upload_journey).
    page.goto(f"{server.url}/#/upload")
    page.set_input_files("#files", [str(seed)])
    expect(page.locator(".upload.done")).to_have_count(1, timeout=60_000)
    page.set_input_files("#files", [str(damaged)])
    expect(page.locator(".upload.done")).to_have_count(2, timeout=60_000)
    link = page.locator(".upload", has_text=damaged.name).locator("a")
    doc_id = link.get_attribute("href").split("/")[-1]  # type: ignore[union-attr]

    review = get_json(f"{server.url}/documents/{doc_id}/review")
    lows = [f for f in review["fields"] if f["level"] == "low"]
    assert len(lows) >= 2, "the damaged copy should read with two low cells"
    low_paths = {f["path"] for f in lows}

    # The list shows both documents with their low counts.
    page.goto(f"{server.url}/#/documents")
    expect(page.locator("tr.doc-row")).to_have_count(2)
    row = page.locator(f"tr.doc-row[data-id='{doc_id}']")
    expect(row.locator("td").nth(4)).to_have_text(str(len(lows)))
    shoot(page, server, "list.png")

    # The queue: the low fields of every document, lowest confidence first; each opens its cell.
    queue = [q for q in get_json(f"{server.url}/review/queue?limit=500") if q["level"] == "low"]
    assert {q["path"] for q in queue if q["document_id"] == doc_id} == low_paths
    page.goto(f"{server.url}/#/queue")
    rows = page.locator("tr.queue-row")
    expect(rows).to_have_count(len(queue))
    shown = [(r.get_attribute("data-id"), r.get_attribute("data-path")) for r in rows.all()]
    assert shown == [(q["document_id"], q["path"]) for q in queue]
    confidences = [float(t) for t in page.locator("tr.queue-row td.conf").all_text_contents()]
    assert confidences == sorted(confidences)
    shoot(page, server, "queue.png")
    for target in sorted(low_paths):
        page.goto(f"{server.url}/#/queue")
        expect(page.locator("#queue a.q-link").first).to_be_focused()
        index = shown.index((doc_id, target))
        for _ in range(index):
            page.keyboard.press("j")
        expect(page.locator("#queue a.q-link").nth(index)).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("td.cell.selected")).to_have_attribute("data-path", target)
        expect(page.locator("#sel-value")).to_have_text(str(next(f["value"] for f in lows if f["path"] == target)))

    # Bob opens the same document now, so he holds the version before Alice's correction.
    bob = browser.new_context(viewport=VIEWPORT)
    bob_page = bob.new_page()
    sign_in(bob_page, server, "bob")
    open_document(bob_page, server, doc_id)

    open_document(page, server, doc_id)
    selected = page.locator("td.cell.selected")
    first = selected.get_attribute("data-path")
    assert first in low_paths
    page.keyboard.press("j")
    second = page.locator("td.cell.selected").get_attribute("data-path")
    assert second in low_paths and second != first
    page.keyboard.press("k")
    expect(page.locator("td.cell.selected")).to_have_attribute("data-path", first or "")
    # The evidence shows the very characters the cell was read from.
    field = next(f for f in lows if f["path"] == first)
    text = urllib.request.urlopen(f"{server.url}/documents/{doc_id}/text", timeout=10).read().decode("utf-8")
    a, b = field["span"]
    expect(page.locator("#span-mark")).to_have_text(text[a:b])

    # Edit: the live re-check flags a value that breaks the row total, passes the printed one.
    page.keyboard.press("e")
    box = page.locator("#edit-input")
    box.fill("7")
    expect(page.locator("#live-check .check.fail").first).to_be_visible()
    box.fill("0")
    expect(page.locator("#live-check .check.fail")).to_have_count(0)
    expect(page.locator("#live-check .check.ok").first).to_be_visible()
    box.press("Enter")
    cell = page.locator(f"td.cell[data-path='{first}']")
    expect(cell).to_have_class(re.compile(r"\breviewed\b"))
    expect(page.locator("#history li.hist").first).to_contain_text("alice")
    saved = {f["path"]: f for f in get_json(f"{server.url}/documents/{doc_id}/review")["fields"]}[first]
    assert saved["reviewed"] is True and saved["value"] == 0
    shoot(page, server, "document.png")

    # Bob's page is stale: accepting the same cell gets the conflict message, and nothing is lost.
    bob_page.locator(f"td.cell[data-path='{first}']").click()
    bob_page.keyboard.press("Enter")
    expect(bob_page.locator("#conflict")).to_contain_text("冲突")
    after = {f["path"]: f for f in get_json(f"{server.url}/documents/{doc_id}/review")["fields"]}[first]
    assert after["version"] == saved["version"]

    # Mark reviewed; the list says so.
    page.click("#mark-reviewed")
    expect(page.locator("#doc-status")).to_have_text("已审核")

    # The corrected cell has left the queue; the other low cell is still in it.
    page.goto(f"{server.url}/#/queue")
    expect(page.locator(f"tr.queue-row[data-id='{doc_id}'][data-path='{second}']")).to_have_count(1)
    expect(page.locator(f"tr.queue-row[data-id='{doc_id}'][data-path='{first}']")).to_have_count(0)

    # The exports, downloaded through the list page, carry the saved value marked as reviewed by Alice.
    page.goto(f"{server.url}/#/documents")
    with page.expect_download() as xlsx_download:
        page.click("#export-xlsx")
    assert xlsx_download.value.suggested_filename.endswith(".xlsx")
    xlsx_path = tmp_path / xlsx_download.value.suggested_filename
    xlsx_download.value.save_as(xlsx_path)
    sheet = openpyxl.load_workbook(xlsx_path, read_only=True)["fields"]
    header, *values = [list(r) for r in sheet.iter_rows(values_only=True)]
    # read_only rows stop at their last non-empty cell (an unreviewed row has no reviewed_by): pad them.
    padded = (v + [None] * (len(header) - len(v)) for v in values)
    xlsx_rows = {(r["document_id"], r["path"]): r for r in (dict(zip(header, v, strict=True)) for v in padded)}
    assert xlsx_rows[(doc_id, first)]["value"] == saved["value"]
    assert xlsx_rows[(doc_id, first)]["reviewed"] is True
    assert xlsx_rows[(doc_id, first)]["reviewed_by"] == "alice"
    assert xlsx_rows[(doc_id, second)]["reviewed"] is False
    with page.expect_download() as csv_download:
        page.click("#export-csv")
    assert csv_download.value.suggested_filename.endswith(".csv")
    text_csv = Path(csv_download.value.path()).read_text("utf-8-sig")
    csv_rows = {(r["document_id"], r["path"]): r for r in csv.DictReader(io.StringIO(text_csv))}
    assert csv_rows[(doc_id, first)]["value"] == str(saved["value"])
    assert csv_rows[(doc_id, first)]["reviewed"] == "true"
    assert csv_rows[(doc_id, second)]["reviewed"] == "false"
    alice.close()
    bob.close()


XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'


def test_signed_out_browser_cannot_write(server: Server, browser: Browser, tmp_path: Path) -> None:
    """Also: report text carrying markup is shown as text, never run."""
    seed = _seed_with_rows()
    damaged = damaged_copy(seed, tmp_path / "signed_out.txt")
    report = damaged.read_text("utf-8") + "\n" + XSS + "\n"
    with urllib.request.urlopen(
        urllib.request.Request(f"{server.url}/extract", data=json.dumps({"text": report}).encode(),
                               headers={"content-type": "application/json"}),
        timeout=60,
    ) as r:
        doc_id = json.load(r)["document"]["id"]
    before = {f["path"]: f for f in get_json(f"{server.url}/documents/{doc_id}/review")["fields"]}
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    open_document(page, server, doc_id)
    expect(page.locator("#who")).to_have_text("未登录")
    path = page.locator("td.cell.selected").get_attribute("data-path")
    page.keyboard.press("b")
    expect(page.locator("#notice")).to_contain_text("登录")
    after = {f["path"]: f for f in get_json(f"{server.url}/documents/{doc_id}/review")["fields"]}
    assert after[path or ""] == before[path or ""]
    expect(page.locator("#report-text")).to_contain_text("<script>window.__xss=1</script>")
    assert page.locator("#report-text img, #report-text script").count() == 0
    assert page.evaluate("window.__xss") is None
    context.close()


HONGZE = Path(__file__).resolve().parent.parent / "evals" / "docs" / "dev" / "hongze_2023.pdf"


def test_pdf_cell_shows_its_page_with_the_box_on_the_value(server: Server, browser: Browser) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    sign_in(page, server, "alice")
    page.goto(f"{server.url}/#/upload")
    page.set_input_files("#files", [str(HONGZE)])
    expect(page.locator(".upload.done")).to_have_count(1, timeout=60_000)
    doc_id = page.locator(".upload a").get_attribute("href").split("/")[-1]  # type: ignore[union-attr]

    review = get_json(f"{server.url}/documents/{doc_id}/review")
    text = urllib.request.urlopen(f"{server.url}/documents/{doc_id}/text", timeout=10).read().decode("utf-8")
    # A table-3 cell printed as a number of its own, read from page 3 (not the first page shown).
    field = next(f for f in review["fields"] if f["box"] and f["path"].startswith("applications.")
                 and isinstance(f["value"], int) and f["value"] > 0 and f["box"]["page"] > 1
                 and text[f["span"][0]:f["span"][1]] == str(f["value"]))
    open_document(page, server, doc_id)
    page.locator(f"td.cell[data-path='{field['path']}']").click()
    expect(page.locator("td.cell.selected")).to_have_attribute("data-path", field["path"])
    page.wait_for_function("() => { const i = document.getElementById('page-image');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    assert page.locator("#page-image").get_attribute("src") == (
        f"/documents/{doc_id}/pages/{field['box']['page']}.png?scale=1.5")
    box = page.locator("#page-box")
    expect(box).to_be_visible()
    image = page.locator("#page-image").bounding_box()
    drawn = box.bounding_box()
    view = page.locator("#page-view").bounding_box()
    assert image and drawn and view
    # Where the box is drawn is where the cell is on the page, scaled with the image...
    x0, y0, x1, y1 = field["box"]["bbox"]
    sx, sy = image["width"] / field["box"]["page_width"], image["height"] / field["box"]["page_height"]
    assert abs(drawn["x"] - (image["x"] + x0 * sx)) <= 1 and abs(drawn["y"] - (image["y"] + y0 * sy)) <= 1
    assert abs(drawn["width"] - (x1 - x0) * sx) <= 1 and abs(drawn["height"] - (y1 - y0) * sy) <= 1
    # ... and it is scrolled into the page view.
    assert view["x"] <= drawn["x"] and drawn["x"] + drawn["width"] <= view["x"] + view["width"]
    assert view["y"] <= drawn["y"] and drawn["y"] + drawn["height"] <= view["y"] + view["height"]
    # The text evidence stays.
    a, b = field["span"]
    expect(page.locator("#span-mark")).to_have_text(text[a:b])
    shoot(page, server, "pdf_page.png")
    if server.database_url.startswith("sqlite"):
        page.locator("#page-view").screenshot(path=str(SHOTS / "pdf_page_box.png"))
    # A cell with no box (a prose figure) shows no page image.
    prose = next((f for f in review["fields"] if f["box"] is None and f["path"].startswith("narrative.")), None)
    if prose is not None:
        page.locator(f"td.cell[data-path='{prose['path']}']").click()
        expect(page.locator("#page-view")).to_have_count(0)
    context.close()


XSS_NAME = "<img src=x onerror=alert(1)>.txt"


def test_batch_upload_journey(server: Server, browser: Browser, tmp_path: Path) -> None:
    """Several files chosen at once go as one batch; its page follows the reading to the end,
    lists the junk file refused (first) with its Chinese reason, shows a filename carrying markup
    as text, filters by status and opens a document of the batch."""
    seeds = seed_files()[1:3]
    folder = tmp_path / "batch"
    folder.mkdir()
    files = [folder / s.name for s in seeds]
    for src, dst in zip(seeds, files, strict=True):
        dst.write_bytes(src.read_bytes())
    marked = folder / XSS_NAME
    marked.write_bytes(seed_files()[3].read_bytes())
    junk = folder / "junk.bin"
    junk.write_bytes(bytes((i * 151 + 7) % 256 for i in range(3000)))

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    sign_in(page, server, "alice")
    page.goto(f"{server.url}/#/upload")
    page.set_input_files("#files", [str(p) for p in [*files, marked, junk]])

    expect(page).to_have_url(re.compile(r"#/batches/bat_\w+$"), timeout=60_000)
    batch_id = page.url.rsplit("/", 1)[-1]
    expect(page.locator("#batch-summary")).to_have_attribute("data-status", "done", timeout=120_000)
    assert page.locator("#batch-progress").evaluate("b => [b.value, b.max]") == [4, 4]

    view = get_json(f"{server.url}/batches/{batch_id}")
    by_name = {i["filename"]: i for i in view["items"]}
    assert by_name["junk.bin"]["status"] == "refused"
    assert {by_name[p.name]["status"] for p in [*files, marked]} <= {"succeeded", "skipped"}

    rows = page.locator("#batch-items tr.batch-item")
    expect(rows).to_have_count(4)
    first = rows.first  # refused and failed come first
    expect(first.locator("td.fname")).to_have_text("junk.bin")
    expect(first.locator("td.istatus")).to_have_text("已拒绝")
    reason = first.locator("td.reason")
    expect(reason).to_have_text(by_name["junk.bin"]["reason_zh"])
    assert re.search(r"[\u4e00-\u9fff]", reason.inner_text())
    expect(reason).to_have_attribute("title", by_name["junk.bin"]["reason_en"])

    # The filename with markup is text: no image element, no script run.
    expect(page.locator("#batch-items td.fname", has_text=XSS_NAME)).to_have_count(1)
    assert page.locator("#batch-items img").count() == 0
    assert dialogs == []
    shoot(page, server, "batch.png")

    page.select_option("#batch-filter", "refused")
    expect(rows).to_have_count(1)
    page.select_option("#batch-filter", "")
    expect(rows).to_have_count(4)

    page.goto(f"{server.url}/#/batches")
    listed = page.locator(f"tr.batch-row[data-id='{batch_id}']")
    expect(listed).to_contain_text("已完成")
    expect(listed).to_contain_text("4/4")
    shoot(page, server, "batches.png")

    listed.locator("a").click()
    expect(page.locator("#batch-summary")).to_have_attribute("data-status", "done")
    doc_id = by_name[files[0].name]["document_id"]
    page.locator("#batch-items tr.batch-item", has_text=files[0].name).locator("a.doc-link").click()
    expect(page).to_have_url(re.compile(f"#/doc/{doc_id}$"))
    expect(page.locator("td.cell").first).to_be_visible()

    # One .zip alone is a batch too: its members, named inside the archive; bytes this server
    # read already (the first member is a file of the batch above) are skipped, listed last.
    archive = folder / "季度.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/first.txt", seeds[0].read_bytes())
        zf.writestr("a/second.txt", seed_files()[4].read_bytes())
    page.goto(f"{server.url}/#/upload")
    page.set_input_files("#files", [str(archive)])
    expect(page).to_have_url(re.compile(r"#/batches/bat_\w+$"), timeout=60_000)
    expect(page.locator("#batch-summary")).to_have_attribute("data-status", "done", timeout=120_000)
    expect(page.locator("#batch-items td.fname")).to_have_text(["季度.zip/a/second.txt", "季度.zip/a/first.txt"])
    expect(page.locator("#batch-items td.istatus")).to_have_text(["成功", "已跳过（此前已读取）"])

    # A `nianbao batch` killed mid-run: the next look shows it 已中断, its files still queued, and
    # links to the batch that went on with it.
    interrupted = _killed_cli_batch(server.database_url, files[:2], continued_by=batch_id)
    page.goto(f"{server.url}/#/batches")
    row = page.locator(f"tr.batch-row[data-id='{interrupted}']")
    expect(row.locator("td.bstatus")).to_contain_text("已中断")
    expect(row).to_contain_text("0/2")
    row.locator(f"a[href='#/batches/{interrupted}']").click()
    expect(page.locator("#batch-summary")).to_have_attribute("data-status", "interrupted")
    expect(page.locator("h1")).to_contain_text("已中断")
    expect(page.locator("#batch-items td.istatus")).to_have_text(["排队中", "排队中"])
    page.locator("#batch-successor a").click()
    expect(page).to_have_url(re.compile(f"#/batches/{batch_id}$"))
    expect(page.locator("#batch-summary")).to_have_attribute("data-status", "done")
    assert dialogs == []
    context.close()


def _killed_cli_batch(database_url: str, files: list[Path], *, continued_by: str) -> str:
    """A CLI batch of `files` whose driver process is gone, named as continued by `continued_by`."""
    from sqlmodel import Session

    from service.batch import store
    from service.batch.sources import register_paths
    from service.store.db import make_engine
    from tests.test_batch import _dead_driver

    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            batch = store.create_batch(session, register_paths(files, 1_000_000), origin="cli", mode=None,
                                       llm_scope=None, reader_version="nianbao ui-test r1",
                                       driver=_dead_driver())
            batch.continued_by = continued_by
            session.commit()
            return batch.id
    finally:
        engine.dispose()


def test_a_big_batch_page_follows_progress_without_the_items_every_second(server: Server, browser: Browser) -> None:
    """Beyond 500 files the page polls the progress alone and fetches the items now and then:
    it still ends on the final table, every refusal listed (the first 1000 rows drawn)."""
    n = 600
    files = [("file", (f"big-{i:04d}.bin", bytes([0, 255, i % 256, i // 256]) * 64)) for i in range(n)]
    request = urllib.request.Request(f"{server.url}/batches", method="POST")
    boundary = "nianbao-ui-test"
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        for _, (name, data) in files) + f"--{boundary}--\r\n".encode()
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    with urllib.request.urlopen(request, data=body, timeout=120) as r:
        batch_id = json.load(r)["id"]
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    polls: list[str] = []
    page.on("request", lambda req: polls.append(req.url) if f"/batches/{batch_id}" in req.url else None)
    page.goto(f"{server.url}/#/batches/{batch_id}")
    expect(page.locator("#batch-summary")).to_have_attribute("data-status", "done", timeout=180_000)
    expect(page.locator("#batch-items tr.batch-item.refused")).to_have_count(n)
    expect(page.locator("#batch-summary")).to_contain_text(f"{n}/{n}")
    with_items = [u for u in polls if "items=false" not in u]
    assert len(polls) > len(with_items), polls  # the progress was polled alone while the batch ran
    assert len(with_items) <= 2 + len(polls) // 4, polls  # the items are not fetched every second
    context.close()
