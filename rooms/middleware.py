"""Suspended members see only their suspension; warned members see the warning once."""

from django.shortcuts import render
from django.urls import reverse

from rooms.models import Warning
from rooms.moderation import warnings_to_show

PASS_THROUGH = ("/static/", "/uploads/", "/accounts/logout/")


class ModerationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        request.podium_warnings = []
        if user is None or not user.is_authenticated or request.path.startswith(PASS_THROUGH):
            return self.get_response(request)
        if user.is_suspended:
            return render(
                request,
                "moderation/suspended.html",
                {"member": user, "logout_url": reverse("account_logout")},
                status=403,
            )
        wants_page = request.method == "GET" and "text/html" in request.headers.get(
            "Accept", "text/html"
        )
        # One cheap query per page; the locking read happens only when there is news.
        if wants_page and Warning.objects.filter(member=user, seen_at__isnull=True).exists():
            request.podium_warnings = warnings_to_show(user)
        return self.get_response(request)


def warnings(request) -> dict:
    return {"podium_warnings": getattr(request, "podium_warnings", [])}
