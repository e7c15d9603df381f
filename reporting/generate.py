"""Generator step: the KPI snapshots of a freshly generated organisation."""

from __future__ import annotations

from reporting.services import kpi_recompute_full
from salesops.org.generate import GeneratedOrg


def generate_kpis(org: GeneratedOrg) -> dict[str, int]:
    """Compute every KPI once, so dashboards have figures the moment the demo starts."""
    run = kpi_recompute_full()
    return {"kpi_values": run.values_written}
