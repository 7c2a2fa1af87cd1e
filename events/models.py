from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

# An event is scheduled for at most SCHEDULED_MAX; while it is scheduled or live its host may
# extend it by EXTENSION at a time, up to EXTENDED_MAX in all.
SCHEDULED_MAX = timedelta(hours=3)
EXTENSION = timedelta(minutes=30)
EXTENDED_MAX = timedelta(hours=6)
# The host may go live this long before the start.
GO_LIVE_EARLY = timedelta(minutes=15)


class Visibility(models.TextChoices):
    PUBLIC = "public", "Anyone on Podium"
    GROUP = "group", "Members of the group only"


class EventQuerySet(models.QuerySet):
    def upcoming(self) -> "EventQuerySet":
        # A live event whose room has ended is over, even before event_sync_from_room runs.
        return (
            self.filter(
                status__in=[Event.Status.SCHEDULED, Event.Status.LIVE],
                ends_at__gte=timezone.now(),
            )
            .exclude(room__status="ended")
            .order_by("starts_at")
        )

    def visible_to(self, member) -> "EventQuerySet":
        from groups.selectors import active_group_ids

        return self.filter(
            Q(visibility=Visibility.PUBLIC) | Q(group_id__in=active_group_ids(member))
        )


class Event(models.Model):
    """A scheduled audio event. At start time the host goes live and it gets a Room."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"
        CANCELLED = "cancelled", "Cancelled"

    title = models.CharField(max_length=120)
    description = models.TextField(max_length=5000, blank=True)
    cover = models.ImageField(upload_to="covers/", blank=True)
    # Passed on to the event's room when it goes live (rooms.models.Room).
    record = models.BooleanField("Record the talk", default=False)
    captions = models.BooleanField("Live captions", default=False)
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="hosted_events"
    )
    group = models.ForeignKey(
        "podium_groups.Group",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="events",
    )
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # The host's IANA zone: times are entered and shown in it, and stored in UTC.
    timezone = models.CharField(max_length=64, default="UTC")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    room = models.OneToOneField(
        "rooms.Room", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # RFC 5545 SEQUENCE: grows whenever the times change, so that calendar apps replace
    # their copy of the event instead of keeping the old times.
    sequence = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="event_ends_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(visibility="group") | Q(group__isnull=False),
                name="group_event_has_group",
            ),
        ]
        indexes = [models.Index(fields=["status", "starts_at"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("event_detail", args=[self.pk])

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at

    @property
    def is_open(self) -> bool:
        """Scheduled or live: people may still RSVP, and the host may extend it."""
        return self.status in {self.Status.SCHEDULED, self.Status.LIVE}

    @property
    def can_extend(self) -> bool:
        return self.is_open and self.duration + EXTENSION <= EXTENDED_MAX

    @property
    def go_live_opens_at(self):
        return self.starts_at - GO_LIVE_EARLY


class EventSpeaker(models.Model):
    """A designated speaker or co-host, invited by the host. Only accepted ones are shown."""

    class Role(models.TextChoices):
        SPEAKER = "speaker", "Speaker"
        COHOST = "cohost", "Co-host"

    class Status(models.TextChoices):
        INVITED = "invited", "Invited"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="speakers")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="event_invitations"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.SPEAKER)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.INVITED)
    invited_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "member"], name="one_event_speaker_role"),
        ]

    def __str__(self) -> str:
        return f"{self.member} ({self.role}, {self.status}) at {self.event}"


class RSVP(models.Model):
    class Status(models.TextChoices):
        GOING = "going", "Going"
        INTERESTED = "interested", "Interested"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="rsvps")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rsvps"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.GOING)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by send_event_reminders so that each reminder goes out exactly once.
    reminded_24h_at = models.DateTimeField(null=True, blank=True)
    reminded_15m_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "RSVP"
        constraints = [models.UniqueConstraint(fields=["event", "member"], name="one_rsvp")]

    def __str__(self) -> str:
        return f"{self.member} {self.status} to {self.event}"
