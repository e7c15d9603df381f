from django.apps import AppConfig


class CompensationConfig(AppConfig):
    """Comp plans, crediting, commission runs, statements and disputes."""

    name = "compensation"
