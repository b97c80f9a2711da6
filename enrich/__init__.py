"""Enrich: spreadsheet-style enrichment of rows through any HTTP API."""

from enrich.celery import app as celery_app

__all__ = ("celery_app",)
