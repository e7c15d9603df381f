"""Load rate of the org generator against raw COPY of as many rows into a temp table.

The generator also builds rows in Python (Faker names, one password hash), writes to indexed,
constrained, audited tables and resets sequences; the floor is only the COPY protocol itself.
So the ratio reads "how many times slower than just streaming the rows into PostgreSQL".

``generate_org`` runs every step of ``settings.SALESOPS_GENERATOR_STEPS``, the KPI snapshots
(``reporting.generate.generate_kpis``, a full KPI recompute) included: its time is in the
generator's seconds and the KPI values it writes are in ``total_rows``. The detail column says
how many of the rows and seconds were the KPI step's.
"""

from __future__ import annotations

import statistics
import time

from django.db import connection, transaction

from bench.measure import Result

FLOOR_NOTE = (
    "generator: floor = COPY of as many 5-column (int/text) rows into a TEMP table in one "
    "transaction; ratio = floor rows/s / generator rows/s"
)
FLOOR_RUNS = 5


def run(*, runs: int) -> list[Result]:
    """Generate the large org ``runs`` times (replacing it), then time the COPY floor."""
    from salesops.org.generate import SCALES, generate_org

    rates = []
    total_rows = 0
    kpi_step = ""
    for _ in range(runs):
        org = generate_org(scale=SCALES["large"], seed=1, replace=True)
        total_rows = org.total_rows
        rates.append(org.total_rows / org.seconds)
        kpi_step = _kpi_step(org.rows)
    generator_rate = statistics.median(rates)
    floor_rate = statistics.median(_copy_floor(total_rows) for _ in range(max(runs, FLOOR_RUNS)))
    detail = f"{total_rows:,} rows{kpi_step}, median of {runs}"
    return [
        Result(
            "generate_org(large)",
            generator_rate,
            floor_rate,
            "rows/s",
            floor_rate / generator_rate,
            detail,
        )
    ]


def _kpi_step(rows: dict[str, int]) -> str:
    """What the KPI step of the last run wrote and how long it took (from its ``KpiRun``)."""
    if "kpi_values" not in rows:
        return ""
    from reporting.models import KpiRun

    run = KpiRun.objects.filter(kind=KpiRun.Kind.FULL).order_by("-started_at").first()
    took = "" if run is None else f" in {(run.finished_at - run.started_at).total_seconds():.0f} s"
    return f" (incl. {rows['kpi_values']:,} KPI values written{took} by the KPI step)"


def _copy_floor(rows: int) -> float:
    """Rows per second for COPY of ``rows`` user-like rows into a temp table, commit included."""
    data = [
        (i, f"user.number{i}", f"user.number{i}@acmerobotics.example", i % 7, f"E{i:06d}")
        for i in range(1, rows + 1)
    ]
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_copy_floor "
            "(id integer, username text, email text, grp integer, code text) ON COMMIT DROP"
        )
        with cursor.cursor.copy(
            "COPY bench_copy_floor (id, username, email, grp, code) FROM STDIN"
        ) as copy:
            for row in data:
                copy.write_row(row)
    return rows / (time.perf_counter() - started)
