"""Celery tasks of the KPI recompute: thin wrappers around reporting.services.

Routed to the ``kpi`` queue (``CELERY_TASK_ROUTES``), so heavy recomputes never hold up imports.
"""

from __future__ import annotations

from celery import shared_task

from reporting import services


@shared_task(name="reporting.tasks.kpi_recompute_full", ignore_result=True)
def kpi_recompute_full() -> int:
    """Every KPI, every period and scope (nightly). Returns the values written."""
    return services.kpi_recompute_full().values_written


@shared_task(name="reporting.tasks.kpi_recompute_changed", ignore_result=True)
def kpi_recompute_changed() -> int:
    """What changed since the last run (every few minutes). Returns the values written."""
    run = services.kpi_recompute_changed()
    return run.values_written if run else 0
