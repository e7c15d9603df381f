"""Request id and audit context for every request."""

import re
import uuid

import pghistory.middleware

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Give each request an id (kept from ``X-Request-ID`` when a proxy sets a sane one).

    The id goes back in the response header and into every audit record the request causes,
    so a support person can find all changes made by one click.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.id
        return response


class AuditContextMiddleware(pghistory.middleware.HistoryMiddleware):
    """Attach user, URL and request id to every audit event written during the request."""

    def get_context(self, request):
        return {**super().get_context(request), "request_id": getattr(request, "id", None)}
