"""Enrichment columns: one HTTP API call per row through a workspace account, run on Celery.

``models`` holds the column's request config, runs and per-cell results; ``pipeline`` is the
life of one cell, top to bottom; ``runs`` plans, cancels and watches runs; ``tasks`` are thin.
"""
