"""Batches: many files read, stored and accounted for (issue 10).

- `sources`: paths, folders, globs and `.zip` archives → the files of a batch, each within the
  upload limits (a zip member is inflated through a counted stream, never past the limit).
- `store`: the `batch` / `batch_item` rows, the one place an item's status changes, and the
  exactly-once rule (one extraction per sha256 + reader version, see `version`).
- `work`: one item end to end (claim, read, store, record), both engines through `do_item`:
  whole in a reader process of the pool (its own engine), the caller only waiting for it.
- `runner`: the embedded engine (SQLite or any store): a window of items in flight on the
  process pool.
- `queue`: the engine past one machine (PostgreSQL): Procrastinate jobs, `nianbao worker`; the
  worker dispatches the jobs to its reader processes and records them done.
- `cli`: `nianbao batch` and `nianbao worker`.
"""
