"""Wide CSV files through the web import, on a throw-away SQLite database.

    python benchmarks/wide_csv.py [--rows 100]

Times, as a signed-in user posting the upload form: a 10,000-column file until its clear
refusal, a 900 KB header of one repeated name until its refusal, a file of exactly
``ENRICH_MAX_COLUMNS`` (500) columns into a new table until it is imported, and the mapping
page of that file into a table that already has 500 columns. Prints figures only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wide(columns: int, rows: int) -> bytes:
    header = ",".join(f"c{number}" for number in range(columns))
    line = ",".join("v" for _ in range(columns))
    return (header + "\n" + (line + "\n") * rows).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100, help="Rows of the 500-column file.")
    options = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="enrich-bench-wide-")
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        ENRICH_VAR_DIR=folder,
        ENRICH_MEDIA_ROOT=str(Path(folder) / "media"),
        DJANGO_SETTINGS_MODULE="enrich.settings",
        ENRICH_CSV_INLINE_MAX_KB=str(100 * 1024),  # every file imports within the request
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from accounts.workspaces import workspace_create
    from enrich.models import Column, Table

    call_command("migrate", verbosity=0)
    settings.ALLOWED_HOSTS = ["*"]
    user = get_user_model().objects.create_user(username="bench", password="bench-password")
    workspace_create(name="Bench", owner=user)
    client = Client()
    client.force_login(user)
    limit = settings.ENRICH_MAX_COLUMNS

    def post(data: bytes, name: str) -> tuple[float, int, bytes, str]:
        upload = SimpleUploadedFile(name, data, content_type="text/csv")
        started = time.perf_counter()
        answer = client.post(reverse("import_new_table"), {"file": upload})
        seconds = time.perf_counter() - started
        location = answer.get("Location", "")
        page = client.get(location) if location == reverse("import_new_table") else answer
        return seconds, page.status_code, page.content, location

    cases = [
        ("10,000 columns (refused)", wide(10_000, 1)),
        ("900 KB header of one name (refused)", (",".join(["name"] * 184_320) + "\n").encode()),
        (f"{limit} columns x {options.rows} rows (imported)", wide(limit, options.rows)),
    ]
    location = ""
    for label, data in cases:
        seconds, status, content, location = post(data, "wide.csv")
        refused = b"ENRICH_MAX_COLUMNS" in content
        print(
            f"{label:<42} {len(data) / 1024:8.0f} KB  {seconds * 1000:8.0f} ms  "
            f"HTTP {status}{'  refused: names the limit' if refused else ''}",
            flush=True,
        )
    table = Table.objects.get(workspace__name="Bench")
    print(f"  columns made: {Column.objects.filter(table=table).count():,}", flush=True)
    started = time.perf_counter()
    page = client.get(location)
    seconds = time.perf_counter() - started
    print(
        f"{'its table page (the grid)':<42} {len(page.content) / 1024:8.0f} KB  "
        f"{seconds * 1000:8.0f} ms  HTTP {page.status_code}",
        flush=True,
    )

    upload = SimpleUploadedFile("again.csv", wide(limit, 5), content_type="text/csv")
    client.post(reverse("import_into_table", args=[table.pk]), {"file": upload})
    job = table.import_jobs.order_by("-pk").first()
    started = time.perf_counter()
    page = client.get(reverse("import_detail", args=[job.pk]))
    seconds = time.perf_counter() - started
    print(
        f"{'mapping page, ' + str(limit) + ' headers x ' + str(limit) + ' columns':<42} "
        f"{len(page.content) / 1024:8.0f} KB  {seconds * 1000:8.0f} ms  HTTP {page.status_code}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
