"""Suspended members see only their suspension; warned members see the warning once."""

from django.shortcuts import render
from django.urls import reverse

from rooms.models import Warning
from rooms.moderation.services import mark_warnings_seen

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
        if wants_page:
            # One query per page. The base template shows these; they count as seen only
            # once a page that shows them has really been served.
            request.podium_warnings = list(
                Warning.objects.filter(member=user, seen_at__isnull=True).order_by("created_at")
            )
        response = self.get_response(request)
        shown = request.podium_warnings
        if (
            shown
            and response.status_code == 200
            and response.get("Content-Type", "").startswith("text/html")
        ):
            mark_warnings_seen([warning.pk for warning in shown])
        return response


def warnings(request) -> dict:
    return {"podium_warnings": getattr(request, "podium_warnings", [])}
