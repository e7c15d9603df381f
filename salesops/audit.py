"""Audit trail helpers on top of django-pghistory.

Every tracked model gets an event table filled by Postgres triggers, so bulk updates, COPY loads
and raw SQL are recorded as well as ORM saves. The request middleware attaches user, URL and
request id; services and tasks outside a request attach the acting user and a reason here.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import pghistory
from django.db.models import Model, QuerySet
from pghistory.models import Events


def audit_context(
    *, acting_user=None, reason: str | None = None, **extra
) -> AbstractContextManager:
    """Context for audit events written inside the block (nests into the request's context)."""
    context = {**extra}
    if acting_user is not None:
        context["user"] = acting_user.pk
    if reason:
        context["reason"] = reason
    return pghistory.context(**context)


def audit_events_for(obj: Model) -> QuerySet:
    """Every recorded event of ``obj``, oldest first, with ``pgh_diff`` and ``pgh_context``."""
    return Events.objects.tracks(obj).order_by("pgh_created_at", "pgh_id")
