"""Notifications: the one door through which every app tells a member something.

accounts imports no other app, so callers bring the text and the address of the page it is
about. Preferences decide what happens: no row when the member turned the kind off in
Podium, and email only when the caller asks for it *and* the member allows it. Email goes
out after commit, so a rolled-back change never mails anyone.
"""

from functools import cached_property

from django.conf import settings
from django.contrib.sites.models import Site
from django.core.mail import send_mail, send_mass_mail
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.text import Truncator

from accounts.models import Member, Notification, NotificationKind, NotificationPreference

PAGE_SIZE = 20
# The bell shows "99+" past this; counting further would cost more and tell nothing.
UNREAD_CAP = 99
# Followers written per INSERT when someone with many followers goes live.
FAN_OUT_BATCH = 1000

_TEXT_MAX = Notification._meta.get_field("text").max_length
_URL_MAX = Notification._meta.get_field("url").max_length


# --- Sending --------------------------------------------------------------------------------


def notify(*, member, kind, text, url, email=False) -> Notification | None:
    """Tell `member` about something. Returns the notification, or None when the member
    turned this kind off in Podium (an email may still go out if they kept that on)."""
    kind = NotificationKind(kind)
    _check_url(url)
    if not member.is_active:
        return None
    preference = preference_for(member, kind)
    text = Truncator(" ".join(str(text).split())).chars(_TEXT_MAX)
    notification = None
    if preference.in_app:
        notification = Notification.objects.create(
            recipient=member, kind=kind, text=text, url=url[:_URL_MAX]
        )
    if email and preference.email and member.email:
        _email_after_commit([member.email], text, url)
    return notification


def notify_followers_live(*, host, title, url, among: QuerySet | None = None) -> int:
    """Tell the host's followers that the host went live, in a bounded number of queries
    whatever the follower count. `among`, a subquery of member ids, narrows the audience to
    those who may see the room (a group-only room's group members). Returns how many
    notifications were written."""
    kind = NotificationKind.FOLLOWED_LIVE
    _check_url(url)
    text = Truncator(f"{host.display_name} is live: {' '.join(title.split())}").chars(_TEXT_MAX)
    followers = Member.objects.filter(following_set__followee=host, is_active=True)
    if among is not None:
        followers = followers.filter(pk__in=among)
    chosen = NotificationPreference.objects.filter(member=OuterRef("pk"), kind=kind)
    rows = followers.annotate(
        wants_in_app=Coalesce(Subquery(chosen.values("in_app")[:1]), Value(True)),
        wants_email=Coalesce(
            Subquery(chosen.values("email")[:1]),
            Value(kind in NotificationPreference.EMAIL_BY_DEFAULT),
        ),
    ).values_list("pk", "email", "wants_in_app", "wants_email")

    written = 0
    batch: list[Notification] = []
    addresses: list[str] = []
    for member_id, address, wants_in_app, wants_email in rows.iterator(chunk_size=FAN_OUT_BATCH):
        if wants_in_app:
            batch.append(
                Notification(recipient_id=member_id, kind=kind, text=text, url=url[:_URL_MAX])
            )
        if wants_email and address:
            addresses.append(address)
        if len(batch) >= FAN_OUT_BATCH:
            written += len(Notification.objects.bulk_create(batch))
            batch = []
    if batch:
        written += len(Notification.objects.bulk_create(batch))
    if addresses:
        _email_after_commit(addresses, text, url)
    return written


def _email_after_commit(addresses: list[str], text: str, url: str) -> None:
    """One message per address (nobody sees another's), sent once the transaction commits."""

    # A named function, not a partial: Django logs a robust callback's failure by its
    # __qualname__, which a partial doesn't have.
    def send_email() -> None:
        subject, body = _email(text, url)
        if len(addresses) == 1:
            send_mail(subject, body, None, addresses)
        else:
            send_mass_mail([(subject, body, None, [address]) for address in addresses])

    # robust: a mail server that is down must not turn a committed change into an error.
    transaction.on_commit(send_email, robust=True)


def _check_url(url: str) -> None:
    # Shown as a link: only Podium paths and web addresses, never "javascript:".
    if url and (not url.startswith(("/", "https://", "http://")) or url.startswith("//")):
        raise ValueError(f"A notification links to a path or a web address, not {url!r}")


def _email(text: str, url: str) -> tuple[str, str]:
    settings_url = _absolute(reverse("notification_settings"))
    lines = [text, "", _absolute(url)] if url else [text]
    lines += ["", "--", f"Choose which emails Podium sends you: {settings_url}"]
    return Truncator(text).chars(78), "\n".join(lines)


def _absolute(url: str) -> str:
    if not url.startswith("/"):
        return url
    scheme = "https" if settings.HTTPS else "http"
    return f"{scheme}://{Site.objects.get_current().domain}{url}"


# --- Reading --------------------------------------------------------------------------------


def preference_for(member, kind: str) -> NotificationPreference:
    stored = NotificationPreference.objects.filter(member=member, kind=kind).first()
    return stored or NotificationPreference.default(member, kind)


def preferences_for(member) -> list[NotificationPreference]:
    """Every kind, in the order of NotificationKind, with the defaults filled in."""
    stored = {p.kind: p for p in NotificationPreference.objects.filter(member=member)}
    return [
        stored.get(kind) or NotificationPreference.default(member, kind)
        for kind in NotificationKind.values
    ]


def notifications_for(member) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=member).order_by("-created_at", "-pk")


class Bell:
    """The header's unread count: one query, and only if a template asks for it."""

    def __init__(self, member):
        self.member = member

    @cached_property
    def count(self) -> int:
        unread = Notification.objects.filter(recipient=self.member, read_at__isnull=True)
        return unread[: UNREAD_CAP + 1].count()

    @property
    def label(self) -> str:
        return f"{UNREAD_CAP}+" if self.count > UNREAD_CAP else str(self.count)


# --- Changing -------------------------------------------------------------------------------


def notifications_mark_read(*, member, ids: list[int] | None = None) -> int:
    """Mark the member's unread notifications read: these ids, or all of them."""
    unread = Notification.objects.filter(recipient=member, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


def notification_preferences_set(*, member, choices: dict[str, tuple[bool, bool]]) -> None:
    """Store the member's (in_app, email) choice for each kind given, in one statement."""
    rows = [
        NotificationPreference(
            member=member, kind=NotificationKind(kind), in_app=in_app, email=email
        )
        for kind, (in_app, email) in choices.items()
    ]
    with transaction.atomic():
        NotificationPreference.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["member", "kind"],
            update_fields=["in_app", "email"],
        )
