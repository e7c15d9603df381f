"""Tables of the reporting app (filled by its own issue)."""
