"""SalesOps project package and shared kernel (org, money, fiscal calendar, visibility)."""

from salesops.celery import app as celery_app

__all__ = ["celery_app"]
