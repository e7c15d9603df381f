"""Celery tasks for big imports: thin wrappers over the services, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from salesops.imports import services
from salesops.org.models import User


@shared_task(name="salesops.imports.tasks.validate")
def validate(job_id: int, user_id: int) -> str:
    job = services.import_validate(acting_user=User.objects.get(pk=user_id), job_id=job_id)
    return job.status


@shared_task(name="salesops.imports.tasks.commit")
def commit(job_id: int, user_id: int) -> str:
    job = services.import_commit(acting_user=User.objects.get(pk=user_id), job_id=job_id)
    return job.status
