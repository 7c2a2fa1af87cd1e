from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse


class RoomQuerySet(models.QuerySet):
    def live(self) -> "RoomQuerySet":
        return self.filter(status=Room.Status.LIVE)

    def visible_to(self, member) -> "RoomQuerySet":
        """Public rooms and group rooms of the member's groups, minus rooms the member is
        banned from or whose host has blocked them."""
        from groups.selectors import active_group_ids

        rooms = self.filter(
            Q(visibility=Room.Visibility.PUBLIC) | Q(group_id__in=active_group_ids(member))
        )
        if member is not None and member.is_authenticated:
            rooms = rooms.exclude(bans__member=member).exclude(host__blocking_set__blocked=member)
        return rooms

    def open_to(self, member) -> "RoomQuerySet":
        """The rooms whose page the member may open, by the rules of rooms.selectors.
        room_access, as a query for lists (replays, their search): signed out, public
        rooms outside private groups; platform moderators, every room; anyone else, the
        rooms visible_to them, less those of groups that banned them and those where a
        host or moderator blocked them."""
        from groups.models import GroupBan
        from rooms.permissions import is_platform_moderator

        if member is None or not member.is_authenticated:
            return self.filter(visibility=Room.Visibility.PUBLIC).exclude(group__is_private=True)
        if member.is_suspended:
            return self.none()
        if is_platform_moderator(member):
            return self
        blocked_by = Participant.objects.filter(
            role__in=MODERATING_ROLES, member__blocking_set__blocked=member
        ).values("room_id")
        return (
            self.visible_to(member)
            .exclude(group_id__in=GroupBan.objects.filter(member=member).values("group_id"))
            .exclude(pk__in=blocked_by)
        )


class Room(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Not started"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Anyone on Podium"
        GROUP = "group", "Members of the group only"

    title = models.CharField(max_length=120)
    description = models.TextField(max_length=2000, blank=True)
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="hosted_rooms"
    )
    group = models.ForeignKey(
        "podium_groups.Group",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rooms",
    )
    # rooms/ knows an event only by its id (DESIGN.md section 1).
    event_id = models.PositiveBigIntegerField(null=True, blank=True, db_index=True)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    max_speakers = models.PositiveSmallIntegerField(default=20)
    # Grows by one with every change clients see; a client that sees a gap resyncs.
    version = models.PositiveBigIntegerField(default=0)
    peak_audience = models.PositiveIntegerField(default=0)
    # The host's choices: record from the start (rooms.models.recordings), and captions.
    record = models.BooleanField("Record this room", default=False)
    captions = models.BooleanField("Live captions", default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = RoomQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(visibility="group") | Q(group__isnull=False),
                name="group_room_has_group",
            ),
            models.CheckConstraint(
                condition=Q(max_speakers__gte=1) & Q(max_speakers__lte=100),
                name="stage_size_in_range",
            ),
        ]
        indexes = [models.Index(fields=["status", "-created_at"])]
        permissions = [
            ("moderate_platform", "Can moderate any room from the moderation dashboard"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("room_detail", args=[self.pk])

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.LIVE

    @property
    def stage_preview(self) -> list:
        """The faces on a room card (after rooms.selectors._with_stage_preview): on a live
        room, those on stage now; before it starts, the speakers lined up."""
        people = getattr(self, "stage_people", [])
        return [p for p in people if p.is_present or not self.is_live]


class Role(models.TextChoices):
    HOST = "host", "Host"
    MODERATOR = "moderator", "Moderator"
    SPEAKER = "speaker", "Speaker"
    LISTENER = "listener", "Listener"


STAGE_ROLES = (Role.HOST, Role.MODERATOR, Role.SPEAKER)
MODERATING_ROLES = (Role.HOST, Role.MODERATOR)


class Participant(models.Model):
    """A member's place in a room. Designated speakers exist before they arrive
    (is_present false); listeners are created when they join."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="participants")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.LISTENER)
    hand_raised_at = models.DateTimeField(null=True, blank=True)
    invited_at = models.DateTimeField(null=True, blank=True)
    muted = models.BooleanField(default=True)
    is_present = models.BooleanField(default=False)
    # The websocket channel that holds this member's presence. A newer tab takes it over, so
    # the older tab's disconnect doesn't mark the member absent.
    connection = models.CharField(max_length=120, blank=True)
    # The node (settings.NODE_ID) whose process holds that socket: a node that stops
    # heart-beating has its participants reaped (rooms.cluster).
    node = models.CharField(max_length=64, blank=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "member"], name="one_participant_per_member"),
            models.UniqueConstraint(
                fields=["room"], condition=Q(role="host"), name="one_host_per_room"
            ),
            models.CheckConstraint(
                condition=Q(hand_raised_at__isnull=True) | Q(role="listener"),
                name="only_listeners_raise_hands",
            ),
        ]
        indexes = [models.Index(fields=["room", "is_present", "role"])]

    def __str__(self) -> str:
        return f"{self.member} ({self.role}) in {self.room}"

    def take_role(self, role: str) -> None:
        """Move to `role` with no hand and no invitation, muted: everyone arrives on stage
        muted and unmutes themselves, and a listener has nothing to unmute. Saves only those
        fields."""
        self.role = role
        self.muted = True
        self.hand_raised_at = None
        self.invited_at = None
        self.save(update_fields=["role", "muted", "hand_raised_at", "invited_at"])

    def send_away(self, *, at, keep_host: bool = False) -> None:
        """End the member's presence as a quiet listener (removal, bans, suspensions): off
        the stage, muted, no hand, no invitation. Saves only those fields."""
        if not (keep_host and self.role == Role.HOST):
            self.role = Role.LISTENER
        self.muted = True
        self.hand_raised_at = None
        self.invited_at = None
        self.is_present = False
        self.connection = ""
        self.left_at = at
        self.save(
            update_fields=[
                "role",
                "muted",
                "hand_raised_at",
                "invited_at",
                "is_present",
                "connection",
                "left_at",
            ]
        )

    @property
    def on_stage(self) -> bool:
        return self.role in STAGE_ROLES

    @property
    def can_moderate(self) -> bool:
        return self.role in MODERATING_ROLES


class RoomBan(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="bans")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_bans"
    )
    banned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "member"], name="one_ban")]

    def __str__(self) -> str:
        return f"{self.member} banned from {self.room}"
