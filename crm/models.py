"""Tables of the crm app (filled by its own issue)."""
