"""Datasets, canonical tables, index vocabularies and splits."""
