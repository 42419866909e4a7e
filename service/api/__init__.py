"""HTTP API (FastAPI): POST /extract, documents, extractions, health. Built by `create_app`."""
