"""Tables of the territories app (filled by its own issue)."""
