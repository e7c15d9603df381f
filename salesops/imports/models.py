"""Import jobs (an uploaded file on its way in) and saved column mappings."""

from __future__ import annotations

import pghistory
from django.conf import settings
from django.db import models

from salesops.org.models import VisibleQuerySet


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded, needs a mapping"
    VALIDATING = "validating", "Checking"
    INVALID = "invalid", "Has errors"
    READY = "ready", "Checked, ready to import"
    COMMITTING = "committing", "Importing"
    COMMITTED = "committed", "Imported"
    FAILED = "failed", "Failed"


@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    fields=["target", "file_name", "row_count", "mapping", "status", "created_by"],
    model_name="ImportJobEvent",
)
class ImportJob(models.Model):
    """One uploaded file, its mapping, the last dry-run report and, once committed, the result.

    The file is kept in the database (``content``) so the web process and the Celery worker see
    the same bytes without a shared disk.
    """

    target = models.CharField(max_length=40)
    file_name = models.CharField(max_length=255)
    content = models.BinaryField()
    columns = models.JSONField(default=list)
    row_count = models.PositiveIntegerField(default=0)
    mapping = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=12, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    report = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="import_jobs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    objects = VisibleQuerySet.as_manager()

    visibility_owner_field = "created_by"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.file_name} → {self.target}"


@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class ImportMapping(models.Model):
    """A column mapping someone saved to reuse for the next file of the same shape."""

    name = models.CharField(max_length=120)
    target = models.CharField(max_length=40)
    mapping = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["target", "name"]
        constraints = [
            models.UniqueConstraint(
                "target",
                "name",
                name="import_mapping_unique_name",
                violation_error_message="A mapping with this name exists for this kind of import.",
            )
        ]

    def __str__(self) -> str:
        return self.name
