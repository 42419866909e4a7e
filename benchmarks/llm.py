"""The model reader's cost and speed, measured against the TEST DOUBLE (tests/llm_double.py).

    .venv/bin/python benchmarks/llm.py [--reports 200] [--latency 0.2] [--concurrency 8]

1. Tokens sent per report (seeds + dev), against a naive call: the whole text and the flat
   field schema of every path of the report's template (prompts/v1/extract.md, one response
   model with one field per path). Both are counted the same way, on what goes over the wire
   (every message, plus the tool / response-format schema), with the stated estimate of
   service/model/tokens.py (one token per Chinese character, one per 4 other characters; no
   tokenizer files are available offline). Only first attempts are counted on both sides.
2. Throughput: N reports through the double answering after a fixed latency, with the configured
   concurrency limit, as a ratio of the ideal (calls × latency / concurrency).

The double answers from gold labels; nothing here is a model's answer or a model's speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import instructor  # noqa: E402
import openai  # noqa: E402
from pydantic import BaseModel, create_model  # noqa: E402

from service.config import Settings  # noqa: E402
from service.ingest import ingest  # noqa: E402
from service.model.client import MODES  # noqa: E402
from service.model.prompts import render_prompt  # noqa: E402
from service.model.reader import read_with_model  # noqa: E402
from service.model.schema import _VALUE_TYPES  # noqa: E402
from service.model.tokens import estimate_tokens  # noqa: E402
from service.read import read_document  # noqa: E402
from service.readings import SectionReading  # noqa: E402
from service.templates import catalog  # noqa: E402
from tests.llm_double import LLMDouble, Reply, Request, gold_script  # noqa: E402

SETS = (("seeds", ROOT / "evals/docs/seeds", ROOT / "evals/gold/seeds"),
        ("dev", ROOT / "evals/docs/dev", ROOT / "evals/gold/dev"))


def sent_tokens(req: Request) -> int:
    """What a request puts in front of the model: messages and the schema it carries."""
    extra = {k: req.body[k] for k in ("tools", "response_format") if k in req.body}
    return estimate_tokens(req.text + (json.dumps(extra, ensure_ascii=False) if extra else ""))


def flat_model(template: str) -> type[BaseModel]:
    """The naive schema: one field per catalog path of the template."""
    fields: dict[str, Any] = {
        f.path.replace(".", "__"): (_VALUE_TYPES[f.type], None) for f in catalog() if template in f.templates
    }
    model: type[BaseModel] = create_model("AllFields", **fields)
    return model


class Report:
    def __init__(self, name: str, doc_path: Path, gold_path: Path) -> None:
        self.name = name
        self.doc = ingest(doc_path.read_bytes(), doc_path.name)
        self.sections: list[SectionReading] = read_document(self.doc)
        self.template = str(self.sections[0].facts["template"])
        self.gold: dict[str, Any] = json.loads(gold_path.read_text("utf-8"))["fields"]


def load() -> list[Report]:
    out = []
    for set_name, docs, golds in SETS:
        for gold in sorted(golds.glob("*.json")):
            doc = next(p for p in docs.iterdir() if p.stem == gold.stem)
            out.append(Report(f"{set_name}/{doc.name}", doc, gold))
    return out


def tokens(reports: list[Report], mode: str) -> None:
    print(f"1. tokens sent per report (instructor mode {mode}; estimate: 1/Chinese char, 1 per 4 other chars)")
    print(f"   {'report':40} {'all':>6} {'doubtful':>8} {'naive':>6} {'all/naive':>9}")
    ratios = []
    for r in reports:
        counts: dict[str, int] = {}
        for scope in ("all", "doubtful"):
            with LLMDouble(gold_script(r.gold, r.template, r.doc.text)) as d:
                s = Settings(llm_base_url=d.base_url, llm_model="test-double", llm_cache_dir="",
                             llm_instructor_mode=mode)  # type: ignore[arg-type]
                read_with_model(r.doc, r.sections, settings=s, scope=scope)
                counts[scope] = sum(sent_tokens(q) for q in d.requests)
        with LLMDouble([Reply(payload={})]) as d:
            prompt = render_prompt(r.doc.text, r.template)
            client = instructor.from_openai(openai.OpenAI(base_url=d.base_url, api_key="x", max_retries=0),
                                            mode=MODES[mode])
            client.chat.completions.create(
                model="test-double", response_model=flat_model(r.template), max_retries=0,
                messages=[{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}])
            naive = sent_tokens(d.requests[0])
        ratios.append(counts["all"] / naive)
        print(f"   {r.name:40} {counts['all']:>6} {counts['doubtful']:>8} {naive:>6} {counts['all'] / naive:>9.1%}")
    print(f"   mean all/naive {sum(ratios) / len(ratios):.1%}, worst {max(ratios):.1%} (target ≤ 40%)")


def throughput(reports: list[Report], n: int, latency: float, concurrency: int, mode: str) -> None:
    scripts = {r.name: gold_script(r.gold, r.template, r.doc.text) for r in reports}
    by_doc: dict[str, str] = {}

    def answer(req: Request) -> Reply:
        """The gold answer, sent `latency` seconds after the request arrived (its own work included)."""
        name = by_doc[next(k for k in by_doc if k in req.text)]
        reply = scripts[name](req)
        time.sleep(max(0.0, latency - (time.monotonic() - req.at)))
        return reply

    # the double recognises each report by the start of each region it sends (its answer needs the gold)
    for r in reports:
        for sec in r.sections:
            if sec.span is not None and sec.section != "meta":
                by_doc[r.doc.text[sec.span[0]:min(sec.span[1], sec.span[0] + 200)].strip()] = r.name
        by_doc[r.doc.text[:100].strip()] = r.name
    batch = [reports[i % len(reports)] for i in range(n)]
    with LLMDouble(answer) as d:
        s = Settings(llm_base_url=d.base_url, llm_model="test-double", llm_cache_dir="",
                     llm_concurrency=concurrency, llm_instructor_mode=mode)  # type: ignore[arg-type]
        read_with_model(reports[0].doc, reports[0].sections, settings=s, scope="all")  # warm: imports, client
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency * 2) as pool:
            runs = list(pool.map(lambda r: read_with_model(r.doc, r.sections, settings=s, scope="all"), batch))
        elapsed = time.perf_counter() - started
    calls = sum(run.calls for run in runs)
    failures = sum(len(run.failures) for run in runs)
    ideal = calls * latency / concurrency
    print(f"2. throughput: {n} reports, {calls} calls, latency {latency * 1000:.0f} ms, concurrency {concurrency}, "
          f"mode {mode}")
    print(f"   elapsed {elapsed:.2f} s, ideal {ideal:.2f} s, ratio {ideal / elapsed:.2f} of ideal "
          f"(target ≥ 0.9); failures {failures}; {n / elapsed:.1f} reports/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--mode", default="tools", choices=["tools", "json_schema", "md_json"])
    args = ap.parse_args()
    reports = load()
    tokens(reports, args.mode)
    throughput(reports, args.reports, args.latency, args.concurrency, args.mode)


if __name__ == "__main__":
    main()
