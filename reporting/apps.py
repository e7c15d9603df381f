from django.apps import AppConfig


class ReportingConfig(AppConfig):
    """KPI definitions and snapshots, dashboards, saved and scheduled reports."""

    name = "reporting"
