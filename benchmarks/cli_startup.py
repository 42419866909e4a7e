"""Whole-process time of `nianbao extract FILE --json`, as figures (not asserted).

Run: .venv/bin/python benchmarks/cli_startup.py [--runs N] [FILE]
- median and p95 wall time of N runs of the command (hyperfine-style: one warm-up run first,
  so that Python's bytecode cache is written and the file is in the page cache), and the median
  CPU time (user + system) of the same runs: on a shared machine CPU time is the steadier
  figure; the load average is printed beside them;
- the import share: time spent importing modules (`python -X importtime`, top-level imports
  summed) over the wall time of that same run;
- the slowest top-level imports, to see what a change should go after;
- the floor no change to our code can go under: the interpreter plus pydantic (importing it and
  building a first model loads pydantic-core), once as any program pays it (plugin look-up,
  interpreter teardown at exit) and once started and ended as `nianbao extract` is
  (service.cli._lean_start, os._exit); and the time spent compiling regular expressions (ours
  and the libraries'), measured in one run;
- how the package is installed: the console script of an editable install (`pip install -e .`,
  as ./dev and the Docker image do) runs setuptools' import finder at start-up, ~10 ms of
  `python -c pass`, but nearly nothing of the command, which imports pathlib and importlib.util
  itself; the line says which install this run measured.

A CLI run's cost is mostly start-up: the reader itself takes a few ms of it. The target
(issue 10) is 0.15 s for one text report. With PYTHONDONTWRITEBYTECODE set, as in the Docker
image, every run compiles the project's sources again (about 50 ms); the benchmark clears it
so that the figure is an installed CLI's, and says so. `--as-is` keeps the environment.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "evals" / "docs" / "seeds" / "000_7d2da7d165fec642.txt"


def command(file: Path) -> list[str]:
    """The installed console script when there is one, else the module (same code path)."""
    script = Path(sys.executable).with_name("nianbao")
    if script.exists():
        return [str(script), "extract", str(file), "--json"]
    return [sys.executable, "-m", "service.cli", "extract", str(file), "--json"]


def run_once(cmd: list[str], env: dict[str, str]) -> float:
    return run_timed(cmd, env)[0]


def run_timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s of the child: user + system) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"cli_startup: the command failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def install_kind() -> str:
    """Which install of nianbao this interpreter imports: editable with setuptools' finder,
    editable as a plain path (.pth), or a regular (wheel) install."""
    for folder in map(Path, sys.path):
        if folder.is_dir() and any(folder.glob("__editable___nianbao*_finder.py")):
            return "editable install (setuptools' import finder runs at start-up)"
    import service

    if Path(service.__file__).resolve().is_relative_to(ROOT):
        return "editable install (a path in a .pth file) or the source tree"
    return "regular install"


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def import_profile(file: Path, env: dict[str, str]) -> tuple[float, float, list[tuple[float, str]]]:
    """(wall s, import s, [(s, module)] slowest top-level imports) of one `-X importtime` run."""
    cmd = [sys.executable, "-X", "importtime", "-m", "service.cli", "extract", str(file), "--json"]
    t = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - t
    top: list[tuple[float, str]] = []
    for line in done.stderr.decode().splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("  "):  # indented names are imported by another module
            top.append((int(cumulative) / 1e6, name.strip()))
    return wall, sum(s for s, _ in top), sorted(top, reverse=True)


PYDANTIC_FLOOR = "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int\nM(x=1)"
# The same, started and ended as `nianbao extract` is (importing service.cli: argparse, ~1 ms).
PYDANTIC_FLOOR_LEAN = ("import os, sys\nfrom service.cli import _lean_start\n_lean_start()\n" + PYDANTIC_FLOOR
                       + "\nsys.stdout.flush()\nos._exit(0)")

# Runs the command in-process with re's compiler timed (a measurement, not part of the service).
REGEX_PROBE = """
import re._compiler as rc, sys, time
spent = [0.0, 0]
compile_ = rc.compile
def timed(p, flags=0):
    t = time.perf_counter()
    try:
        return compile_(p, flags)
    finally:
        spent[0] += time.perf_counter() - t
        spent[1] += 1
rc.compile = timed
from service.cli import main
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    main(["extract", sys.argv[1], "--json"])
print(spent[0], spent[1], file=sys.stderr)
"""


def regex_compile_time(file: Path, env: dict[str, str]) -> tuple[float, int]:
    """(seconds, patterns) spent compiling regular expressions in one `extract` run."""
    done = subprocess.run([sys.executable, "-c", REGEX_PROBE, str(file)], env=env, capture_output=True,
                          text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"cli_startup: the regex probe failed: {done.stderr[-500:]}")
    seconds, count = done.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(count)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", default=str(DEFAULT_FILE))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--as-is", action="store_true", help="keep PYTHONDONTWRITEBYTECODE if it is set")
    args = ap.parse_args()
    file = Path(args.file)
    env = dict(os.environ)
    if not args.as_is and env.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
        print("(PYTHONDONTWRITEBYTECODE cleared: bytecode is cached as in a normal install; --as-is keeps it)")
    cmd = command(file)
    print(f"{Path(cmd[0]).name}: {install_kind()}; {load()}")
    run_once(cmd, env)  # warm-up: bytecode cache, page cache
    runs = [run_timed(cmd, env) for _ in range(args.runs)]
    times = sorted(wall for wall, _ in runs)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(f"nianbao extract {file.name} --json, {args.runs} runs: median {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, min {times[0] * 1000:.0f} ms  (target 150 ms); "
          f"CPU median {statistics.median(cpu for _, cpu in runs) * 1000:.0f} ms; {load()}")
    bare = sorted(run_once([sys.executable, "-c", "pass"], env) for _ in range(5))
    no_site = sorted(run_once([sys.executable, "-S", "-c", "pass"], env) for _ in range(5))
    print(f"python -c pass: median {statistics.median(bare) * 1000:.0f} ms (the interpreter's own start-up; "
          f"{statistics.median(no_site) * 1000:.0f} ms without site and its .pth files)")
    floor = sorted(run_once([sys.executable, "-c", PYDANTIC_FLOOR], env) for _ in range(5))
    print(f"python + pydantic and one model: median {statistics.median(floor) * 1000:.0f} ms "
          "(what any run of a command built on pydantic models pays)")
    lean = sorted(run_once([sys.executable, "-c", PYDANTIC_FLOOR_LEAN], env) for _ in range(5))
    print(f"  the same started and ended as nianbao extract: median {statistics.median(lean) * 1000:.0f} ms "
          "(no plugin look-up, no teardown at exit)")
    compiled, patterns = regex_compile_time(file, env)
    print(f"regular expressions compiled in one run: {patterns}, {compiled * 1000:.0f} ms "
          "(each class over the CJK range costs ~1 ms on Python 3.11)")
    wall, imports, top = import_profile(file, env)
    print(f"imports: {imports * 1000:.0f} ms of {wall * 1000:.0f} ms in a -X importtime run "
          f"({100 * imports / wall:.0f} %); slowest top-level imports:")
    for seconds, name in top[:8]:
        print(f"  {seconds * 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
