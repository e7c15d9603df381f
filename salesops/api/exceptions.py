"""Domain errors become 400 responses carrying their message (and field, when known)."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from salesops.errors import DomainError


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        body = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=400)
    return drf_exception_handler(exc, context)
