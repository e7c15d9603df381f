"""Celery tasks for big imports: thin wrappers over the services, safe to run twice."""

from __future__ import annotations

from contextlib import contextmanager

from celery import shared_task

from salesops.imports import services
from salesops.org.models import User


@shared_task(name="salesops.imports.tasks.validate")
def validate(job_id: int, user_id: int) -> str:
    with _failure_recorded(job_id):
        job = services.import_validate(acting_user=User.objects.get(pk=user_id), job_id=job_id)
    return job.status


@shared_task(name="salesops.imports.tasks.commit")
def commit(job_id: int, user_id: int) -> str:
    with _failure_recorded(job_id):
        job = services.import_commit(acting_user=User.objects.get(pk=user_id), job_id=job_id)
    return job.status


@contextmanager
def _failure_recorded(job_id: int):
    """An unexpected crash marks the job failed (visible on its page), then re-raises."""
    try:
        yield
    except Exception as error:
        services.import_mark_failed(job_id=job_id, problem=f"{type(error).__name__}: {error}")
        raise
