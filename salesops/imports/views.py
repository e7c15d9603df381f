"""Import pages: upload a file, map its columns, check it (dry run), import it.

Thin over ``salesops.imports.services``. Files up to ``SALESOPS_IMPORT_INLINE_ROWS`` rows are
checked and imported while the request waits; bigger ones go to the Celery worker and the page
polls a small status partial (htmx) until the worker is done.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models.fields.json import KT
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from salesops.errors import DomainError
from salesops.exports import export_response
from salesops.imports import services
from salesops.imports.fields import ImportField, Kind
from salesops.imports.forms import VALUE_ROWS, MappingForm, UploadForm, UseMappingForm
from salesops.imports.models import ImportJob, ImportMapping, ImportStatus
from salesops.imports.reading import read_table
from salesops.imports.targets import ImportTarget, all_presets, all_targets, get_preset, get_target
from salesops.permissions import restrict

IMPORT_PERMISSION = "imports.add_importjob"
SHOWN_ERRORS = 200
RUNNING = (ImportStatus.VALIDATING, ImportStatus.COMMITTING)
# Where to look at what an import wrote: (link text, URL name) per target.
RESULT_LINKS = {
    "users": [("Teams", "org:team_list")],
    "accounts": [("Accounts", "crm:account_list")],
    "contacts": [("Accounts", "crm:account_list")],
    "leads": [("Leads", "crm:lead_list")],
    "deals": [("Deals", "crm:deal_list"), ("Accounts", "crm:account_list")],
    "deal_history": [("Deals", "crm:deal_list")],
    "activities": [("Deals", "crm:deal_list")],
}
_PROFILE_SECONDS = 3600


def _allowed(view):
    return login_required(permission_required(IMPORT_PERMISSION, raise_exception=True)(view))


@_allowed
def job_list(request):
    """The import jobs in the caller's scope, newest first, and the upload form."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.import_upload(
                acting_user=request.user, target=form.cleaned_data["target"],
                file_name=upload.name, content=upload.read(),
            )  # fmt: skip
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(
                request,
                f"Read {job.row_count} rows from {job.file_name}. Check the mapping below.",
            )
            return redirect("imports:job", pk=job.pk)
    jobs = (
        restrict(ImportJob.objects.all(), request.user)
        .select_related("created_by")
        .defer("content", "report", "mapping", "columns")
        .annotate(
            created_count=KT("report__written__created"),
            updated_count=KT("report__written__updated"),
            error_count=KT("report__error_count"),
        )
        .order_by("-created_at", "-pk")
    )
    page = Paginator(jobs, 50).get_page(request.GET.get("page"))
    labels = {t.key: t.label for t in all_targets()}
    for job in page:
        job.target_label = labels.get(job.target, job.target)
    return render(
        request,
        "imports/job_list.html",
        {"form": form, "page": page, "targets": all_targets(), "running": RUNNING},
    )


@_allowed
def job_detail(request, pk: int):
    return _detail(request, _job_or_404(request, pk))


@_allowed
@require_POST
def job_mapping(request, pk: int):
    """Set the mapping from the mapping table (optionally save it by name), then check."""
    job = _job_or_404(request, pk)
    if job.status in (ImportStatus.COMMITTING, ImportStatus.COMMITTED):
        messages.error(request, "This file is being imported or has been; its mapping is fixed.")
        return redirect("imports:job", pk=job.pk)
    target = get_target(job.target)
    form = _mapping_form(job, target, data=request.POST)
    if form.is_valid():
        try:
            job = services.import_set_mapping(
                acting_user=request.user, job=job, mapping=form.mapping()
            )
            name = form.cleaned_data["save_as"]
            if name:
                saved = services.mapping_save(acting_user=request.user, job=job, name=name)
                messages.success(request, f"Saved the mapping as “{saved.name}”.")
        except DomainError as error:
            form.add_error("save_as" if error.field == "name" else None, error.message)
        else:
            _check(request, job)
            return redirect(reverse("imports:job", args=[job.pk]) + "#check")
    return _detail(request, job, mapping_form=form)


@_allowed
@require_POST
def job_use_mapping(request, pk: int):
    """Replace the mapping with a shipped preset or a saved mapping, then check."""
    job = _job_or_404(request, pk)
    form = _use_form(job, data=request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a mapping to use.")
        return redirect("imports:job", pk=job.pk)
    kind, _, key = form.cleaned_data["source"].partition(":")
    try:
        if kind == "preset":
            preset = get_preset(key)
            if preset.target != job.target:
                raise DomainError(f"“{preset.name}” is not a mapping for this kind of import.")
            mapping, name = preset.mapping, preset.name
        else:
            saved = ImportMapping.objects.filter(pk=key, target=job.target).first()
            if saved is None:
                raise DomainError("That saved mapping no longer exists.")
            mapping, name = saved.mapping, saved.name
        job = services.import_set_mapping(acting_user=request.user, job=job, mapping=mapping)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("imports:job", pk=job.pk)
    messages.success(request, f"Using the mapping “{name}”.")
    _check(request, job)
    return redirect(reverse("imports:job", args=[job.pk]) + "#check")


@_allowed
@require_POST
def job_check(request, pk: int):
    """Check the file again with its current mapping (records may have changed since)."""
    job = _job_or_404(request, pk)
    _check(request, job)
    return redirect(reverse("imports:job", args=[job.pk]) + "#check")


@_allowed
@require_POST
def job_commit(request, pk: int):
    """Import a checked file: in the request when small, else by the worker."""
    job = _job_or_404(request, pk)
    try:
        job = commit_job(request.user, job)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        if job.status == ImportStatus.COMMITTED:
            messages.success(request, f"Imported: {written_sentence(job)}.")
        elif job.status != ImportStatus.COMMITTING:
            messages.error(request, "The import found problems; nothing was imported.")
    return redirect(reverse("imports:job", args=[job.pk]) + "#check")


@_allowed
def job_status(request, pk: int):
    """The "Checking…/Importing…" panel the page polls; once done, the whole page reloads."""
    job = _job_or_404(request, pk, fields=("id", "status", "row_count", "file_name"))
    if job.status in RUNNING:
        return render(request, "imports/partials/running.html", {"job": job})
    if not request.htmx:
        return redirect("imports:job", pk=job.pk)
    response = HttpResponse("")
    response["HX-Refresh"] = "true"
    return response


@_allowed
def job_errors(request, pk: int):
    """Every reported error as CSV: row, field, message, then the row's cells as in the file.

    Cells go through ``safe_cell`` (in ``export_response``), so a cell like ``=HYPERLINK(…)``
    comes back as text, never as a formula."""
    job = _job_or_404(request, pk)
    errors = (job.report or {}).get("errors") or []
    try:
        table = read_table(bytes(job.content), job.file_name)
    except DomainError:
        table = None
    columns = table.columns if table is not None else []

    def rows():
        for error in errors:
            cells: list[Any] = []
            if table is not None and error["row"] in table.frame.index:
                cells = list(table.frame.loc[error["row"]])
            yield [error["row"], error["field"], error["message"], *cells]

    return export_response(
        headers=["Row", "Field", "Message", *columns],
        rows=rows(),
        filename=f"import-{job.pk}-errors",
        fmt="csv",
    )


# --- helpers -----------------------------------------------------------------------------------


def _job_or_404(request, pk: int, fields: tuple[str, ...] = ()) -> ImportJob:
    jobs = restrict(ImportJob.objects.all(), request.user)
    # The file itself is read only when needed (a column profile not cached yet, the errors CSV).
    jobs = jobs.only(*fields) if fields else jobs.select_related("created_by").defer("content")
    job = jobs.filter(pk=pk).first()
    if job is None:
        raise Http404
    return job


def check_job(user, job: ImportJob) -> ImportJob:
    """The dry run: in the request for a small file, else handed to the worker (the job is
    then "validating"). Shared by the pages and the API."""
    if job.row_count <= settings.SALESOPS_IMPORT_INLINE_ROWS:
        return services.import_validate(acting_user=user, job_id=job.pk)
    return services.import_queue(acting_user=user, job_id=job.pk, commit=False)


def commit_job(user, job: ImportJob) -> ImportJob:
    """The import: in the request for a small file, else by the worker ("committing")."""
    if job.row_count <= settings.SALESOPS_IMPORT_INLINE_ROWS:
        return services.import_commit(acting_user=user, job_id=job.pk)
    return services.import_queue(acting_user=user, job_id=job.pk, commit=True)


def _check(request, job: ImportJob) -> None:
    try:
        check_job(request.user, job)
    except DomainError as error:
        messages.error(request, error.message)


def _detail(request, job: ImportJob, *, mapping_form: MappingForm | None = None, status=200):
    try:
        target = get_target(job.target)
    except DomainError as error:  # a target that is no longer installed
        return render(
            request, "imports/job_detail.html", {"job": job, "problem": error.message}, status=400
        )
    editable = job.status not in (ImportStatus.COMMITTING, ImportStatus.COMMITTED)
    report = job.report or {}
    errors = report.get("errors") or []
    context: dict[str, Any] = {
        "job": job,
        "target": target,
        "report": report,
        "summary": report.get("summary") or {},
        "errors": errors[:SHOWN_ERRORS],
        "more_errors": max(0, (report.get("error_count") or 0) - SHOWN_ERRORS),
        "running": job.status in RUNNING,
        "editable": editable,
        "can_commit": job.status == ImportStatus.READY,
        "committed": job.status == ImportStatus.COMMITTED,
        "inline_rows": settings.SALESOPS_IMPORT_INLINE_ROWS,
        "queued": job.row_count > settings.SALESOPS_IMPORT_INLINE_ROWS,
        "value_rows": VALUE_ROWS,
    }
    if editable:
        context["mapping_form"] = mapping_form or _mapping_form(job, target)
        context["use_form"] = _use_form(job)
    else:
        context["mapping_summary"] = _mapping_summary(job, target)
    if job.status == ImportStatus.COMMITTED:
        context["written"] = written_sentence(job, target)
        context["links"] = _result_links(job.target)
    return render(request, "imports/job_detail.html", context, status=status)


def _mapping_form(job: ImportJob, target: ImportTarget, data=None) -> MappingForm:
    return MappingForm(
        data,
        target=target,
        columns=list(job.columns),
        mapping=job.mapping,
        profile=column_profile(job),
        choices_for=_suggestions(),
    )


def _use_form(job: ImportJob, data=None) -> UseMappingForm:
    return UseMappingForm(
        data,
        presets=[p for p in all_presets() if p.target == job.target],
        saved=ImportMapping.objects.filter(target=job.target).select_related("created_by"),
        columns=list(job.columns),
        current_preset=(job.mapping or {}).get("preset", ""),
    )


def column_profile(job: ImportJob) -> dict[str, dict]:
    """Per column: a few sample values, the most common values with counts, how many distinct.

    Read from the file once and cached (a job's file never changes)."""
    # The upload time keeps a key from naming another file with the same id (a restored or
    # recreated database behind a long-lived cache).
    key = f"imports:profile:{job.pk}:{job.created_at.timestamp()}:{job.row_count}"
    profile = cache.get(key)
    if profile is not None:
        return profile
    try:
        table = read_table(bytes(job.content), job.file_name)
    except DomainError:
        return {}
    profile = {}
    for column in table.columns:
        values = table.frame[column]
        counts = values[values != ""].value_counts()
        profile[column] = {
            "sample": table.sample(column),
            "values": [[str(v), int(n)] for v, n in counts.head(VALUE_ROWS).items()],
            "distinct": int(len(counts)),
        }
    cache.set(key, profile, _PROFILE_SECONDS)
    return profile


def _suggestions():
    """``choices_for(field)``: what the translate inputs suggest (a field's choices; stage,
    pipeline and team names for those references), computed once per request."""
    found: dict[str, list[tuple[str, str]]] = {}

    def choices_for(import_field: ImportField) -> list[tuple[str, str]]:
        if import_field.choices:
            return [(str(v), str(label)) for v, label in import_field.choices]
        if import_field.kind != Kind.REFERENCE:
            return []
        kind = _REFERENCE_SUGGESTIONS.get(import_field.name)
        if kind is None:
            return []
        if kind not in found:
            found[kind] = _names(kind)
        return found[kind]

    return choices_for


_REFERENCE_SUGGESTIONS = {
    "stage": "stage",
    "to_stage": "stage",
    "from_stage": "stage",
    "pipeline": "pipeline",
    "team": "team",
}


def _names(kind: str) -> list[tuple[str, str]]:
    # The kernel does not import the CRM app; its models are looked up by name.
    try:
        if kind == "stage":
            model = apps.get_model("crm", "Stage")
            names = model.objects.filter(pipeline__active=True).values_list("name", flat=True)
        elif kind == "pipeline":
            model = apps.get_model("crm", "Pipeline")
            names = model.objects.filter(active=True).values_list("name", flat=True)
        else:
            model = apps.get_model("org", "Team")
            names = model.objects.values_list("name", flat=True)
    except LookupError:
        return []
    return [(name, "") for name in sorted(set(names))]


def _mapping_summary(job: ImportJob, target: ImportTarget) -> list[dict[str, Any]]:
    specs = (job.mapping or {}).get("fields") or {}
    rows = []
    for import_field in target.fields:
        spec = specs.get(import_field.name)
        if spec:
            rows.append(
                {
                    "label": import_field.label,
                    "column": spec.get("column", ""),
                    "template": spec.get("template", ""),
                    "default": spec.get("default", ""),
                    "values": len(spec.get("values") or {}),
                }
            )
    return rows


_WRITTEN = {
    "accounts_created": "created {n} new accounts",
    "history_rows": "wrote {n} history rows",
    "routed": "routed {n} leads to owners",
}
_NOUNS = {"deal_history": "history rows"}


def written_sentence(job: ImportJob, target: ImportTarget | None = None) -> str:
    """\"created 31 deals, wrote 31 history rows\" from the committed report (zeros left out)."""
    written = (job.report or {}).get("written") or {}
    if target is None:
        try:
            target = get_target(job.target)
        except DomainError:
            target = None
    noun = _NOUNS.get(job.target) or (target.label.lower() if target else "records")
    parts = []
    order = ["created", "updated", *_WRITTEN]
    keys = sorted(written, key=lambda k: order.index(k) if k in order else len(order))
    for key in keys:
        count = written[key]
        if not count:
            continue
        if key == "created":
            parts.append(f"created {count} {noun}")
        elif key == "updated":
            parts.append(f"updated {count} {noun}")
        elif key in _WRITTEN:
            parts.append(_WRITTEN[key].format(n=count))
        else:
            parts.append(f"{key.replace('_', ' ')}: {count}")
    return ", ".join(parts) or "nothing needed changing"


def _result_links(target_key: str) -> list[tuple[str, str]]:
    links = []
    for label, url_name in RESULT_LINKS.get(target_key, []):
        try:
            links.append((label, reverse(url_name)))
        except NoReverseMatch:
            continue
    return links
