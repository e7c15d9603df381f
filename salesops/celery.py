"""The Celery application: configuration comes from Django settings (``CELERY_*``)."""

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import beat_init
from django.conf import settings
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesops.settings")

app = Celery("salesops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "kpi", "comp")]
app.autodiscover_tasks()
_full_hour, _full_minute = settings.SALESOPS_KPI_FULL_AT.split(":")
app.conf.beat_schedule = {
    "heartbeat": {
        "task": "salesops.org.tasks.heartbeat",
        "schedule": float(os.environ.get("SALESOPS_HEARTBEAT_SECONDS", "30")),
    },
    "kpi-recompute-full": {
        "task": "reporting.tasks.kpi_recompute_full",
        "schedule": crontab(hour=int(_full_hour), minute=int(_full_minute)),
        "options": {"queue": "kpi"},
    },
    "kpi-recompute-changed": {
        "task": "reporting.tasks.kpi_recompute_changed",
        "schedule": float(settings.SALESOPS_KPI_CHANGED_SECONDS),
        "options": {"queue": "kpi"},
    },
    # Scheduled report emails: each is due on the hour, so a few minutes' check is enough.
    "report-deliveries-send": {
        "task": "reporting.tasks.report_deliveries_send",
        "schedule": float(os.environ.get("SALESOPS_REPORT_DELIVERY_SECONDS", "180")),
        "options": {"queue": "default"},
    },
    # Territory runs dated in the future wait for their day; an hourly look is enough.
    "territory-runs-due": {
        "task": "territories.tasks.assignment_runs_due",
        "schedule": crontab(minute=5),
        "options": {"queue": "default"},
    },
}


@beat_init.connect
def _heartbeat_on_start(sender=None, **_kwargs) -> None:
    """Send one heartbeat as beat starts, so /healthz is green without waiting an interval."""
    app.send_task("salesops.org.tasks.heartbeat")
