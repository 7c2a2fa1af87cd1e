"""Refuse form and query values holding a NUL character, with a 400, before any view.

PostgreSQL can't store or even compare text containing NUL: a search, a lookup by handle
or a form value with one raised DataError deep in a view, a 500. No real browser input
contains one. Uploaded files are not looked at (they are bytes, where NUL is normal).
"""

from django.http import HttpRequest, HttpResponseBadRequest
from django.template.loader import render_to_string


def _has_nul(data) -> bool:
    return any("\x00" in key or any("\x00" in v for v in data.getlist(key)) for key in data)


class NulGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if _has_nul(request.GET) or (request.method == "POST" and _has_nul(request.POST)):
            page = render_to_string("400.html", request=request)
            return HttpResponseBadRequest(page)
        return self.get_response(request)
