"""Writes of the import engine: upload a file, set its mapping, check it, commit it.

Checking and committing run the same engine (``salesops.imports.engine``). A commit holds a lock
on the job row for its whole transaction, so two commits of one job (a double click, a retried
task) import once: the second finds the job already committed and does nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.imports.engine import run_import
from salesops.imports.mapping import check_mapping, guess_mapping
from salesops.imports.models import ImportJob, ImportMapping, ImportStatus
from salesops.imports.reading import read_table
from salesops.imports.targets import all_presets, get_target
from salesops.org.models import User
from salesops.permissions import restrict


def import_upload(*, acting_user: User, target: str, file_name: str, content: bytes) -> ImportJob:
    """Keep an uploaded file as a job, with a first guess of its mapping (a fitting shipped
    mapping if one fits the header, else columns matched to fields by name)."""
    if not acting_user.has_perm("imports.add_importjob"):
        raise NotAllowed("Your role does not allow imports.")
    import_target = get_target(target)
    limit = settings.SALESOPS_IMPORT_MAX_BYTES
    if len(content) > limit:
        raise DomainError(
            f"The file is {len(content) / 1e6:.1f} MB; the largest import is {limit / 1e6:.0f} MB.",
            field="file",
        )
    table = read_table(content, file_name)
    preset = next((p for p in all_presets() if p.target == target and p.fits(table.columns)), None)
    mapping = (
        {**preset.mapping, "preset": preset.key}
        if preset
        else guess_mapping(table.columns, import_target.fields)
    )
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="import_upload"):
        return ImportJob.objects.create(
            target=target, file_name=file_name[:255], content=content, columns=table.columns,
            row_count=len(table), mapping=mapping, created_by=acting_user,
        )  # fmt: skip


def import_set_mapping(*, acting_user: User, job: ImportJob, mapping: dict[str, Any]) -> ImportJob:
    """Replace the job's mapping (refused if it does not fit the file); the job must be checked
    again before it can be committed."""
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="import_set_mapping"):
        job = _my_job(acting_user, job.pk, lock=True)
        _require_not_committed(job)
        target = get_target(job.target)
        check_mapping(mapping, job.columns, target.fields, target.all_options)
        job.mapping = {
            "fields": mapping.get("fields") or {},
            "options": mapping.get("options") or {},
        }
        job.status = ImportStatus.UPLOADED
        job.report = {}
        job.save(update_fields=["mapping", "status", "report"])
        return job


def import_validate(*, acting_user: User, job_id: int) -> ImportJob:
    """Dry run: check every row and store the report; nothing else is written."""
    job = _my_job(acting_user, job_id)
    _require_not_committed(job)
    try:
        outcome = run_import(
            content=bytes(job.content), file_name=job.file_name, target_key=job.target,
            mapping=job.mapping, acting_user=acting_user, commit=False,
        )  # fmt: skip
    except DomainError as error:
        return _record(
            job, ImportStatus.INVALID, {"problem": error.message, "error_count": 1}, job.mapping
        )
    status = ImportStatus.READY if outcome.ok else ImportStatus.INVALID
    return _record(job, status, outcome.report, job.mapping, validated=True)


def import_commit(*, acting_user: User, job_id: int) -> ImportJob:
    """Write the job's rows, all or nothing, if its last check passed (checks them again)."""
    with transaction.atomic():
        job = _my_job(acting_user, job_id, lock=True)
        if job.status == ImportStatus.COMMITTED:
            return job  # already done (a repeated request or a retried task)
        if job.status not in (ImportStatus.READY, ImportStatus.COMMITTING):
            raise DomainError("Check the file first: only a file without errors can be imported.")
        try:
            with transaction.atomic():
                outcome = run_import(
                    content=bytes(job.content), file_name=job.file_name, target_key=job.target,
                    mapping=job.mapping, acting_user=acting_user, commit=True,
                    reason=f"import:{job.target}",
                )  # fmt: skip
        except DomainError as error:
            outcome = None
            report = {"problem": error.message, "error_count": 1}
        except DatabaseError as error:  # a record changed under the import: nothing was written
            outcome = None
            report = {"problem": f"The database refused the import: {error}", "error_count": 1}
        if outcome is not None and outcome.ok:
            job.status, job.report, job.committed_at = (
                ImportStatus.COMMITTED, outcome.report, timezone.now(),
            )  # fmt: skip
        else:
            job.status, job.report = ImportStatus.INVALID, (outcome.report if outcome else report)
        with audit_context(acting_user=acting_user, reason="import_commit"):
            job.save(update_fields=["status", "report", "committed_at"])
        return job


def import_queue(*, acting_user: User, job_id: int, commit: bool) -> ImportJob:
    """Mark the job as being checked or imported and hand it to the Celery worker."""
    from salesops.imports import tasks

    with transaction.atomic():
        job = _my_job(acting_user, job_id, lock=True)
        _require_not_committed(job)
        if commit and job.status != ImportStatus.READY:
            raise DomainError("Check the file first: only a file without errors can be imported.")
        job.status = ImportStatus.COMMITTING if commit else ImportStatus.VALIDATING
        job.save(update_fields=["status"])
        task = tasks.commit if commit else tasks.validate
        transaction.on_commit(lambda: task.delay(job.pk, acting_user.pk))
        return job


def mapping_save(*, acting_user: User, job: ImportJob, name: str) -> ImportMapping:
    """Keep the job's mapping under ``name`` to reuse for the next file of this shape."""
    name = name.strip()
    if not name:
        raise DomainError("Give the mapping a name.", field="name")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="mapping_save"):
        job = _my_job(acting_user, job.pk)
        saved, _ = ImportMapping.objects.update_or_create(
            target=job.target, name=name,
            defaults={"mapping": {k: job.mapping.get(k, {}) for k in ("fields", "options")},
                      "created_by": acting_user},
        )  # fmt: skip
        return saved


def mapping_delete(*, acting_user: User, mapping: ImportMapping) -> None:
    """Remove a saved mapping (jobs that used it keep their own copy of the mapping)."""
    if not acting_user.has_perm("imports.delete_importmapping"):
        raise NotAllowed("Your role does not allow deleting saved mappings.")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="mapping_delete"):
        ImportMapping.objects.filter(pk=mapping.pk).delete()


def _record(
    job: ImportJob, status: str, report: dict, mapping: dict, validated: bool = False
) -> ImportJob:
    """Store a check's report, unless the job was committed or its mapping changed meanwhile
    (the report of a check of the old mapping must not make the new one look checked)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status == ImportStatus.COMMITTED or job.mapping != mapping:
            return job
        job.status, job.report = status, report
        if validated:
            job.validated_at = timezone.now()
        job.save(update_fields=["status", "report", "validated_at"])
        return job


def _my_job(user: User, job_id: int, lock: bool = False) -> ImportJob:
    jobs = restrict(ImportJob.objects.all(), user, "change")
    if lock:
        jobs = jobs.select_for_update()
    job = jobs.filter(pk=job_id).first()
    if job is None:
        raise NotFound("This import does not exist or is not yours.")
    return job


def _require_not_committed(job: ImportJob) -> None:
    if job.status == ImportStatus.COMMITTED:
        raise DomainError("This file has been imported already; upload it again to re-import.")


def import_mark_failed(*, job_id: int, problem: str) -> None:
    """Record that a check or import crashed; nothing was written (its transaction rolled back)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is not None and job.status != ImportStatus.COMMITTED:
            job.status, job.report = ImportStatus.FAILED, {"problem": problem, "error_count": 1}
            job.save(update_fields=["status", "report"])
