from django.apps import AppConfig


class TerritoriesConfig(AppConfig):
    """Territory tree, assignment rules, scenarios and quotas."""

    name = "territories"
