"""Django set up for benchmarking: own embedded services, production-like settings, large data.

The bench keeps its PostgreSQL and Redis under ``var/bench`` so timing runs never touch the
developer's ``var/`` data or the test suite's ``var/test``, and regenerating the large org there
is harmless.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
BENCH_VAR_DIR = REPO_DIR / "var" / "bench"


def setup_django() -> None:
    """Point settings at the bench folder, start Django and bring the schema up to date."""
    os.environ.setdefault("SALESOPS_VAR_DIR", str(BENCH_VAR_DIR))
    os.environ["DJANGO_SETTINGS_MODULE"] = "salesops.settings"
    # DEBUG records every SQL query and renders differently; latency must be measured without it.
    os.environ["DJANGO_DEBUG"] = "false"

    import django
    from django.core.management import call_command

    django.setup()
    _refuse_shared_database()
    call_command("migrate", verbosity=0)


def _refuse_shared_database() -> None:
    """Stop before touching a database that holds someone's data.

    The generator benchmark wipes and rebuilds the org, so an exported ``SALESOPS_VAR_DIR`` that
    points at the everyday ``var/``, or a ``DATABASE_URL``, would cost real data.
    """
    from django.conf import settings

    if os.environ.get("DATABASE_URL"):
        raise SystemExit("bench: refusing to run with DATABASE_URL set; it rebuilds the org.")
    if Path(settings.VAR_DIR).resolve() == (REPO_DIR / "var").resolve():
        raise SystemExit(
            f"bench: SALESOPS_VAR_DIR points at {settings.VAR_DIR}, the app's own data; "
            f"unset it so the bench uses {BENCH_VAR_DIR}."
        )


def ensure_large_org(*, regenerate: bool) -> str:
    """Make sure the bench database holds the large org; say what was done.

    A database with any other number of reps (say a demo-scale org) is regenerated too, so every
    figure is always taken on the same data.
    """
    from django.db import connection

    from salesops.org.generate import SCALES, generate_org
    from salesops.org.models import RepProfile

    scale = SCALES["large"]
    reps = RepProfile.objects.count()
    if regenerate or reps != scale.reps:
        org = generate_org(scale=scale, seed=1, replace=True)
        done = f"generated the large org: {org.total_rows:,} rows in {org.seconds:.1f} s"
    else:
        done = f"reusing the large org already in the bench database ({reps:,} reps)"
    # Fresh COPY-loaded tables have no planner statistics until autovacuum gets to them; analyse
    # now so page queries are planned as they would be on a settled production database.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return done
