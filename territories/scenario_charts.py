"""Plotly figures of the scenario pages, as plain JSON dicts for the page's ``json_script``.

Drawn by the plotly.js shipped in the ``plotly`` package (no CDN). The look follows
``reporting.charts`` (same palette and margins), copied rather than imported because no app
imports ``reporting``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal

import plotly.graph_objects as go

from territories.balancing import balance_scores
from territories.scenarios import MEASURES, TerritoryMetrics, measure_value, require_measure

BLUE, ORANGE, GREY = "#2563eb", "#ea580c", "#94a3b8"
LAYOUT = {
    "margin": {"l": 48, "r": 16, "t": 40, "b": 40},
    "height": 320,
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "hovermode": "closest",
    "showlegend": False,
}


def _json(figure: go.Figure) -> dict:
    """Plain JSON types (no numpy, no typed arrays)."""
    return json.loads(figure.to_json())


def _loads(
    metrics: Mapping[str, TerritoryMetrics], keys: Sequence[str], measure: str
) -> list[Decimal]:
    return [measure_value(metrics[key], measure) if key in metrics else Decimal(0) for key in keys]


def _names(keys: Sequence[str], *sources: Mapping[str, TerritoryMetrics]) -> list[str]:
    def name(key: str) -> str:
        return next((source[key].name for source in sources if key in source), key)

    return [name(key) for key in keys]


def balance_chart(
    metrics: Mapping[str, TerritoryMetrics], territories: Sequence[str], measure: str
) -> dict:
    """A bar per territory of ``territories`` (keys, e.g. one parent's children) on ``measure``,
    a dashed line at their mean, and their CV in the title."""
    require_measure(measure)
    loads = _loads(metrics, territories, measure)
    names = _names(territories, metrics)
    figure = go.Figure(
        go.Bar(
            x=names,
            y=[float(load) for load in loads],
            customdata=list(territories),
            marker_color=BLUE,
            hovertemplate="%{x}: %{y:,.0f}<extra></extra>",
        ),
        LAYOUT,
    )
    if territories:
        balance = balance_scores(dict(zip(territories, loads, strict=True)))
        mean = float(sum(loads, Decimal(0)) / len(loads))
        figure.add_hline(
            y=mean,
            line_dash="dash",
            line_color=GREY,
            annotation_text=f"mean {mean:,.0f}",
            annotation_position="top left",
        )
        title = f"{MEASURES[measure]} · CV {balance.cv:.2f}"
    else:
        title = MEASURES[measure]
    figure.update_layout(title={"text": title, "x": 0, "font": {"size": 14}})
    return _json(figure)


def compare_chart(
    a_metrics: Mapping[str, TerritoryMetrics],
    b_metrics: Mapping[str, TerritoryMetrics],
    measure: str,
    *,
    territories: Sequence[str] | None = None,
    names: tuple[str, str] = ("Live", "Scenario"),
) -> dict:
    """Grouped bars of two plans on ``measure``, territory by territory (by key), with each
    plan's CV in the legend. ``territories`` defaults to the leaves of either plan."""
    require_measure(measure)
    if territories is None:
        territories = [key for key, row in a_metrics.items() if row.is_leaf]
        territories += [
            key for key, row in b_metrics.items() if row.is_leaf and key not in a_metrics
        ]
    labels = _names(territories, b_metrics, a_metrics)
    figure = go.Figure(layout=LAYOUT)
    for metrics, name, color in ((a_metrics, names[0], GREY), (b_metrics, names[1], ORANGE)):
        loads = _loads(metrics, territories, measure)
        cv = balance_scores(dict(zip(territories, loads, strict=True))).cv if loads else 0.0
        figure.add_bar(
            x=labels,
            y=[float(load) for load in loads],
            name=f"{name} (CV {cv:.2f})",
            marker_color=color,
            customdata=list(territories),
            hovertemplate=f"%{{x}}: %{{y:,.0f}}<extra>{name}</extra>",
        )
    figure.update_layout(
        barmode="group",
        showlegend=True,
        legend={"orientation": "h", "y": -0.2},
        title={"text": MEASURES[measure], "x": 0, "font": {"size": 14}},
        margin={**LAYOUT["margin"], "b": 60},
    )
    return _json(figure)
