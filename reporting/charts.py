"""Plotly figures for the dashboards; every point carries the URL of the deals behind it.

The page draws them with the plotly.js shipped in the ``plotly`` package (no CDN), opens the URL
in a point's ``customdata`` when it is clicked, and offers plotly's own PNG download.
"""

from __future__ import annotations

import json
from decimal import Decimal

import plotly.graph_objects as go

# Brand-neutral palette that stays readable for the common colour-vision deficiencies.
BLUE, ORANGE, GREEN, GREY = "#2563eb", "#ea580c", "#059669", "#94a3b8"
LAYOUT = {
    "margin": {"l": 48, "r": 16, "t": 8, "b": 40},
    "height": 300,
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "hovermode": "closest",
    "showlegend": False,
}


def _json(figure: go.Figure) -> dict:
    """Plain JSON types (no numpy, no typed arrays), for the page's json_script."""
    return json.loads(figure.to_json())


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def bars(labels: list[str], values: list, urls: list[str], *, money: str = "",
         horizontal: bool = False, color: str = BLUE) -> dict:  # fmt: skip
    """A bar per label; ``money`` is the currency code shown in hover text."""
    numbers = [_number(v) or 0.0 for v in values]
    hover = f"%{{{'y' if horizontal else 'x'}}}: {money} %{{{'x' if horizontal else 'y'}:,.0f}}"
    trace = go.Bar(
        x=numbers if horizontal else labels,
        y=labels if horizontal else numbers,
        orientation="h" if horizontal else "v",
        customdata=urls,
        marker_color=color,
        hovertemplate=hover + "<extra>click for the deals</extra>",
    )
    layout = dict(LAYOUT)
    if horizontal:
        layout["height"] = max(240, 26 * len(labels) + 60)
        layout["yaxis"] = {"autorange": "reversed", "automargin": True}
    return _json(go.Figure(trace, layout))


def funnel(stages: list[str], entries: list[int], urls: list[str]) -> dict:
    """Deals entering each stage, with the share kept from the previous stage (drop-off)."""
    trace = go.Funnel(
        y=stages,
        x=entries,
        customdata=urls,
        textinfo="value+percent previous",
        marker_color=BLUE,
        hovertemplate="%{y}: %{x} entered, %{percentPrevious:.0%} of the previous stage"
        "<extra>click for the deals</extra>",
    )
    layout = {**LAYOUT, "height": max(240, 48 * len(stages) + 40)}
    layout["yaxis"] = {"automargin": True}
    return _json(go.Figure(trace, layout))


def win_rate_and_cycle(months: list[str], win_rates: list, cycles: list,
                       urls: list[str]) -> dict:  # fmt: skip
    """Win rate (line, left axis, %) and median sales cycle (bars, right axis, days) by month."""
    figure = go.Figure(layout=LAYOUT)
    figure.add_bar(
        x=months, y=[_number(c) for c in cycles], name="Sales cycle (median days)",
        marker_color=GREY, yaxis="y2", customdata=urls,
        hovertemplate="%{x}: %{y:.0f} days<extra>median sales cycle</extra>",
    )  # fmt: skip
    figure.add_scatter(
        x=months, y=[None if r is None else float(r) * 100 for r in win_rates],
        name="Win rate", mode="lines+markers", line_color=ORANGE, customdata=urls,
        hovertemplate="%{x}: %{y:.0f} %<extra>win rate</extra>",
    )  # fmt: skip
    figure.update_layout(
        showlegend=True,
        legend={"orientation": "h", "y": -0.2},
        yaxis={"title": "Win rate %", "rangemode": "tozero"},
        yaxis2={"title": "Days", "overlaying": "y", "side": "right", "rangemode": "tozero"},
        margin={**LAYOUT["margin"], "r": 48, "b": 60},
    )
    return _json(figure)


def pipeline_by_month(months: list[str], totals: list, weighted: list, urls: list[str],
                      money: str) -> dict:  # fmt: skip
    """Open pipeline and weighted pipeline by close month."""
    figure = go.Figure(layout=LAYOUT)
    figure.add_bar(x=months, y=[_number(v) or 0.0 for v in totals], name="Pipeline",
                   marker_color=BLUE, customdata=urls,
                   hovertemplate=f"%{{x}}: {money} %{{y:,.0f}}<extra>pipeline</extra>")  # fmt: skip
    figure.add_bar(x=months, y=[_number(v) or 0.0 for v in weighted], name="Weighted",
                   marker_color=GREEN, customdata=urls,
                   hovertemplate=f"%{{x}}: {money} %{{y:,.0f}}<extra>weighted</extra>")  # fmt: skip
    figure.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.2}, barmode="group")
    return _json(figure)


def bookings_vs_quota(months: list[str], bookings: list, quotas: list, urls: list[str],
                      money: str) -> dict:  # fmt: skip
    """Bookings (bars) against quota (a line) by month; months without a quota leave a gap."""
    figure = go.Figure(layout=LAYOUT)
    figure.add_bar(x=months, y=[_number(v) or 0.0 for v in bookings], name="Bookings",
                   marker_color=BLUE, customdata=urls,
                   hovertemplate=f"%{{x}}: {money} %{{y:,.0f}}<extra>bookings</extra>")  # fmt: skip
    if any(q is not None for q in quotas):
        figure.add_scatter(
            x=months, y=[_number(q) for q in quotas], name="Quota", mode="lines+markers",
            line={"color": ORANGE, "dash": "dash"}, customdata=urls,
            hovertemplate=f"%{{x}}: {money} %{{y:,.0f}}<extra>quota</extra>",
        )  # fmt: skip
        figure.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.2})
    return _json(figure)


def attainment(labels: list[str], values: list, urls: list[str]) -> dict:
    """Quota attainment per member (horizontal bars, %), with the 100 % line; green at or above."""
    percents = [None if v is None else float(v) * 100 for v in values]
    trace = go.Bar(
        x=percents, y=labels, orientation="h", customdata=urls,
        marker_color=[GREEN if (p or 0) >= 100 else ORANGE for p in percents],
        hovertemplate="%{y}: %{x:.0f} % of quota<extra>click for the won deals</extra>",
    )  # fmt: skip
    layout = {**LAYOUT, "height": max(240, 26 * len(labels) + 60)}
    layout["yaxis"] = {"autorange": "reversed", "automargin": True}
    layout["xaxis"] = {"ticksuffix": " %", "rangemode": "tozero"}
    layout["shapes"] = [{"type": "line", "x0": 100, "x1": 100, "yref": "paper", "y0": 0, "y1": 1,
                         "line": {"color": GREY, "dash": "dot"}}]  # fmt: skip
    return _json(go.Figure(trace, layout))
