"""Batches: many files read, stored and accounted for (issue 10).

- `sources`: paths, folders, globs and `.zip` archives → the files of a batch, each within the
  upload limits (a zip member is inflated through a counted stream, never past the limit).
- `store`: the `batch` / `batch_item` rows, the one place an item's status changes, and the
  exactly-once rule (one extraction per sha256 + reader version, see `version`).
- `work`: one item end to end (claim, read in the worker pool, store); both engines call it.
- `runner`: the embedded engine (SQLite or any store): items read on the process pool, stored
  by the parent.
- `queue`: the engine past one machine (PostgreSQL): Procrastinate jobs, `nianbao worker`.
- `cli`: `nianbao batch` and `nianbao worker`.
"""
