from django.apps import AppConfig


class ForecastingConfig(AppConfig):
    """Forecast calls and roll-up, snapshots, learned forecast, accuracy."""

    name = "forecasting"
