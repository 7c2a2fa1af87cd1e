"""Site search, /search/?q=: people, groups, events and rooms, as the viewer may see them.

Group-only events and rooms appear only to the group's members; private groups are listed
by name only. Each kind is one query (rooms two, for the faces on stage), whatever matches.
"""

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import Member
from events.discovery import with_counts
from events.models import Event
from groups.selectors import groups_matching
from rooms.discovery_selectors import rooms_matching

QUERY_MAX = 100
PER_KIND = 20


def people_matching(query: str, *, limit: int) -> list[Member]:
    people = Member.objects.filter(is_active=True).filter(
        Q(display_name__icontains=query)
        | Q(headline__icontains=query)
        | Q(company__icontains=query)
    )
    return list(people.order_by("display_name", "pk")[:limit])


def events_matching(member, query: str, *, limit: int) -> list[Event]:
    """Upcoming and live events that mention the query, among those the member may see."""
    events = (
        Event.objects.upcoming()
        .visible_to(member)
        .filter(Q(title__icontains=query) | Q(description__icontains=query))
    )
    return list(with_counts(events)[:limit])


def search(request: HttpRequest) -> HttpResponse:
    query = " ".join(request.GET.get("q", "").split())[:QUERY_MAX]
    viewer = request.user if request.user.is_authenticated else None
    context: dict = {"query": query}
    if query:
        context["people"] = people_matching(query, limit=PER_KIND)
        context["groups"] = groups_matching(query, limit=PER_KIND)
        context["events"] = events_matching(viewer, query, limit=PER_KIND)
        context["rooms"] = rooms_matching(viewer, query, limit=PER_KIND)
        context["found"] = any(context[kind] for kind in ("people", "groups", "events", "rooms"))
    return render(request, "search.html", context)
