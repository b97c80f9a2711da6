"""CSV import/export speed and export memory, against plain pandas, on SQLite and PostgreSQL.

    python benchmarks/csv_io.py [--rows 100000] [--columns 20] [--memory-rows 100000,1000000]
                                [--databases sqlite,postgres]

Each database runs in child processes of its own (Django's settings are fixed per process)
on a throw-away database: SQLite in a temporary folder, PostgreSQL ``enrich_bench`` on
127.0.0.1 (created and dropped here; skipped when PostgreSQL doesn't answer). One child times
the import and export against pandas; a fresh one then measures the export's memory, so the
pandas baselines (which hold the whole table) can't hide it in the process's high-water mark.
Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
POSTGRES_NAME = "enrich_bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="Rows to import and export.")
    parser.add_argument("--columns", type=int, default=20, help="Columns of the CSV.")
    parser.add_argument(
        "--memory-rows",
        default="100000,1000000",
        help="Table sizes at which to measure the export's peak memory (comma-separated).",
    )
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite, postgres or both.")
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    parser.add_argument("--part", choices=["speed", "memory"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        return run_memory(options) if options.part == "memory" else run_speed(options)

    status = 0
    for database in options.databases.split(","):
        print(f"\n## {database}", flush=True)
        with tempfile.TemporaryDirectory(prefix="enrich-bench-") as folder:
            env = os.environ.copy()
            env.pop("REDIS_URL", None)
            env.update(
                ENRICH_VAR_DIR=folder,
                ENRICH_MEDIA_ROOT=str(Path(folder) / "media"),
                ENRICH_CSV_MAX_ROWS=str(10**8),
                DJANGO_SETTINGS_MODULE="enrich.settings",
            )
            if database == "postgres":
                if not postgres_create():
                    print("PostgreSQL is not reachable on 127.0.0.1:5432; skipped.")
                    continue
                env["DATABASE_URL"] = f"{POSTGRES_SERVER}/{POSTGRES_NAME}"
            else:
                env.pop("DATABASE_URL", None)
            try:
                for part in ("speed", "memory"):
                    result = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            *sys.argv[1:],
                            "--child",
                            database,
                            "--part",
                            part,
                        ],
                        cwd=ROOT,
                        env=env,
                        check=False,
                    )
                    status |= result.returncode
                    if result.returncode:
                        break
            finally:
                if database == "postgres":
                    postgres_drop()
    return status


def postgres_admin(statement: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(
            f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=3
        ) as db:
            db.execute(statement)
    except Exception as error:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        print(f"({error.__class__.__name__}: {error})".strip())
        return False
    return True


def postgres_create() -> bool:
    postgres_drop()
    return postgres_admin(f"CREATE DATABASE {POSTGRES_NAME}")


def postgres_drop() -> None:
    postgres_admin(f"DROP DATABASE IF EXISTS {POSTGRES_NAME} WITH (FORCE)")


# --- In the child process: Django is set up on the throw-away database ---------------------


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def run_speed(options: argparse.Namespace) -> int:
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    rows, columns = options.rows, options.columns
    data = make_csv(rows, columns)
    print(f"{rows:,} rows x {columns} columns, {len(data) / 1e6:.1f} MB of CSV", flush=True)

    with CpuSplit() as split:
        seconds, table = enrich_import(data)
    report("import  Enrich (csv_import)", rows, seconds, note=split.note)
    seconds, _ = timed_export(table)
    report("export  Enrich (streamed CSV)", rows, seconds)
    peak, _ = export_traced_peak(table)
    print(f"export  Python allocations at peak, {rows:,} rows: {peak / 1e6:.1f} MB", flush=True)
    report("import  pandas.read_csv + bulk_create (ORM)", rows, pandas_import_orm(data))
    report(
        f"import  pandas.read_csv + to_json + {fast_insert_name()}", rows, pandas_import_fast(data)
    )
    report("export  pandas DataFrame.to_csv", rows, pandas_export(table))

    # A table with a formula: each row is computed as it is read, in the import's own pass.
    # Each import twice, alternating, and the faster of each pair: a background hiccup on
    # one of them would otherwise pass for the formula's cost.
    data = make_csv(rows, columns, emails=True)
    plain, computed = [], []
    for _ in range(2):
        plain.append(import_into_new_table(data, formula=None))
        computed.append(import_into_new_table(data, formula="domain(row.column_1)"))
    report("import  into a table without a formula", rows, min(plain))
    report("import  into a table with domain(row.column_1)", rows, min(computed))
    ratio = min(computed) / min(plain)
    print(f"import  with the formula / without: {ratio:.2f}x the time", flush=True)
    return 0


def import_into_new_table(data: bytes, *, formula: str | None) -> float:
    """Seconds to import ``data`` into a new table whose columns already exist (mapped by
    label), with a formula column over them or without."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from enrich.columns import column_add
    from enrich.csv_import import import_set_mapping, import_start, import_upload
    from enrich.enrichment.columns import EnrichmentSpec, enrichment_column_create
    from enrich.tables import table_create

    headers = data.split(b"\n", 1)[0].decode().split(",")
    table = table_create(workspace=workspace(), name="formula bench", created_by=None)
    for header in headers:
        column_add(table=table, label=header, kind="text")
    if formula:
        spec = EnrichmentSpec(kind="formula", config={"expression": formula})
        enrichment_column_create(table=table, label="Domain", spec=spec)
    job = import_upload(
        workspace=table.workspace,
        upload=SimpleUploadedFile("bench.csv", data),
        table=table,
        created_by=None,
    )
    started = time.perf_counter()
    import_set_mapping(job=job, mapping=job.mapping)
    job = import_start(job=job, background=False)
    seconds = time.perf_counter() - started
    assert job.status == "done", job.error
    if formula:
        from enrich.models import Row

        sample = Row.objects.filter(table=table).order_by("position").first()
        assert sample.values.get("domain"), sample.values
    return seconds


def run_memory(options: argparse.Namespace) -> int:
    """The export's peak memory as the table grows, in a process that has done nothing else."""
    setup_django()
    from enrich.models import Table

    table = Table.objects.get(name="bench")
    for target in [int(n) for n in options.memory_rows.split(",") if n.strip()]:
        grow(table, target)
        before = peak_rss()
        seconds, _ = timed_export(table)
        print(
            f"export  {target:>9,} rows: peak RSS {peak_rss() / 1e6:6.1f} MB "
            f"(was {before / 1e6:.1f} MB before), {target / seconds:,.0f} rows/s",
            flush=True,
        )
    return 0


def report(label: str, rows: int, seconds: float, *, note: str = "") -> None:
    note = f"  {note}" if note else ""
    print(f"{label:<50} {rows / seconds:>10,.0f} rows/s  ({seconds:.2f} s){note}", flush=True)


class CpuSplit:
    """CPU seconds this process and its PostgreSQL server process spent meanwhile: which side
    an import waits on. Only when the server runs on this machine and /proc shows it."""

    def __enter__(self) -> CpuSplit:
        from django.db import connection

        self.note = ""
        self.server = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.server = Path(f"/proc/{cursor.fetchone()[0]}/stat")
        self.start = (process_cpu(), server_cpu(self.server))
        return self

    def __exit__(self, *exc_info: object) -> None:
        python, server = process_cpu(), server_cpu(self.server)
        if server is not None and self.start[1] is not None:
            self.note = (
                f"[CPU: Python {python - self.start[0]:.2f} s, "
                f"PostgreSQL {server - self.start[1]:.2f} s]"
            )


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu(stat: Path | None) -> float | None:
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split() if stat else None
    except OSError:
        return None
    if not fields:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_csv(rows: int, columns: int, *, emails: bool = False) -> bytes:
    """``rows`` rows of ``columns`` text values; with ``emails``, column 1 holds addresses."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f"Column {number}" for number in range(columns)])
    for row in range(rows):
        values = [f"value {row}-{column}" for column in range(columns)]
        if emails:
            values[1] = f"lead{row}@www.company{row % 5000}.example"
        writer.writerow(values)
    return buffer.getvalue().encode()


def workspace():
    from accounts.models import Workspace

    return Workspace.objects.get_or_create(name="Benchmark")[0]


def enrich_import(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from enrich.csv_import import import_start, import_upload

    started = time.perf_counter()
    job = import_upload(
        workspace=workspace(),
        upload=SimpleUploadedFile("bench.csv", data),
        created_by=None,
        table_name="bench",
    )
    job = import_start(job=job, background=False)
    seconds = time.perf_counter() - started
    assert job.status == "done", job.error
    return seconds, job.table


def pandas_import_orm(data: bytes) -> float:
    """The plain way: read everything with pandas, insert dicts with bulk_create."""
    import pandas

    from enrich.models import Row
    from enrich.tables import table_create

    started = time.perf_counter()
    frame = pandas.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    table = table_create(workspace=workspace(), name="pandas", created_by=None)
    records = frame.to_dict("records")
    Row.objects.bulk_create(
        (Row(table=table, position=n, values=r) for n, r in enumerate(records)), batch_size=2000
    )
    return time.perf_counter() - started


def fast_insert_name() -> str:
    from django.db import connection

    return "COPY" if connection.vendor == "postgresql" else "executemany"


def pandas_import_fast(data: bytes) -> float:
    """The fast way with pandas: its C parser and C JSON writer, then the database's bulk
    path (COPY on PostgreSQL, one prepared INSERT on SQLite), skipping the ORM entirely."""
    import pandas
    from django.db import connection, transaction
    from django.utils import timezone

    from enrich.models import Row
    from enrich.tables import table_create

    started = time.perf_counter()
    frame = pandas.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    table = table_create(workspace=workspace(), name="pandas fast", created_by=None)
    lines = frame.to_json(orient="records", lines=True, force_ascii=False).splitlines()
    quote = connection.ops.quote_name
    columns = ", ".join(
        quote(name) for name in ("table_id", "position", "values", "created_at", "updated_at")
    )
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            statement = f"COPY {quote(Row._meta.db_table)} ({columns}) FROM STDIN"
            with cursor.cursor.copy(statement) as copy:
                for position, line in enumerate(lines):
                    copy.write_row((table.pk, position, line, now, now))
        else:
            stamp = connection.ops.adapt_datetimefield_value(now)
            cursor.executemany(
                f"INSERT INTO {quote(Row._meta.db_table)} ({columns}) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s)",
                [(table.pk, position, line, stamp, stamp) for position, line in enumerate(lines)],
            )
    return time.perf_counter() - started


def timed_export(table) -> tuple[float, int]:
    from enrich.csv_export import ExportOptions, csv_export_chunks

    started = time.perf_counter()
    size = sum(len(chunk) for chunk in csv_export_chunks(table=table, options=ExportOptions()))
    return time.perf_counter() - started, size


def pandas_export(table) -> float:
    """The plain way: load every row into a DataFrame, then ``to_csv``."""
    import pandas

    from enrich.models import Row

    started = time.perf_counter()
    values = list(
        Row.objects.filter(table=table).order_by("position").values_list("values", flat=True)
    )
    pandas.DataFrame.from_records(values).to_csv(io.StringIO(), index=False)
    return time.perf_counter() - started


def grow(table, target: int) -> None:
    """Copy the table's rows onto itself in the database until it has ``target`` rows."""
    from django.db import connection

    from enrich.models import Row

    count = Row.objects.filter(table=table).count()
    quote = connection.ops.quote_name
    row_table = quote(Row._meta.db_table)
    while count < target:
        take = min(count, target - count)
        with connection.cursor() as cursor:
            columns = ", ".join(quote(name) for name in ("table_id", "values", "created_at"))
            cursor.execute(
                f"INSERT INTO {row_table} ({columns}, {quote('position')}, {quote('updated_at')}) "  # noqa: S608
                f"SELECT {columns}, {quote('position')} + %s, {quote('updated_at')} "
                f"FROM {row_table} WHERE {quote('table_id')} = %s "
                f"ORDER BY {quote('position')} LIMIT %s",
                [count, table.pk, take],
            )
        count += take


def peak_rss() -> int:
    """The process's high-water mark of resident memory, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def export_traced_peak(table) -> tuple[int, float]:
    from enrich.csv_export import ExportOptions, csv_export_chunks

    tracemalloc.start()
    started = time.perf_counter()
    for _ in csv_export_chunks(table=table, options=ExportOptions()):
        pass
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, seconds


if __name__ == "__main__":
    sys.exit(main())
