"""``manage.py add_http_column``: the "Add enrichment → HTTP API" panel, from a file (the
``http_api`` kind of ``add_column``)."""

from __future__ import annotations

from enrich.enrichment.management.commands.add_column import Command as AddColumn


class Command(AddColumn):
    help = (
        'Add an HTTP API enrichment column. FILE is JSON: {"request": {...request config...}, '
        '"account": "name", "token_location": …, "token_type": …, "auth_header_name": …, '
        '"only_run_if": "row.email", "auto_update": false}.'
    )
