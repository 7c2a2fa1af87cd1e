from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse


class GroupQuerySet(models.QuerySet):
    def with_member_count(self) -> "GroupQuerySet":
        return self.annotate(
            member_count=models.Count(
                "memberships", filter=Q(memberships__status=Membership.Status.ACTIVE)
            )
        )


class Group(models.Model):
    """A professional community. Its rooms and events can be for members only.

    Not django.contrib.auth's Group: that one is only used for permissions.
    """

    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(max_length=4000, blank=True)
    is_private = models.BooleanField(
        default=False,
        help_text="Private groups take join requests, and their content is for members only.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GroupQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("group_detail", args=[self.slug])


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MANAGER = "manager", "Manager"
        MEMBER = "member", "Member"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PENDING = "pending", "Requested to join"

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="group_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "member"], name="one_membership"),
            models.UniqueConstraint(
                fields=["group"], condition=Q(role="owner"), name="one_group_owner"
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(role="member"),
                name="pending_are_plain_members",
            ),
        ]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.member} in {self.group} ({self.role})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def can_manage(self) -> bool:
        return self.is_active and self.role in {self.Role.OWNER, self.Role.MANAGER}


class GroupBan(models.Model):
    """A member kept out of a group, its rooms and its events. Made by a moderation
    service, which also writes the audit entry."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="bans")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="group_bans"
    )
    banned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "member"], name="one_group_ban")]

    def __str__(self) -> str:
        return f"{self.member} banned from {self.group}"
