"""Cost of every pathological input (tests/pathological.py), each alone in a fresh process.

Run: .venv/bin/python benchmarks/pathological.py [KIND ...] [--timeout S]

Each kind is generated here, written to a temporary file, and read by a child process through
`service.pipeline.extract_bytes`, so the peak memory printed is that input's alone (the child's
VmHWM, which includes the ~100 MB of imported libraries, shown as `base`). Prints per kind: the
outcome (read, or refused with its reason code), CPU and wall seconds, peak RSS; a kind over
2 s CPU or 500 MB, or one that crashed or timed out, is flagged and makes the exit status 1.
The child runs under an address-space limit so that a bomb cannot take the machine down.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CPU_LIMIT_S = 2.0
MEMORY_LIMIT_MB = 500.0
CHILD_ADDRESS_SPACE = 4 << 30  # bytes: a runaway child gets MemoryError, not the OOM killer


def _peak_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: str, filename: str) -> None:
    """Read one input and print one JSON line: outcome, cpu, wall, peak and base memory."""
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))
    import service.ingest.docx  # noqa: F401  (imports first: they are not the input's cost)
    import service.ingest.pdf  # noqa: F401
    from service.errors import NianbaoError
    from service.pipeline import extract_bytes

    data = Path(path).read_bytes()
    base = _peak_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        _, extraction = extract_bytes(data, filename)
        low = sum(1 for f in extraction.fields if f.level == "low")
        outcome = f"read ({len(extraction.fields)} fields, {low} low)"
    except NianbaoError as exc:
        outcome = f"refused {exc.status_code} {exc.code}: {exc.message_en[:70]}"
    except MemoryError:
        outcome = f"CRASH MemoryError (over the {CHILD_ADDRESS_SPACE >> 30} GB address-space limit)"
    except Exception as exc:  # the point of the benchmark is to see these
        outcome = f"CRASH {type(exc).__name__}: {str(exc)[:60]}"
    result = {
        "outcome": outcome,
        "cpu": time.process_time() - cpu,
        "wall": time.perf_counter() - wall,
        "peak": _peak_mb(),
        "base": base,
    }
    print(json.dumps(result))


def run_kind(name: str, timeout: float) -> dict[str, object]:
    from tests.pathological import KINDS

    data, filename = KINDS[name]()
    with tempfile.NamedTemporaryFile(suffix="-" + filename) as handle:
        handle.write(data)
        handle.flush()
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--child", handle.name, filename],
                capture_output=True, text=True, timeout=timeout, cwd=ROOT,
            )
        except subprocess.TimeoutExpired:
            return {"outcome": f"TIMEOUT after {timeout:.0f} s", "cpu": None, "wall": time.perf_counter() - started,
                    "peak": None, "base": None, "size": len(data)}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"outcome": f"CRASH exit {done.returncode}: {last[:80]}", "cpu": None,
                "wall": time.perf_counter() - started, "peak": None, "base": None, "size": len(data)}
    result: dict[str, object] = json.loads(lines[-1])
    result["size"] = len(data)
    return result


def _over(result: dict[str, object]) -> list[str]:
    flags = []
    cpu, peak, outcome = result["cpu"], result["peak"], str(result["outcome"])
    if isinstance(cpu, float) and cpu > CPU_LIMIT_S:
        flags.append(f"CPU>{CPU_LIMIT_S:g}s")
    if isinstance(peak, float) and peak > MEMORY_LIMIT_MB:
        flags.append(f"RSS>{MEMORY_LIMIT_MB:g}MB")
    if outcome.startswith(("CRASH", "TIMEOUT")):
        flags.append(outcome.split()[0])
    return flags


def _num(value: object, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, float | int) else "-"


def main() -> int:
    if len(sys.argv) >= 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return 0
    from tests.pathological import KINDS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kinds", nargs="*", help=f"default: every kind ({', '.join(KINDS)})")
    ap.add_argument("--timeout", type=float, default=120.0, help="wall seconds per kind before it is killed")
    args = ap.parse_args()
    unknown = [k for k in args.kinds if k not in KINDS]
    if unknown:
        ap.error(f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    print(f"limits: {CPU_LIMIT_S:g} s CPU, {MEMORY_LIMIT_MB:g} MB peak RSS per input "
          f"(pid {os.getpid()}; children limited to {CHILD_ADDRESS_SPACE >> 30} GB address space)")
    print(f"{'kind':22} {'input':>9} {'cpu s':>7} {'wall s':>7} {'peak MB':>8} {'base MB':>8}  outcome")
    flagged = []
    for name in args.kinds or list(KINDS):
        result = run_kind(name, args.timeout)
        flags = _over(result)
        if flags:
            flagged.append(name)
        size = int(str(result["size"]))
        shown = f"{size / 1024:.0f}K" if size < 1 << 20 else f"{size / (1 << 20):.1f}M"
        print(f"{name:22} {shown:>9} {_num(result['cpu'], '7.2f')} {_num(result['wall'], '7.2f')} "
              f"{_num(result['peak'], '8.0f')} {_num(result['base'], '8.0f')}  {result['outcome']}"
              + (f"  <-- {' '.join(flags)}" if flags else ""), flush=True)
    print(f"\n{len(flagged)} of {len(args.kinds or KINDS)} kinds over a limit"
          + (f": {', '.join(flagged)}" if flagged else ""))
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
