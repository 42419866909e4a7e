"""Parse stage: deterministic readers of tables and prose."""
