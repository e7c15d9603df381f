"""Domain errors become 400 responses carrying their message (and field, when known)."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from salesops.errors import DomainError


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        body = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        if hasattr(exc, "current_version"):
            body["current_version"] = exc.current_version
        return Response(body, status=exc.http_status)
    return drf_exception_handler(exc, context)
