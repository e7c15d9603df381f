"""Bench-only URLs: the whole app plus a hello-world view that is the page-latency floor."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

HELLO_PATH = "/bench/hello"


def hello(request: HttpRequest) -> HttpResponse:
    """The cheapest page the stack can serve: same middleware, no template, no queries of its own."""
    return HttpResponse("ok")


urlpatterns = [
    path(HELLO_PATH.lstrip("/"), hello, name="bench-hello"),
    path("", include("salesops.urls")),
]
