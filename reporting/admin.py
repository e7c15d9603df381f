"""Admin for support work: KPI runs and saved reports, schedules and deliveries (read mostly)."""

from django.contrib import admin

from reporting.models import KpiRun, ReportDelivery, ReportSchedule, SavedReport


@admin.register(KpiRun)
class KpiRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "kind", "status", "finished_at", "values_written", "periods"]
    list_filter = ["kind", "status"]
    readonly_fields = [f.name for f in KpiRun._meta.fields]


@admin.register(SavedReport)
class SavedReportAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "shared"]
    list_filter = ["shared"]
    search_fields = ["name", "owner__username"]
    raw_id_fields = ["owner"]


@admin.register(ReportSchedule)
class ReportScheduleAdmin(admin.ModelAdmin):
    list_display = ["report", "frequency", "active", "next_run_at"]
    list_filter = ["frequency", "active"]
    raw_id_fields = ["report"]


@admin.register(ReportDelivery)
class ReportDeliveryAdmin(admin.ModelAdmin):
    list_display = ["schedule", "due_at", "status", "sent_at", "rows"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in ReportDelivery._meta.fields]
