"""Tables of the compensation app (filled by its own issue)."""
