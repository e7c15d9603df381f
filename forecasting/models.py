"""Tables of the forecasting app (filled by its own issue)."""
