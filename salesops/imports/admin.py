"""Admin for support work: look at import jobs and saved mappings (jobs change only through
the import pages and API, which run the checks)."""

from django.contrib import admin

from salesops.imports.models import ImportJob, ImportMapping


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "file_name", "target", "status", "row_count", "created_by", "created_at"]
    list_filter = ["target", "status"]
    search_fields = ["file_name", "created_by__username"]
    date_hierarchy = "created_at"
    exclude = ["content"]  # the uploaded bytes (up to SALESOPS_IMPORT_MAX_BYTES)
    readonly_fields = [
        "target", "file_name", "columns", "row_count", "mapping", "status", "report",
        "created_by", "created_at", "validated_at", "committed_at",
    ]  # fmt: skip

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content").select_related("created_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ImportMapping)
class ImportMappingAdmin(admin.ModelAdmin):
    list_display = ["name", "target", "created_by", "created_at"]
    list_filter = ["target"]
    search_fields = ["name"]
    readonly_fields = ["created_by", "created_at"]
