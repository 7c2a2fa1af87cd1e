from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from config.limits import MESSAGES, over_limit
from groups import selectors, services
from groups.forms import GroupForm
from groups.models import Membership


def group_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    groups = selectors.groups_list(query)[:100]
    return render(request, "groups/group_list.html", {"groups": groups, "query": query})


@login_required
def group_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = GroupForm(request.POST)
        if over_limit(request, "group.create"):
            form.add_error(None, MESSAGES["group.create"])
            return render(request, "groups/group_form.html", {"form": form}, status=429)
        if form.is_valid():
            data = form.cleaned_data
            try:
                group = services.group_create(
                    creator=request.user,
                    name=data["name"],
                    slug=data["slug"],
                    description=data["description"],
                    is_private=data["is_private"],
                )
            except ValueError as exc:
                # A race for the same address between the form's check and the insert.
                form.add_error("slug", str(exc))
            else:
                messages.success(request, f"{group.name} is ready. Invite people to join.")
                return redirect(group)
    else:
        form = GroupForm()
    return render(request, "groups/group_form.html", {"form": form})


@login_required
@require_POST
def group_join(request: HttpRequest, slug: str) -> HttpResponse:
    group = selectors.group_get(slug)
    try:
        membership = services.group_join(group=group, member=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect(group)
    if membership.is_active:
        messages.success(request, f"Welcome to {group.name}.")
    else:
        messages.info(request, "Request sent. A manager will review it.")
    return redirect(group)


@login_required
@require_POST
def group_leave(request: HttpRequest, slug: str) -> HttpResponse:
    group = selectors.group_get(slug)
    try:
        services.group_leave(group=group, member=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"You left {group.name}.")
    return redirect(group)


@login_required
@require_POST
def membership_decide(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    group = selectors.group_get(slug)
    membership = get_object_or_404(Membership, pk=membership_id, group=group)
    approve = request.POST.get("decision") == "approve"
    try:
        if approve:
            services.membership_approve(actor=request.user, membership=membership)
            messages.success(request, f"{membership.member} joined {group.name}.")
        else:
            services.membership_reject(actor=request.user, membership=membership)
            messages.success(request, "Request declined.")
    except (PermissionDenied, ValueError) as exc:
        messages.error(request, str(exc))
    return redirect(group)


def _role_change(service, done: str):
    @login_required
    @require_POST
    def view(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
        group = selectors.group_get(slug)
        membership = get_object_or_404(Membership, pk=membership_id, group=group)
        try:
            membership = service(actor=request.user, membership=membership)
        except (PermissionDenied, ValueError) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, done.format(member=membership.member, group=group))
        return redirect(group)

    return view


membership_promote = _role_change(
    services.membership_promote, "{member} is now a manager of {group}."
)
membership_demote = _role_change(services.membership_demote, "{member} is now a member of {group}.")
