"""Reporting fixtures: the CRM's New Business pipeline and accounts per rep."""

from tests.crm.conftest import accounts, pipeline, stage  # noqa: F401 - fixtures and helper
