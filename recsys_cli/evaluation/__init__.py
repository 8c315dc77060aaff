"""Evaluation: per-user metric tables, paired significance tests and their reports."""
