"""Domain errors: raised by services with a message a person can act on."""


class DomainError(Exception):
    """A business rule refused the change; ``str(error)`` is the message to show as it is."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
