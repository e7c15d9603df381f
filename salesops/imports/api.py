"""Import API: upload a file, set its mapping, check it, import it; the targets; saved mappings.

Thin over ``salesops.imports.services``: every write is a service call, every job query starts
from ``restrict``. Small files are checked and imported in the request; bigger ones are queued
for the Celery worker and answered with ``202`` and the job (poll ``GET /imports/{id}/``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.fields.json import KeyTransform
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from salesops.errors import DomainError, NotFound
from salesops.imports import services
from salesops.imports.fields import Kind
from salesops.imports.models import ImportJob, ImportMapping, ImportStatus
from salesops.imports.targets import all_targets, get_preset, get_target
from salesops.imports.views import IMPORT_PERMISSION, check_job, commit_job
from salesops.permissions import restrict

QUEUED = (ImportStatus.VALIDATING, ImportStatus.COMMITTING)


class CanImport(BasePermission):
    """Importing is for roles with the import permission (sales ops, admins)."""

    message = "Your role does not allow imports."

    def has_permission(self, request, view) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)


# --- serializers ---------------------------------------------------------------------------------


# Plain text with the values listed, not enums: enum components are named after the field
# ("kind", "status"), which other apps' fields already use (see the report's note on
# ENUM_NAME_OVERRIDES).
KINDS = ", ".join(k.value for k in Kind)
STATUSES = ", ".join(f"{value} ({label})" for value, label in ImportStatus.choices)


class ChoiceItemSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


def _choices(pairs) -> list[dict[str, str]]:
    return [{"value": str(value), "label": str(label)} for value, label in pairs]


class ImportFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.CharField(help_text=f"One of: {KINDS}.")
    required = serializers.BooleanField()
    max_length = serializers.IntegerField(allow_null=True)
    help = serializers.CharField()
    aliases = serializers.ListField(child=serializers.CharField())
    choices = serializers.SerializerMethodField()
    shows_value_map = serializers.BooleanField(
        help_text="The mapping page offers to translate this field's source values."
    )

    @extend_schema_field(ChoiceItemSerializer(many=True))
    def get_choices(self, field) -> list[dict[str, str]]:
        return _choices(field.choices)


class ImportOptionSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.CharField(help_text=f"One of: {KINDS}.")
    default = serializers.JSONField()
    help = serializers.CharField()
    choices = serializers.SerializerMethodField()

    @extend_schema_field(ChoiceItemSerializer(many=True))
    def get_choices(self, option) -> list[dict[str, str]]:
        return _choices(option.choices)


class PresetSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    headers = serializers.ListField(
        child=serializers.CharField(), help_text="Columns a file must have for this mapping to fit."
    )
    help = serializers.CharField()
    mapping = serializers.JSONField()


class ImportTargetSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    key_field = serializers.CharField(
        allow_null=True, help_text="The field that identifies a record across imports."
    )
    fields = ImportFieldSerializer(many=True)
    options = ImportOptionSerializer(many=True, source="all_options")
    presets = PresetSerializer(many=True)


class ImportRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Spreadsheet row (the header is row 1).")
    field = serializers.CharField()
    message = serializers.CharField()


class ImportSummarySerializer(serializers.Serializer):
    create = serializers.IntegerField()
    update = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    skipped_repeats = serializers.IntegerField()
    filtered_out = serializers.IntegerField()


class ImportReportSerializer(serializers.Serializer):
    """The last check's (or the import's) report; empty before the first check. A problem with
    the file or mapping as a whole gives only ``problem`` and ``error_count``."""

    problem = serializers.CharField(required=False)
    rows = serializers.IntegerField(required=False)
    error_count = serializers.IntegerField(required=False)
    error_rows = serializers.IntegerField(required=False)
    errors = ImportRowErrorSerializer(many=True, required=False)
    summary = ImportSummarySerializer(required=False)
    skipped_rows = serializers.ListField(child=serializers.IntegerField(), required=False)
    notes = serializers.ListField(child=serializers.CharField(), required=False)
    sample = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Some records to create."
    )
    written = serializers.DictField(
        child=serializers.IntegerField(), required=False, help_text="What the import wrote."
    )
    committed = serializers.BooleanField(required=False)


class ImportJobListSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text=f"One of: {STATUSES}.")
    created_by_name = serializers.SerializerMethodField()
    error_count = serializers.IntegerField(read_only=True, allow_null=True)
    written = serializers.DictField(
        child=serializers.IntegerField(), read_only=True, allow_null=True
    )

    class Meta:
        model = ImportJob
        fields = [
            "id", "target", "file_name", "row_count", "status", "error_count", "written",
            "created_by", "created_by_name", "created_at", "validated_at", "committed_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_created_by_name(self, job) -> str:
        return job.created_by.get_full_name() or job.created_by.username


class ImportJobSerializer(ImportJobListSerializer):
    mapping = serializers.JSONField(
        read_only=True,
        help_text='{"fields": {field: {"column"|"template"|"default"|"values"|"scale"}}, '
        '"options": {...}}',
    )
    report = ImportReportSerializer(read_only=True)
    error_count = serializers.SerializerMethodField()
    written = serializers.SerializerMethodField()

    class Meta(ImportJobListSerializer.Meta):
        fields = [*ImportJobListSerializer.Meta.fields, "columns", "mapping", "report"]
        read_only_fields = fields

    def get_error_count(self, job) -> int | None:
        return (job.report or {}).get("error_count")

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField(), allow_null=True))
    def get_written(self, job) -> dict[str, int] | None:
        return (job.report or {}).get("written")


class ImportJobCreateSerializer(serializers.Serializer):
    target = serializers.ChoiceField(
        choices=[], help_text="What the file holds: see import-targets."
    )
    file = serializers.FileField(help_text="A .csv or .xlsx file with a header row.")
    preset = serializers.CharField(
        required=False, help_text="Key of a shipped mapping to use (see import-targets)."
    )
    mapping = serializers.JSONField(
        required=False, help_text="A mapping to use instead of the guessed one (JSON)."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [t.key for t in all_targets()]

    def validate_file(self, upload):
        limit = settings.SALESOPS_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise serializers.ValidationError(
                f"The file is {upload.size / 1e6:.1f} MB; the largest import is "
                f"{limit / 1e6:.0f} MB."
            )
        return upload

    def validate(self, attrs):
        if "preset" in attrs and "mapping" in attrs:
            raise serializers.ValidationError("Give a preset or a mapping, not both.")
        return attrs


class ImportMappingSetSerializer(serializers.Serializer):
    mapping = serializers.JSONField(required=False, help_text="The mapping JSON.")
    preset = serializers.CharField(required=False, help_text="Key of a shipped mapping.")
    saved = serializers.IntegerField(required=False, help_text="Id of a saved mapping.")

    def validate(self, attrs):
        if len(attrs) != 1:
            raise serializers.ValidationError("Give exactly one of mapping, preset or saved.")
        return attrs


class ImportMappingSerializer(serializers.ModelSerializer):
    created_by_name = serializers.SerializerMethodField()

    class Meta:
        model = ImportMapping
        fields = ["id", "name", "target", "mapping", "created_by", "created_by_name", "created_at"]
        read_only_fields = fields

    def get_created_by_name(self, saved) -> str:
        return saved.created_by.get_full_name() or saved.created_by.username


class ImportMappingCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    job = serializers.IntegerField(
        help_text="The import job whose current mapping is saved (same name: replaced)."
    )


# --- viewsets ------------------------------------------------------------------------------------


def _job(user, pk) -> ImportJob:
    job = restrict(ImportJob.objects.all(), user).defer("content").filter(pk=pk).first()
    if job is None:
        raise NotFound("This import does not exist or is not yours.")
    return job


def _job_response(job: ImportJob, created: bool = False) -> Response:
    job = ImportJob.objects.select_related("created_by").defer("content").get(pk=job.pk)
    if created:
        code = status.HTTP_201_CREATED
    else:
        code = status.HTTP_202_ACCEPTED if job.status in QUEUED else status.HTTP_200_OK
    return Response(ImportJobSerializer(job).data, status=code)


class ImportJobViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Import jobs: an uploaded file, its mapping, the last check's report and the result.

    Upload (multipart), set the mapping, ``validate`` (a dry run), then ``commit``. Files of up
    to ``SALESOPS_IMPORT_INLINE_ROWS`` rows are checked and imported in the request (``200``);
    bigger ones are queued (``202``, status ``validating``/``committing``): poll the job."""

    permission_classes = [IsAuthenticated, CanImport]
    filterset_fields = ["target", "status"]
    ordering_fields = ["created_at", "row_count"]
    ordering = ["-created_at"]

    def get_queryset(self):
        jobs = restrict(ImportJob.objects.all(), self.request.user).select_related("created_by")
        if self.action == "list":
            return jobs.defer("content", "report", "mapping", "columns").annotate(
                error_count=KeyTransform("error_count", "report"),
                written=KeyTransform("written", "report"),
            )
        return jobs.defer("content")

    def get_serializer_class(self):
        return {
            "list": ImportJobListSerializer,
            "create": ImportJobCreateSerializer,
            "mapping": ImportMappingSetSerializer,
        }.get(self.action, ImportJobSerializer)

    @extend_schema(
        request={"multipart/form-data": ImportJobCreateSerializer},
        responses={201: ImportJobSerializer},
    )
    def create(self, request, *args, **kwargs):
        """Upload a file. The mapping is a shipped one that fits the header, else columns
        matched to fields by name, unless ``preset`` or ``mapping`` says otherwise."""
        body = ImportJobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        upload = data["file"]
        with transaction.atomic():  # a refused mapping leaves no job behind
            job = services.import_upload(
                acting_user=request.user, target=data["target"], file_name=upload.name,
                content=upload.read(),
            )  # fmt: skip
            mapping = data.get("mapping")
            if "preset" in data:
                mapping = _preset_mapping(data["preset"], job.target)
            if mapping is not None:
                job = services.import_set_mapping(
                    acting_user=request.user, job=job, mapping=mapping
                )
        return _job_response(job, created=True)

    @extend_schema(request=ImportMappingSetSerializer, responses=ImportJobSerializer)
    @action(detail=True, methods=["post"])
    def mapping(self, request, pk=None):
        """Replace the mapping (a mapping JSON, a shipped preset or a saved mapping); the file
        must then be checked again."""
        job = _job(request.user, pk)
        body = ImportMappingSetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "preset" in data:
            mapping = _preset_mapping(data["preset"], job.target)
        elif "saved" in data:
            saved = ImportMapping.objects.filter(pk=data["saved"], target=job.target).first()
            if saved is None:
                raise NotFound("There is no saved mapping with this id for this kind of import.")
            mapping = saved.mapping
        else:
            mapping = data["mapping"]
        job = services.import_set_mapping(acting_user=request.user, job=job, mapping=mapping)
        return _job_response(job)

    @extend_schema(request=None, responses={200: ImportJobSerializer, 202: ImportJobSerializer})
    @action(detail=True, methods=["post"])
    def validate(self, request, pk=None):
        """Check every row (nothing is written) and store the report."""
        job = check_job(request.user, _job(request.user, pk))
        return _job_response(job)

    @extend_schema(request=None, responses={200: ImportJobSerializer, 202: ImportJobSerializer})
    @action(detail=True, methods=["post"])
    def commit(self, request, pk=None):
        """Import a file whose last check passed: all rows or none."""
        job = commit_job(request.user, _job(request.user, pk))
        return _job_response(job)


def _preset_mapping(key: str, target: str) -> dict[str, Any]:
    preset = get_preset(key)
    if preset.target != target:
        raise DomainError(
            f"The mapping '{key}' is for {preset.target}, not {target}.", field="preset"
        )
    return preset.mapping


class ImportTargetViewSet(viewsets.GenericViewSet):
    """What can be imported: each target's fields, options and shipped mappings."""

    permission_classes = [IsAuthenticated, CanImport]
    serializer_class = ImportTargetSerializer
    pagination_class = None
    filter_backends: list = []
    lookup_field = "key"
    lookup_value_regex = "[A-Za-z0-9_-]+"

    def list(self, request):
        return Response(ImportTargetSerializer(all_targets(), many=True).data)

    @extend_schema(parameters=[OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH)])
    def retrieve(self, request, key=None):
        try:
            target = get_target(key)
        except DomainError as error:
            raise NotFound(error.message) from None
        return Response(ImportTargetSerializer(target).data)


class ImportMappingViewSet(
    mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Saved column mappings, shared by everyone who imports; reuse one with
    ``POST /imports/{id}/mapping/ {"saved": id}``."""

    permission_classes = [IsAuthenticated, CanImport]
    queryset = ImportMapping.objects.select_related("created_by")
    filterset_fields = ["target"]
    ordering = ["target", "name"]

    def get_serializer_class(self):
        return ImportMappingCreateSerializer if self.action == "create" else ImportMappingSerializer

    @extend_schema(request=ImportMappingCreateSerializer, responses={201: ImportMappingSerializer})
    def create(self, request, *args, **kwargs):
        """Save an import job's current mapping under a name."""
        body = ImportMappingCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = _job(request.user, body.validated_data["job"])
        saved = services.mapping_save(
            acting_user=request.user, job=job, name=body.validated_data["name"]
        )
        saved = ImportMapping.objects.select_related("created_by").get(pk=saved.pk)
        return Response(ImportMappingSerializer(saved).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.mapping_delete(acting_user=self.request.user, mapping=instance)


router = SimpleRouter()
router.register("imports", ImportJobViewSet, basename="importjob")
router.register("import-targets", ImportTargetViewSet, basename="importtarget")
router.register("import-mappings", ImportMappingViewSet, basename="importmapping")
urlpatterns = router.urls
