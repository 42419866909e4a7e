"""Response times of the review API and the exports over many stored documents.

Run: .venv/bin/python benchmarks/review_api.py [--docs N] [--database-url URL]

The seed reports are read once; N documents are stored as copies of them under distinct ids
(the pipeline's cost is not what this measures), a share of their fields reviewed, then each
endpoint is timed (best of 3). Prints one line per endpoint: milliseconds and response bytes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import Session  # noqa: E402

from service.api.app import create_app  # noqa: E402
from service.auth import create_token, create_user  # noqa: E402
from service.config import Settings  # noqa: E402
from service.pipeline import extract_bytes  # noqa: E402
from service.store import crud  # noqa: E402


def _store_copies(session: Session, count: int) -> list[str]:
    seeds = sorted((ROOT / "evals" / "docs" / "seeds").glob("*.txt"))
    read = [extract_bytes(p.read_bytes(), p.name, mode="deterministic") for p in seeds]
    ids = []
    for i in range(count):
        doc, extraction = read[i % len(read)]
        sha = uuid.uuid4().hex * 2
        copy_doc = doc.model_copy(update={"sha256": sha, "filename": f"copy{i}_{doc.filename}"})
        copy = extraction.model_copy(deep=True)
        copy.document.id, copy.document.sha256, copy.document.filename = copy_doc.id, sha, copy_doc.filename
        copy.extraction.id = "ext_" + uuid.uuid4().hex[:16]
        crud.save_extraction(session, copy_doc, copy)
        ids.append(copy_doc.id)
    return ids


def _time(client: TestClient, method: str, url: str, headers: dict[str, str] | None = None) -> tuple[float, int]:
    """Best of three; a PATCH writes versions 0, 1, 2 of the field (each one a fresh save)."""
    best, size = float("inf"), 0
    for version in range(3):
        body = {"action": "blank", "version": version} if method == "PATCH" else None
        start = time.perf_counter()
        response = client.request(method, url, headers=headers, json=body)
        best = min(best, time.perf_counter() - start)
        assert response.status_code < 400, (url, response.status_code, response.text[:200])
        size = len(response.content)
    return best * 1000, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        app = create_app(Settings.model_validate({"DATABASE_URL": url, "llm_base_url": None}))
        with TestClient(app) as client:
            with Session(app.state.engine) as session:
                started = time.perf_counter()
                ids = _store_copies(session, args.docs)
                stored_s = time.perf_counter() - started
                create_user(session, "bench", "bench-password", "reviewer")
                token = create_token(session, "bench")
            auth = {"Authorization": f"Bearer {token}"}
            reviewed = 0
            for doc in ids[: max(1, len(ids) // 10)]:
                for field in client.get(f"/documents/{doc}/review").json()["fields"][:20]:
                    client.patch(f"/documents/{doc}/fields/{field['path']}", headers=auth,
                                 json={"action": "accept", "version": 0})
                    reviewed += 1
            print(f"{len(ids)} documents stored in {stored_s:.1f} s ({stored_s / len(ids) * 1000:.1f} ms per "
                  f"extraction with its fields and findings), {reviewed} fields reviewed ({url.split(':')[0]})")
            checks = [
                ("GET", "/documents?sort=low&order=desc&per_page=50"),
                ("GET", "/documents?finding_kind=sum_mismatch&status=to_review"),
                ("GET", f"/documents/{ids[0]}/review"),
                ("GET", "/review/queue?limit=50"),
                ("GET", "/schemas/grid?template=2021"),
                ("PATCH", f"/documents/{ids[-1]}/fields/meta.issuer"),
                ("GET", "/exports/csv?shape=long"),
                ("GET", "/exports/csv?shape=wide"),
                ("GET", "/exports/parquet?shape=long"),
                ("GET", "/exports/xlsx?shape=wide"),
            ]
            for method, path in checks:
                ms, size = _time(client, method, path, auth if method == "PATCH" else None)
                print(f"{method:5} {path:60} {ms:9.1f} ms  {size:>10} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
