"""Record the model runs CI replays: the TEST DOUBLE answering right from gold, not a model.

For each gold document of a set, a test double of a chat-completions server (tests/llm_double.py)
is started with answers built from that document's gold labels, the real model reader
(openai + instructor over HTTP) asks it about every table and the prose (scope "all"), and the
ModelRun is saved where `nianbao eval --replay` reads it: evals/recorded/<set>/<prompt>/<doc>.json.

    .venv/bin/python evals/recorded/make_recorded.py            # seeds and dev, prompt v1
    .venv/bin/python evals/recorded/make_recorded.py dev --prompt v2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from service.config import Settings  # noqa: E402
from service.evaluate import save_run  # noqa: E402
from service.ingest import ingest  # noqa: E402
from service.pipeline import default_reader  # noqa: E402
from service.read import read_document  # noqa: E402
from tests.llm_double import LLMDouble, gold_script  # noqa: E402


def record(name: str, version: str, out: Path) -> int:
    gold_dir, docs_dir = REPO / "evals" / "gold" / name, REPO / "evals" / "docs" / name
    count = 0
    for gold_path in sorted(gold_dir.glob("*.json")):
        gold = json.loads(gold_path.read_text("utf-8"))
        doc_path = docs_dir / gold["document"]
        data = doc_path.read_bytes()
        doc = ingest(data, doc_path.name)
        sections = read_document(doc)  # what the pipeline hands the model reader
        with LLMDouble(gold_script(gold["fields"], gold["fields"]["meta.template"], doc.text)) as double:
            settings = Settings(llm_base_url=double.base_url, llm_model="test-double", llm_api_key="none",
                                llm_cache_dir="", llm_instructor_mode="tools")
            recorded = default_reader(settings, "all", version)(doc, sections)
        run = recorded.model_copy(update={"latency_ms": 0.0})  # timings would churn the diff
        save_run(out / name, version, gold["document"], run)
        print(f"{name}/{version}/{gold['document']}: {run.calls} calls, {len(run.readings)} values, "
              f"failures {run.failures}")
        count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", default=["seeds", "dev"])
    parser.add_argument("--prompt", default="v1")
    args = parser.parse_args()
    for name in args.sets:
        record(name, args.prompt, Path(__file__).resolve().parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
