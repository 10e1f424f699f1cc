"""Evaluation: evidence records, statistics, bundled proxy tasks, and the Inspect runner."""
