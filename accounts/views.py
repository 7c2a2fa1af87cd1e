from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import notifications, selectors, services
from accounts.forms import NotificationPreferencesForm, ProfileForm
from accounts.models import Member
from config.limits import MESSAGES, over_limit


def people(request: HttpRequest, handle: str, which: str) -> HttpResponse:
    member = selectors.member_get(handle)
    if which == "followers":
        queryset, title = selectors.member_followers(member), "Followers"
    else:
        queryset, title = selectors.member_following(member), "Following"
    return render(
        request,
        "accounts/people.html",
        {"member": member, "people": queryset[:200], "title": title, "which": which},
    )


@login_required
def profile_edit(request: HttpRequest) -> HttpResponse:
    # A copy, so that a rejected form doesn't leave unsaved values on request.user (which the
    # page's header shows).
    member = Member.objects.get(pk=request.user.pk)
    if request.method == "POST":
        form = ProfileForm(request.POST, request.FILES, instance=member)
        if form.is_valid():
            form.save()
            messages.success(request, "Profile saved.")
            return redirect(member.get_absolute_url())
        messages.error(request, "Please correct the errors below.")
    else:
        form = ProfileForm(instance=member)
    return render(request, "accounts/profile_edit.html", {"form": form})


def _relation_action(action, limit: str | None = None):
    @login_required
    @require_POST
    def view(request: HttpRequest, handle: str) -> HttpResponse:
        target = selectors.member_get(handle)
        if limit is not None and over_limit(request, limit):
            messages.error(request, MESSAGES[limit])
            return redirect(target.get_absolute_url())
        try:
            message = action(request.user, target)
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, message)
        return redirect(target.get_absolute_url())

    return view


def _follow(viewer: Member, target: Member) -> str:
    services.follow_create(follower=viewer, followee=target)
    return f"You're following {target.display_name}."


def _unfollow(viewer: Member, target: Member) -> str:
    services.follow_delete(follower=viewer, followee=target)
    return f"You unfollowed {target.display_name}."


def _block(viewer: Member, target: Member) -> str:
    services.block_create(blocker=viewer, blocked=target)
    return f"You blocked {target.display_name}. They can't follow you or join rooms you host."


def _unblock(viewer: Member, target: Member) -> str:
    services.block_delete(blocker=viewer, blocked=target)
    return f"You unblocked {target.display_name}."


follow = _relation_action(_follow, limit="follow")  # each follow notifies
unfollow = _relation_action(_unfollow)
block = _relation_action(_block)
unblock = _relation_action(_unblock)


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """The member's notifications, newest first. Showing a page marks its unread ones read;
    they keep their "New" mark for this one showing."""
    paginator = Paginator(notifications.notifications_for(request.user), notifications.PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    shown = list(page.object_list)
    unread = [n.pk for n in shown if n.read_at is None]
    if unread:
        notifications.notifications_mark_read(member=request.user, ids=unread)
    return render(request, "accounts/notifications.html", {"page": page, "notifications": shown})


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    notifications.notifications_mark_read(member=request.user)
    messages.success(request, "All notifications marked as read.")
    return redirect("notifications")


@login_required
def notification_settings(request: HttpRequest) -> HttpResponse:
    preferences = notifications.preferences_for(request.user)
    data = request.POST if request.method == "POST" else None
    form = NotificationPreferencesForm(data, preferences=preferences)
    if form.is_bound and form.is_valid():
        notifications.notification_preferences_set(member=request.user, choices=form.choices())
        messages.success(request, "Notification settings saved.")
        return redirect("notification_settings")
    return render(request, "accounts/notification_settings.html", {"form": form})
