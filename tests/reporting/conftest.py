"""Reporting fixtures: the CRM's pipeline and accounts, and the hand-computed scenario."""

from tests.crm.conftest import accounts, pipeline  # noqa: F401 - fixtures
from tests.reporting.scenario import book  # noqa: F401 - fixture
