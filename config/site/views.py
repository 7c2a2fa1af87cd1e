"""The pages that compose several apps: home, search, a member's profile and a group."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from accounts import selectors as member_selectors
from accounts.models import Block, Follow
from config.limits import MESSAGES, over_limit
from config.site import previews, selectors
from events.selectors import events_for_profile, upcoming_events_for
from groups import selectors as group_selectors
from groups.selectors import groups_for_profile, groups_matching
from rooms.discovery_selectors import rooms_matching
from rooms.recordings.replay import replays_for_profile
from rooms.recordings.search import transcript_lines_matching
from rooms.selectors import live_rooms_for, rooms_for_profile

SEARCH_QUERY_MAX = 100
SEARCH_PER_KIND = 20


def home(request: HttpRequest) -> HttpResponse:
    """Live rooms and upcoming events, ranked for the member (config.site.ranking)."""
    member = request.user if request.user.is_authenticated else None
    context = {
        "live_rooms": selectors.live_rooms_for_home(member),
        "upcoming": selectors.upcoming_events_for_home(member),
    }
    return render(request, "site/home.html", context)


def search(request: HttpRequest) -> HttpResponse:
    """/search/?q=: people, groups, events, rooms and what was said in replays, as the
    viewer may see them.

    Group-only events and rooms (and their replays) appear only to the group's members;
    private groups are listed by name only. Each kind is one query (rooms two, for the
    faces on stage), whatever matches."""
    query = " ".join(request.GET.get("q", "").split())[:SEARCH_QUERY_MAX]
    viewer = request.user if request.user.is_authenticated else None
    context: dict = {"query": query}
    if query:
        context["people"] = selectors.people_matching(query, limit=SEARCH_PER_KIND)
        context["groups"] = groups_matching(query, limit=SEARCH_PER_KIND)
        context["events"] = selectors.events_matching(viewer, query, limit=SEARCH_PER_KIND)
        context["rooms"] = rooms_matching(viewer, query, limit=SEARCH_PER_KIND)
        context["said"] = transcript_lines_matching(viewer, query, limit=SEARCH_PER_KIND)
        context["found"] = any(
            context[kind] for kind in ("people", "groups", "events", "rooms", "said")
        )
    return render(request, "site/search.html", context)


def profile(request: HttpRequest, handle: str) -> HttpResponse:
    """/in/<handle>/: who the member is, and their rooms, events, groups and people, as the
    viewer may see them."""
    member = member_selectors.member_get(handle)
    viewer = request.user if request.user.is_authenticated else None
    relation = {"is_self": viewer is not None and viewer.pk == member.pk}
    if viewer is not None and not relation["is_self"]:
        relation["following"] = Follow.objects.filter(follower=viewer, followee=member).exists()
        relation["blocking"] = Block.objects.filter(blocker=viewer, blocked=member).exists()
        relation["blocked_by"] = Block.objects.filter(blocker=member, blocked=viewer).exists()
    followers = member_selectors.member_followers(member)
    following = member_selectors.member_following(member)
    preview = member_selectors.PEOPLE_PREVIEW
    context = {
        "member": member,
        "og": previews.profile(member),
        "relation": relation,
        "followers": followers[:preview],
        "follower_count": followers.count(),
        "following": following[:preview],
        "following_count": following.count(),
        "groups": groups_for_profile(member, viewer),
        "events": events_for_profile(member, viewer),
        "rooms": rooms_for_profile(member, viewer),
        "replays": replays_for_profile(member, viewer),
    }
    return render(request, "site/profile.html", context)


def group_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A group: its members and, for those who may see them, its live rooms and events."""
    group = group_selectors.group_get(slug)
    viewer = request.user if request.user.is_authenticated else None
    membership = group_selectors.membership_for(group, viewer)
    can_see = not group.is_private or (membership is not None and membership.is_active)
    context = {"group": group, "membership": membership, "can_see": can_see}
    context["og"] = previews.group(group)
    if can_see:
        context["members"] = group_selectors.group_members(group)[:100]
        context["rooms"] = live_rooms_for(viewer, group_id=group.pk, limit=20)
        context["events"] = upcoming_events_for(viewer, group_id=group.pk, limit=10)
        if membership is not None and membership.can_manage:
            context["requests"] = group_selectors.pending_requests(group)
            context["bans"] = group_selectors.group_bans(group)[:100]
    if viewer is not None and membership is None:
        context["banned"] = group_selectors.is_banned(group.pk, viewer)
    return render(request, "groups/group_detail.html", context)


SUGGEST_QUERY_MAX = 60


def member_suggest(request: HttpRequest) -> JsonResponse:
    """/members/suggest/?q=ad&group=12: members to name as speakers or co-hosts, as the
    speaker fields suggest them while typing. Only members the viewer may invite: never
    one either of them blocked, nor a suspended one; with `group` (a group the viewer is
    in), only its members, for a group-only room or event."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "Sign in to search for members."}, status=403)
    if over_limit(request, "member.suggest", method="GET"):
        return JsonResponse({"error": MESSAGES["member.suggest"]}, status=429)
    query = request.GET.get("q", "")[:SUGGEST_QUERY_MAX]
    among = None
    group = request.GET.get("group", "")
    if group:
        if not group.isdigit() or not group_selectors.is_active_member(int(group), request.user):
            return JsonResponse({"error": "You aren't a member of that group."}, status=403)
        among = group_selectors.active_member_ids(int(group))
    people = member_selectors.members_to_suggest(request.user, query, among=among)
    return JsonResponse(
        {
            "members": [
                {
                    "handle": m.handle,
                    "name": m.display_name,
                    "headline": m.headline,
                    "company": m.company,
                    "verified_domain": m.verified_domain,
                    "initials": m.initials,
                    "avatar": m.avatar.url if m.avatar else "",
                }
                for m in people
            ]
        }
    )
