"""How fast the review UI answers a reviewer, in real headless Chromium against the real server.

Run: .venv/bin/python benchmarks/ui.py [--repeat N] [--batch-items N]

Server and data as in tests/test_ui.py: uvicorn on a fresh SQLite file (benchmarks/api_latency.serve),
the seed reports uploaded plus one damaged copy whose table 3 has low cells (test_ui.damaged_copy),
Debian's chromium with the tests' launch arguments, a signed-in reviewer. Measured, median of N
(default 10):
- open a document: from navigation (a full page load of `/#/doc/ID`, the browser cache warm)
  until the grid's cells are drawn;
- next low cell (`j`): from the key press until the evidence panel shows the new cell's span;
- a batch of 2000 files (--batch-items; junk, each refused): GET /batches/{id} alone and the batch
  page opened until its table is drawn (in page: from navigation start);
- a PDF cell (evals/docs/dev/hongze_2023.pdf): from the click until its page image has loaded with
  the cell's box drawn, in a fresh browser context (the page rendered by the server) and again with
  the image in the browser's cache; and GET /documents/{id}/pages/{n}.png alone (server render).
Each browser figure twice: the wall time seen from Python (Playwright round trips included) and the time
inside the page (performance.now(): navigation start / keydown until the frame after the change).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from api_latency import serve  # noqa: E402  (the sibling script: this directory is sys.path[0])
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from tests.conftest import seed_files  # noqa: E402
from tests.test_ui import PASSWORD, VIEWPORT, _seed_with_rows, damaged_copy, sign_in  # noqa: E402
from tests.ui_server import Server, add_user  # noqa: E402

LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 30_000

# In-page clocks: when the first grid cell appears, and when a `j` press has put a new span in the
# evidence panel; each taken in a task after the next animation frame, i.e. after it was painted.
PROBE = """
(() => {
  const afterPaint = (fn) => requestAnimationFrame(() => setTimeout(fn, 0));
  window.__bench = { grid: null, jStart: null, jDone: null, clickStart: null };
  const seen = new MutationObserver(() => {
    if (window.__bench.grid === null && document.querySelector("td.cell")) {
      window.__bench.grid = -1;
      afterPaint(() => { window.__bench.grid = performance.now(); });
    }
  });
  document.addEventListener("DOMContentLoaded", () => seen.observe(document.body, { childList: true, subtree: true }));
  window.addEventListener("keydown", (ev) => {
    if (ev.key !== "j") return;
    window.__bench.jStart = performance.now();
    window.__bench.jDone = null;
    afterPaint(() => { window.__bench.jDone = performance.now(); });
  }, true);
})();
"""

SPAN_SHOWN = """
(prev) => {
  const cell = document.querySelector("td.cell.selected");
  const path = document.querySelector("#evidence p.path");
  return !!cell && cell.dataset.path !== prev && !!path && path.textContent === cell.dataset.path
    && !!document.querySelector("#evidence #span-mark") && window.__bench.jDone !== null;
}
"""


def upload(server: Server, path: Path) -> str:
    """POST /extract a file; its document id."""
    response = httpx.post(f"{server.url}/extract", files={"file": (path.name, path.read_bytes(), "text/plain")},
                          data={"mode": "deterministic"}, timeout=120)
    response.raise_for_status()
    doc_id: str = response.json()["document"]["id"]
    return doc_id


def open_doc(page: Page, server: Server, doc_id: str) -> tuple[float, float]:
    """One full load of the document page: (wall ms, in-page ms) until the grid is drawn."""
    page.goto("about:blank")
    start = time.perf_counter()
    page.goto(f"{server.url}/#/doc/{doc_id}")
    page.wait_for_selector("td.cell", state="visible", timeout=TIMEOUT_MS)
    wall = (time.perf_counter() - start) * 1000
    page.wait_for_function("window.__bench.grid > 0", timeout=TIMEOUT_MS)
    in_page: float = page.evaluate("window.__bench.grid")
    return wall, in_page


def next_low(page: Page) -> tuple[float, float]:
    """One `j`: (wall ms, in-page ms) until the evidence panel shows the next low cell's span."""
    prev = page.locator("td.cell.selected").get_attribute("data-path", timeout=TIMEOUT_MS)
    start = time.perf_counter()
    page.keyboard.press("j")
    page.wait_for_function(SPAN_SHOWN, arg=prev, timeout=TIMEOUT_MS)
    wall = (time.perf_counter() - start) * 1000
    in_page: float = page.evaluate("window.__bench.jDone - window.__bench.jStart")
    return wall, in_page


PAGE_SHOWN = """
(path) => {
  const cell = document.querySelector("td.cell.selected");
  const img = document.getElementById("page-image");
  return !!cell && cell.dataset.path === path && !!img && img.complete && img.naturalWidth > 0
    && !!document.getElementById("page-box");
}
"""
HONGZE = ROOT / "evals" / "docs" / "dev" / "hongze_2023.pdf"


def pdf_cell(page: Page, path: str) -> tuple[float, float]:
    """One click on a PDF cell: (wall ms, in-page ms) until its page image shows with the box."""
    page.evaluate("window.__bench.clickStart = performance.now()")
    start = time.perf_counter()
    page.locator(f"td.cell[data-path='{path}']").click()
    page.wait_for_function(PAGE_SHOWN, arg=path, timeout=TIMEOUT_MS)
    wall = (time.perf_counter() - start) * 1000
    in_page: float = page.evaluate("performance.now() - window.__bench.clickStart")
    return wall, in_page


def pdf_figures(browser: Any, server: Server, repeat: int) -> None:
    """Page images: the server's render alone, then the click-to-image time uncached and cached."""
    response = httpx.post(f"{server.url}/extract", files={"file": (HONGZE.name, HONGZE.read_bytes(), "application/pdf")},
                          data={"mode": "deterministic"}, timeout=120)
    response.raise_for_status()
    doc_id = response.json()["document"]["id"]
    review = httpx.get(f"{server.url}/documents/{doc_id}/review", timeout=30).json()
    boxed = [f for f in review["fields"] if f.get("box") and f["path"].startswith("applications.")]
    if len(boxed) < 2:
        print("the PDF's fields carry no boxes: no page-image figures")
        return
    first, second = boxed[0], next(f for f in boxed if f["box"]["page"] != boxed[0]["box"]["page"])
    renders = []
    for _ in range(repeat):
        start = time.perf_counter()
        png = httpx.get(f"{server.url}/documents/{doc_id}/pages/{first['box']['page']}.png",
                        params={"scale": 1.5}, timeout=30)
        png.raise_for_status()
        renders.append((time.perf_counter() - start) * 1000)
    print(f"{'GET page PNG (scale 1.5, rendered)':34} median {statistics.median(renders):7.1f} ms wall "
          f"(min {min(renders):6.1f}, max {max(renders):6.1f})   {len(png.content) // 1024} KiB   n={repeat}")
    cold, warm = [], []
    for _ in range(repeat):
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script(PROBE)
        page = context.new_page()
        page.goto(f"{server.url}/#/doc/{doc_id}")
        page.wait_for_selector("td.cell", state="visible", timeout=TIMEOUT_MS)
        cold.append(pdf_cell(page, first["path"]))
        pdf_cell(page, second["path"])
        warm.append(pdf_cell(page, first["path"]))
        context.close()
    line("click PDF cell → page + box (cold)", cold)
    line("click PDF cell → page + box (cached)", warm)


def batch_figures(browser: Any, server: Server, items: int, repeat: int) -> None:
    """A batch of `items` files (distinct junk, each refused on its own): GET /batches/{id} alone,
    and the batch page opened until its table is drawn (what the page redraws every second while
    a batch runs)."""
    files = [("file", (f"junk-{i:05d}.bin", bytes([0, 255, i % 256, i // 256 % 256]) * 64,
                       "application/octet-stream")) for i in range(items)]
    created = httpx.post(f"{server.url}/batches", files=files, timeout=600)
    created.raise_for_status()
    batch_id = created.json()["id"]
    deadline = time.monotonic() + 600
    while httpx.get(f"{server.url}/batches/{batch_id}", timeout=60).json()["status"] != "done":
        if time.monotonic() > deadline:
            print("the batch did not finish in 10 minutes: no batch figures")
            return
        time.sleep(0.5)
    gets = []
    for _ in range(repeat):
        start = time.perf_counter()
        view = httpx.get(f"{server.url}/batches/{batch_id}", timeout=60)
        view.raise_for_status()
        gets.append((time.perf_counter() - start) * 1000)
    print(f"{f'GET /batches/{{id}} ({items} items)':34} median {statistics.median(gets):7.1f} ms wall "
          f"(min {min(gets):6.1f}, max {max(gets):6.1f})   {len(view.content) // 1024} KiB   n={repeat}")
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    opens = []
    for _ in range(repeat):
        page.goto("about:blank")
        start = time.perf_counter()
        page.goto(f"{server.url}/#/batches/{batch_id}")
        page.wait_for_selector("#batch-summary[data-status='done']", timeout=TIMEOUT_MS)
        page.wait_for_selector("#batch-items tr.batch-item", timeout=TIMEOUT_MS)
        wall = (time.perf_counter() - start) * 1000
        opens.append((wall, page.evaluate("performance.now()")))
    context.close()
    line(f"open batch page ({items}) → table", opens)


def line(label: str, pairs: list[tuple[float, float]]) -> None:
    walls, insides = [w for w, _ in pairs], [i for _, i in pairs]
    print(f"{label:34} median {statistics.median(walls):7.1f} ms wall (min {min(walls):6.1f}, max {max(walls):6.1f})"
          f"   {statistics.median(insides):7.1f} ms in page   n={len(pairs)}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--batch-items", type=int, default=2000, help="files in the batch of the batch-page figure")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 200:
        parser.error("--repeat must be 1..200")
    chromium = shutil.which("chromium")
    if chromium is None:
        print("skipped: chromium is not installed (Debian package `chromium`)")
        return 1
    with tempfile.TemporaryDirectory(prefix="nianbao-uibench-") as tmp_name:
        tmp = Path(tmp_name)
        database_url = f"sqlite:///{tmp / 'ui.db'}"
        add_user(database_url, "bench", PASSWORD)
        with serve(database_url, tmp) as url:
            server = Server(url=url, database_url=database_url)
            for seed in seed_files():
                upload(server, seed)
            damaged = upload(server, damaged_copy(_seed_with_rows(), tmp / "damaged_report.txt"))
            review = httpx.get(f"{server.url}/documents/{damaged}/review", timeout=30).json()
            lows = [f for f in review["fields"] if f["level"] == "low" and f.get("span")]
            if len(lows) < 2:
                print(f"the damaged report read with {len(lows)} low cells with a span; `j` needs two")
                return 1
            print(f"{len(seed_files()) + 1} documents; the damaged one has {len(lows)} low cells, "
                  f"{len(review['fields'])} fields")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
                try:
                    context = browser.new_context(viewport=VIEWPORT)
                    context.add_init_script(PROBE)
                    page = context.new_page()
                    sign_in(page, server, "bench")
                    open_doc(page, server, damaged)  # warm: static files cached, first queries done
                    opens = [open_doc(page, server, damaged) for _ in range(args.repeat)]
                    next_low(page)
                    moves = [next_low(page) for _ in range(args.repeat)]
                    context.close()
                    line("open document → grid drawn", opens)
                    line("j → evidence shows the span", moves)
                    pdf_figures(browser, server, args.repeat)
                    batch_figures(browser, server, args.batch_items, args.repeat)
                finally:
                    browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
