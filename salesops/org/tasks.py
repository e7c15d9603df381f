"""Kernel tasks."""

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_KEY = "salesops:beat:last"


@shared_task(name="salesops.org.tasks.heartbeat", ignore_result=True)
def heartbeat() -> str:
    """Sent by beat and run by a worker: proves the scheduler and a worker are both alive."""
    now = timezone.now().isoformat()
    cache.set(HEARTBEAT_KEY, now, timeout=None)
    return now
