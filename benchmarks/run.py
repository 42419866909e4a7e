"""Speed and memory of the deterministic path, printed as figures (not asserted).

Run: .venv/bin/python benchmarks/run.py [--repeat N]
- time per report over the seeds and the dev reports;
- growth with report length: a seed padded to 2×, 5× and 10× its length (prose repeated), with
  the time per character against the unpadded report (linear: stays near 1);
- time per format (text, HTML, DOCX, PDF) from the generated corpus, and the medians against the
  targets of issue 10 (text ≤ 5 ms, PDF with a text layer ≤ 100 ms per report);
- the worst glued row we generate (long numbers, one digit run per row).

Times are medians of `--repeat` runs in one warm process, settings read once (as the CLI and the
service do); the machine's other load shows in them, so compare figures taken together.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.config import get_settings  # noqa: E402
from service.pipeline import extract_bytes  # noqa: E402

SETTINGS = get_settings()
TEXT_TARGET_MS = 5.0
PDF_TARGET_MS = 100.0


def extract(data: bytes, name: str) -> object:
    return extract_bytes(data, name, settings=SETTINGS)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall time in ms, and peak traced memory in MB of one run."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak / 1e6


def row(label: str, ms: float, mb: float, extra: str = "") -> None:
    print(f"{label:44} {ms:9.1f} ms  peak {mb:6.1f} MB  {extra}")


def padded(text: str, factor: int) -> str:
    """Repeat the prose paragraphs before the tables until the report is `factor` times as long."""
    head = text.index("二、") if "二、" in text else len(text) // 2
    prose, rest = text[:head], text[head:]
    copies = max(1, round((factor * len(text) - len(rest)) / len(prose)))
    return prose * copies + rest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    r = args.repeat

    print("== real reports (deterministic path, ingest → reconcile) ==")
    per_doc = []
    text_ms: list[float] = []  # the targets' two medians: real and generated reports together
    pdf_ms: list[float] = []
    for path in sorted((ROOT / "evals" / "docs").glob("*/*")):
        data = path.read_bytes()
        ms, mb = timed(lambda d=data, n=path.name: extract(d, n), r)
        per_doc.append(ms)
        (pdf_ms if path.suffix == ".pdf" else text_ms).append(ms)
        row(f"{path.parent.name}/{path.name}", ms, mb, f"{len(data) / 1024:.0f} KiB")
    print(f"{'mean per report':44} {statistics.mean(per_doc):9.1f} ms")

    print("\n== growth with report length (seed 000, prose repeated; linear: time/char ratio stays ≤ ~1) ==")
    seed = next((ROOT / "evals" / "docs" / "seeds").glob("000_*.txt")).read_text("utf-8")
    base: tuple[float, int] | None = None
    for factor in (1, 2, 5, 10):
        text = padded(seed, factor)
        ms, mb = timed(lambda t=text: extract(t.encode(), "r.txt"), r)
        base = base or (ms, len(text))
        size = len(text) / base[1]
        row(f"length ×{size:.1f} ({len(text)} chars)", ms, mb,
            f"{ms / base[0]:.2f}× the time of ×1; time/char {ms / base[0] / size:.2f}× ×1's")

    from tests.corpus.render import FAMILIES, render
    from tests.corpus.values import generate_values

    print("\n== per format (generated corpus, the same values in every family) ==")
    values = generate_values(random.Random(7), "2021", other_subrows=True)
    for family in FAMILIES:
        data, name = render(values, "2021", family, seed=7)
        ms, mb = timed(lambda d=data, n=name: extract(d, n), r)
        row(f"{family} ({name})", ms, mb, f"{len(data) / 1024:.0f} KiB")
        (pdf_ms if name.endswith(".pdf") else text_ms if name.endswith((".txt", ".md")) else []).append(ms)
    print(f"{'median, text reports (real + generated)':44} {statistics.median(text_ms):9.1f} ms  "
          f"(target ≤ {TEXT_TARGET_MS:g} ms, {len(text_ms)} reports)")
    print(f"{'median, PDF reports with a text layer':44} {statistics.median(pdf_ms):9.1f} ms  "
          f"(target ≤ {PDF_TARGET_MS:g} ms, {len(pdf_ms)} reports)")

    print("\n== worst glued rows we generate (large counts in every column) ==")
    worst: tuple[float, float, str] | None = None
    for seed in range(40):
        vals = generate_values(random.Random(seed), "2021", other_subrows=True)
        data, name = render(vals, "2021", "glued", seed=seed)
        t = time.perf_counter()
        _, ex = extract_bytes(data, name, settings=SETTINGS)
        ms = (time.perf_counter() - t) * 1000
        if worst is None or ms > worst[0]:
            low = sum(1 for f in ex.fields if f.level == "low")
            worst = (ms, float(low), f"seed {seed}")
    assert worst is not None
    ms, low, what = worst
    print(f"{'slowest of 40 glued reports':44} {ms:9.1f} ms  ({what}; {int(low)} low fields)")
    from service.parse.solve import split_run

    long_run = "98765" + "43210" * 6 + "1"  # a 36-digit glued row, no plausible split
    t = time.perf_counter()
    res = split_run(long_run, 7, groups=[(6, list(range(6)))])
    ms = (time.perf_counter() - t) * 1000
    print(f"{'split search, 36-digit row, row total':44} {ms:9.1f} ms  ({len(res.splits)} readings, "
          f"budget exhausted={res.truncated}: the cells come back low)")


if __name__ == "__main__":
    main()
