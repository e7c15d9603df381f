"""Celery tasks of the KPI recompute: thin wrappers around reporting.services.

Routed to the ``kpi`` queue (``CELERY_TASK_ROUTES``), so heavy recomputes never hold up imports.
"""

from __future__ import annotations

from celery import shared_task

from reporting import delivery, services


@shared_task(name="reporting.tasks.kpi_recompute_full", ignore_result=True)
def kpi_recompute_full() -> int:
    """Every KPI, every period and scope (nightly). Returns the values written."""
    return services.kpi_recompute_full().values_written


@shared_task(name="reporting.tasks.kpi_recompute_changed", ignore_result=True)
def kpi_recompute_changed() -> int:
    """What changed since the last run (every few minutes). Returns the values written."""
    run = services.kpi_recompute_changed()
    return run.values_written if run else 0


# Not a KPI recompute: beat sends it to the default queue (its entry's options override the
# kpi route of reporting.tasks.*); call it with apply_async(queue="default") too.
@shared_task(name="reporting.tasks.report_deliveries_send", ignore_result=True)
def report_deliveries_send() -> int:
    """Email the saved reports whose schedules are due (every few minutes). Returns how many
    deliveries were made, sent or failed; each schedule and due time is sent once."""
    return len(delivery.report_deliveries_send_due())
