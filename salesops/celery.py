"""The Celery application: configuration comes from Django settings (``CELERY_*``)."""

import os

from celery import Celery
from celery.signals import beat_init
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesops.settings")

app = Celery("salesops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "kpi", "comp")]
app.autodiscover_tasks()
app.conf.beat_schedule = {
    "heartbeat": {
        "task": "salesops.org.tasks.heartbeat",
        "schedule": float(os.environ.get("SALESOPS_HEARTBEAT_SECONDS", "30")),
    },
}


@beat_init.connect
def _heartbeat_on_start(sender=None, **_kwargs) -> None:
    """Send one heartbeat as beat starts, so /healthz is green without waiting an interval."""
    app.send_task("salesops.org.tasks.heartbeat")
