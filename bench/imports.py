"""Import throughput: a deals CSV through the whole import engine against a raw COPY floor.

The file holds ``ROWS`` new deals on existing accounts and reps of the large org (referenced by
account external id and rep username), in stages that need amount, close date and next step, so
every rule runs. The commit is rolled back afterwards, leaving the org as it was.

Floor: COPY of the same rows (same columns, as text) into a TEMP table, in one transaction. The
ratio reads "how many times slower than just streaming the file into PostgreSQL": the engine also
parses, resolves references, checks exit criteria and writes audited, indexed tables.
"""

from __future__ import annotations

import csv
import io
import statistics
import time

from django.db import connection, transaction

from bench.measure import Result

ROWS = 20_000
FLOOR_RUNS = 5
FLOOR_NOTE = (
    f"import: {ROWS:,} deal rows (CSV) through parse, lookups, exit criteria and audited writes "
    "(dry run, then commit rolled back); floor = COPY of the same rows into a TEMP table; "
    "ratio = floor rows/s / import rows/s"
)
HEADER = ["Id", "Name", "Account", "Owner", "Stage", "Amount", "Close", "Next"]
MAPPING = {
    "fields": {
        "external_id": {"column": "Id"},
        "name": {"column": "Name"},
        "account": {"column": "Account"},
        "owner": {"column": "Owner"},
        "stage": {"column": "Stage"},
        "amount": {"column": "Amount"},
        "close_date": {"column": "Close"},
        "next_step": {"column": "Next"},
    },
    "options": {"pipeline": "New Business"},
}


def run() -> list[Result]:
    from salesops.imports.engine import run_import
    from salesops.org.models import User

    ops = User.objects.filter(groups__name__in=["ops", "admin"], is_active=True).first()
    timings = {}
    with transaction.atomic():  # rolled back: the org stays as generated
        rows = _rows()
        content = _csv(rows)
        for commit in (False, True):
            started = time.perf_counter()
            outcome = run_import(
                content=content, file_name="bench.csv", target_key="deals", mapping=MAPPING,
                acting_user=ops, commit=commit,
            )  # fmt: skip
            timings[commit] = time.perf_counter() - started
            if not outcome.ok:
                raise RuntimeError(f"bench import has errors: {outcome.report['errors'][:3]}")
        transaction.set_rollback(True)
    floor_rate = statistics.median(_copy_floor(rows) for _ in range(FLOOR_RUNS))
    results = []
    for commit, label in ((False, "dry run"), (True, "commit")):
        rate = len(rows) / timings[commit]
        results.append(
            Result(
                f"import deals CSV ({label})",
                rate,
                floor_rate,
                "rows/s",
                floor_rate / rate,
                f"{len(rows):,} rows in {timings[commit]:.1f} s",
            )  # fmt: skip
        )
    return results


def _rows() -> list[list[str]]:
    """Deals for the reps of the large org, each on an account its rep owns."""
    from crm.models import Account

    accounts = list(
        Account.objects.filter(owner__is_active=True).select_related("owner").order_by("id")[:ROWS]
    )
    # The generator sets no account external ids; give these some (the caller rolls back).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE crm_account SET external_id = 'BENCH-A-' || id WHERE id = ANY(%s)",
            [[a.pk for a in accounts]],
        )
    stages = ["Discovery", "Proposal", "Negotiation"]
    return [
        [
            f"BENCH-{n}", f"Bench deal {n}", f"BENCH-A-{account.pk}", account.owner.username,
            stages[n % 3], f"{1000 + n % 50_000}.00", "2027-03-31", "Send proposal",
        ]
        for n, account in enumerate(accounts[n % len(accounts)] for n in range(ROWS))
    ]  # fmt: skip


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _copy_floor(rows: list[list[str]]) -> float:
    with transaction.atomic(), connection.cursor() as cursor:  # noqa: SIM117
        columns = ", ".join(f"c{i} text" for i in range(len(HEADER)))
        cursor.execute(f"CREATE TEMP TABLE bench_import_floor ({columns}) ON COMMIT DROP")
        started = time.perf_counter()
        with cursor.cursor.copy("COPY bench_import_floor FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        elapsed = time.perf_counter() - started
    return len(rows) / elapsed
