from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils.text import slugify
from django.utils.timezone import now

# An indefinite suspension is stored as a date no one will reach.
SUSPENDED_FOREVER = datetime(9999, 1, 1, tzinfo=UTC)


class Industry(models.TextChoices):
    SOFTWARE = "software", "Software & Internet"
    FINANCE = "finance", "Financial Services"
    HEALTHCARE = "healthcare", "Healthcare"
    EDUCATION = "education", "Education"
    MANUFACTURING = "manufacturing", "Manufacturing"
    MEDIA = "media", "Media & Communications"
    CONSULTING = "consulting", "Consulting"
    RETAIL = "retail", "Retail & Consumer"
    ENERGY = "energy", "Energy & Utilities"
    GOVERNMENT = "government", "Government & Public Sector"
    NONPROFIT = "nonprofit", "Non-profit"
    LEGAL = "legal", "Legal"
    RESEARCH = "research", "Research & Science"
    DESIGN = "design", "Design & Creative"
    OTHER = "other", "Other"


class MemberManager(BaseUserManager):
    use_in_migrations = True

    def unique_handle(self, base: str) -> str:
        """A free profile handle derived from `base` ("Ada Lovelace" -> "ada-lovelace-2")."""
        stem = slugify(base)[:40] or "member"
        taken = set(self.filter(handle__startswith=stem).values_list("handle", flat=True))
        if stem not in taken:
            return stem
        n = 2
        while f"{stem}-{n}" in taken:
            n += 1
        return f"{stem}-{n}"

    def create_user(self, email: str, password: str | None = None, **fields) -> "Member":
        if not email:
            raise ValueError("A member needs an email address")
        email = self.normalize_email(email).lower()
        fields.setdefault("display_name", email.partition("@")[0])
        fields.setdefault("handle", self.unique_handle(fields["display_name"]))
        member = self.model(email=email, **fields)
        member.set_password(password)
        member.save(using=self._db)
        return member

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "Member":
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class Member(AbstractBaseUser, PermissionsMixin):
    """A Podium member: the login and the professional identity shown everywhere."""

    email = models.EmailField(unique=True)
    handle = models.SlugField(
        max_length=50, unique=True, help_text="The profile address: /in/<handle>/"
    )
    display_name = models.CharField(max_length=80)
    headline = models.CharField(max_length=120, blank=True)
    company = models.CharField(max_length=80, blank=True)
    industry = models.CharField(max_length=20, choices=Industry.choices, blank=True)
    location = models.CharField(max_length=80, blank=True)
    about = models.TextField(max_length=2000, blank=True)
    avatar = models.ImageField(upload_to="avatars/", blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    # Denormalised from allauth's verified email addresses (accounts.services) so that every
    # list of people can show the badge without a query per person.
    verified_domain = models.CharField(max_length=253, blank=True)

    # Set only through rooms.moderation (which writes the audit entry). Indefinite
    # suspensions use SUSPENDED_FOREVER.
    suspended_until = models.DateTimeField(null=True, blank=True)
    suspension_reason = models.CharField(max_length=500, blank=True)

    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=now)

    objects = MemberManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["display_name"]

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name

    def get_absolute_url(self) -> str:
        return reverse("profile", args=[self.handle])

    def get_full_name(self) -> str:
        return self.display_name

    def get_short_name(self) -> str:
        return self.display_name.split(" ")[0]

    @property
    def is_suspended(self) -> bool:
        return self.suspended_until is not None and self.suspended_until > now()

    @property
    def suspended_indefinitely(self) -> bool:
        return self.suspended_until is not None and self.suspended_until >= SUSPENDED_FOREVER

    @property
    def initials(self) -> str:
        parts = [p for p in self.display_name.split() if p]
        return "".join(p[0] for p in parts[:2]).upper() or "?"


class Follow(models.Model):
    follower = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="following_set")
    followee = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="follower_set")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_once"),
            models.CheckConstraint(condition=~Q(follower=F("followee")), name="no_self_follow"),
        ]

    def __str__(self) -> str:
        return f"{self.follower} follows {self.followee}"


class Block(models.Model):
    blocker = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="blocking_set")
    blocked = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="blocked_by_set")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_once"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="no_self_block"),
        ]

    def __str__(self) -> str:
        return f"{self.blocker} blocks {self.blocked}"


class NotificationKind(models.TextChoices):
    EVENT_SPEAKER_INVITE = "event_speaker_invite", "Invited to speak at an event"
    EVENT_LIVE = "event_live", "An event you RSVP'd to is live"
    FOLLOWED_LIVE = "followed_live", "Someone you follow went live"
    JOIN_APPROVED = "join_approved", "Your join request was approved"
    MODERATION_WARNING = "moderation_warning", "You received a moderation warning"


class Notification(models.Model):
    """Something a member should know about, shown under the bell. Made only through
    accounts.notifications, which honours the member's preferences."""

    Kind = NotificationKind

    recipient = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, choices=NotificationKind.choices)
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The bell's unread count and the newest-first list, both per member.
            models.Index(fields=["recipient", "read_at"], name="notification_unread"),
            models.Index(fields=["recipient", "-created_at"], name="notification_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.recipient}: {self.text}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class NotificationPreference(models.Model):
    """A member's choice for one kind of notification. Without a row the defaults apply
    (NotificationPreference.default)."""

    # Email is opt-out for what a member would act on, opt-in for the chatty "went live".
    EMAIL_BY_DEFAULT = frozenset(
        {
            NotificationKind.EVENT_SPEAKER_INVITE,
            NotificationKind.EVENT_LIVE,
            NotificationKind.JOIN_APPROVED,
            NotificationKind.MODERATION_WARNING,
        }
    )

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=30, choices=NotificationKind.choices)
    in_app = models.BooleanField(default=True)
    email = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member", "kind"], name="one_preference_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.member}: {self.kind} (in app {self.in_app}, email {self.email})"

    @classmethod
    def default(cls, member: Member, kind: str) -> "NotificationPreference":
        return cls(member=member, kind=kind, in_app=True, email=kind in cls.EMAIL_BY_DEFAULT)
