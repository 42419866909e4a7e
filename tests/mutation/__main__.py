"""The full damage census: `python -m tests.mutation [--n N] [--kinds ...] [--families ...] [--dump DIR]`.

Prints, per family × kind, how many mutants ran and how many of them had a wrong value at `high`,
a wrong value at `medium`, a destroyed cell neither null nor low, a path missing from the output,
a refusal or a crash; then a few failing examples per pair. Exit 1 if any value is wrong at `high`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.mutation import ALL_FAMILIES, Outcome, not_applicable, pairs, run_one
from tests.mutation.damage import KINDS

COLUMNS = ("mutants", "skipped", "wrong@high", "wrong@medium", "destroyed-not-low", "missing",
           "refused", "crashed", "clean-fail")


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))
    failures: list[Outcome] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome | None) -> None:
        c = self.counts
        if outcome is None:
            c["skipped"] += 1
            return
        c["mutants"] += 1
        self.outcomes.append(dataclasses.replace(outcome, data=b""))
        c["wrong@high"] += bool(outcome.wrong_high)
        c["wrong@medium"] += bool(outcome.wrong_medium)
        c["destroyed-not-low"] += bool(outcome.destroyed_not_low)
        c["missing"] += bool(outcome.missing)
        c["refused"] += bool(outcome.refused)
        c["crashed"] += bool(outcome.crashed)
        c["clean-fail"] += bool(outcome.baseline)
        if outcome.failed:
            self.failures.append(outcome)


def _work(unit: tuple[str, str, int]) -> tuple[str, str, Outcome | None]:
    family, kind, index = unit
    return family, kind, run_one(family, kind, index)


def census(units: list[tuple[str, str, int]], jobs: int) -> Iterator[tuple[str, str, Outcome | None]]:
    if jobs <= 1:
        yield from map(_work, units)
        return
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(_work, units, chunksize=8)


def dump(outcome: Outcome, target: Path) -> None:
    """The damaged file and a one-line JSON of what went wrong, side by side."""
    folder = target / outcome.family / outcome.kind
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(outcome.filename).suffix or ".txt"
    (folder / f"{outcome.name}{suffix}").write_bytes(outcome.data)
    (folder / f"{outcome.name}.json").write_text(json.dumps(outcome.to_json(), ensure_ascii=False) + "\n",
                                                 encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=30, help="mutants per family × kind (default 30)")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS, metavar="KIND")
    parser.add_argument("--families", nargs="+", default=list(ALL_FAMILIES), choices=ALL_FAMILIES,
                        metavar="FAMILY")
    parser.add_argument("--dump", type=Path, metavar="DIR", help="write failing mutants and their JSON here")
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes (default 1: the machine is shared; 2 halves the time)")
    parser.add_argument("--examples", type=int, default=2, help="failing examples printed per pair")
    args = parser.parse_args(argv)

    todo = pairs(args.families, args.kinds)
    tallies = {p: Tally() for p in todo}
    started = time.monotonic()
    for family, kind, outcome in census([(f, k, i) for f, k in todo for i in range(args.n)], args.jobs):
        tallies[(family, kind)].add(outcome)
    elapsed = time.monotonic() - started

    width = max(len(f"{f} {k}") for f, k in todo) + 2
    print(f"{'family kind':<{width}}" + "".join(f"{c:>{len(c) + 2}}" for c in COLUMNS))
    total = dict.fromkeys(COLUMNS, 0)
    for (family, kind), tally in tallies.items():
        print(f"{family + ' ' + kind:<{width}}" + "".join(f"{tally.counts[c]:>{len(c) + 2}}" for c in COLUMNS))
        for c in COLUMNS:
            total[c] += tally.counts[c]
    print(f"{'total':<{width}}" + "".join(f"{total[c]:>{len(c) + 2}}" for c in COLUMNS))
    for family in args.families:
        left_out: dict[str, list[str]] = {}
        for kind in args.kinds:
            if reason := not_applicable(family, kind):
                left_out.setdefault(reason, []).append(kind)
        for reason, kinds in left_out.items():
            print(f"not run: {family} × {', '.join(kinds)} ({reason})")
    print("counts are mutants with at least one such field; skipped = no cell the kind applies to was "
          "found; clean-fail = mutants with fields left unchecked because the undamaged report already "
          "fails them (tests/test_properties.py reports those)")
    unchecked = Counter(p for t in tallies.values() for o in t.outcomes for p in o.baseline)
    if unchecked:
        print("fields left unchecked most often: "
              + ", ".join(f"{p} ({n})" for p, n in unchecked.most_common(6)))
    print(f"{total['mutants']} mutants in {elapsed:.0f} s with {max(args.jobs, 1)} process(es)")

    examples = [(p, t.failures) for p, t in tallies.items() if t.failures]
    if examples:
        print("\nexamples (family kind [mutant; damage]: path: true value, value read (level)):")
    for _, failures in examples:
        for outcome in failures[: args.examples]:
            for line in outcome.lines()[:3]:
                print("  " + line)
    if args.dump:
        for _, failures in examples:
            for outcome in failures:
                dump(outcome, args.dump)
        print(f"\n{sum(len(f) for _, f in examples)} failing mutants written to {args.dump}")
    return 1 if total["wrong@high"] else 0


if __name__ == "__main__":
    sys.exit(main())
