"""Domain errors: raised by services with a message a person can act on."""


class DomainError(Exception):
    """A business rule refused the change; ``str(error)`` is the message to show as it is."""

    http_status = 400  # what the API answers with

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(DomainError):
    """The caller's role or scope does not allow the change."""

    http_status = 403


class NotFound(DomainError):
    """The record does not exist, or lies outside the caller's scope (the two look alike)."""

    http_status = 404
