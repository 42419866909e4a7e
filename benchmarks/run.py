"""Speed and memory of the deterministic path, printed as figures (not asserted).

Run: .venv/bin/python benchmarks/run.py [--repeat N]
- time per report over the seeds and the dev reports;
- growth with report length: a seed padded to 2×, 5× and 10× its prose;
- time per format (text, HTML, DOCX, PDF) from the generated corpus;
- the worst glued row we generate (long numbers, one digit run per row).
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

from service.pipeline import extract_bytes  # noqa: E402


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
    """Repeat the prose paragraphs before the tables so the report grows `factor` times."""
    head = text.index("二、") if "二、" in text else len(text) // 2
    prose, rest = text[:head], text[head:]
    return prose * factor + rest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    r = args.repeat

    print("== real reports (deterministic path, ingest → reconcile) ==")
    per_doc = []
    for path in sorted((ROOT / "evals" / "docs").glob("*/*")):
        data = path.read_bytes()
        ms, mb = timed(lambda d=data, n=path.name: extract_bytes(d, n), r)
        per_doc.append(ms)
        row(f"{path.parent.name}/{path.name}", ms, mb, f"{len(data) / 1024:.0f} KiB")
    print(f"{'mean per report':44} {statistics.mean(per_doc):9.1f} ms")

    print("\n== growth with report length (seed 000, prose repeated) ==")
    seed = next((ROOT / "evals" / "docs" / "seeds").glob("000_*.txt")).read_text("utf-8")
    base = None
    for factor in (1, 2, 5, 10):
        text = padded(seed, factor)
        ms, mb = timed(lambda t=text: extract_bytes(t.encode(), "r.txt"), r)
        base = base or ms
        row(f"prose ×{factor} ({len(text)} chars)", ms, mb, f"{ms / base:.2f}× the time of ×1")

    from tests.corpus.render import FAMILIES, render
    from tests.corpus.values import generate_values

    print("\n== per format (generated corpus, the same values in every family) ==")
    values = generate_values(random.Random(7), "2021", other_subrows=True)
    for family in FAMILIES:
        data, name = render(values, "2021", family, seed=7)
        ms, mb = timed(lambda d=data, n=name: extract_bytes(d, n), r)
        row(f"{family} ({name})", ms, mb, f"{len(data) / 1024:.0f} KiB")

    print("\n== worst glued rows we generate (large counts in every column) ==")
    worst: tuple[float, float, str] | None = None
    for seed in range(40):
        vals = generate_values(random.Random(seed), "2021", other_subrows=True)
        data, name = render(vals, "2021", "glued", seed=seed)
        t = time.perf_counter()
        _, ex = extract_bytes(data, name)
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
