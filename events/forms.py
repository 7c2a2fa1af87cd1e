import zoneinfo
from datetime import UTC, datetime, timedelta

from django import forms
from django.utils import timezone

from accounts.forms import MembersField, PictureField, timezone_choices
from events.models import SCHEDULED_MAX, Visibility
from events.services import MAX_INVITED
from groups.models import Group, Membership
from rooms.forms import captions_field, record_field

MAX_DURATION = SCHEDULED_MAX
LOCAL_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class WallClockField(forms.DateTimeField):
    """A date and time exactly as typed, with no zone yet: EventForm.clean() applies the
    event's own zone, not the zone of whoever fills in the form."""

    def to_python(self, value):
        with timezone.override(UTC):
            result = super().to_python(value)
        return result.replace(tzinfo=None) if result is not None else None


def exists_in_zone(naive: datetime, zone: zoneinfo.ZoneInfo) -> bool:
    """False for wall-clock times skipped by a daylight-saving jump (02:30 on a spring night)."""
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


class EventForm(forms.Form):
    """Times are typed as wall-clock times in the chosen zone and stored in UTC."""

    title = forms.CharField(max_length=120)
    description = forms.CharField(
        max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    starts = WallClockField(label="Starts", widget=LOCAL_INPUT)
    ends = WallClockField(label="Ends", widget=LOCAL_INPUT)
    timezone = forms.ChoiceField(label="Time zone", choices=timezone_choices)
    group = forms.ModelChoiceField(
        queryset=Group.objects.none(), required=False, empty_label="No group"
    )
    visibility = forms.ChoiceField(choices=Visibility.choices, initial=Visibility.PUBLIC)
    speakers = MembersField(
        max_members=MAX_INVITED,
        help_text="Profile handles, separated by commas (the part after /in/). "
        "Each gets an invitation to accept.",
    )
    cohosts = MembersField(
        label="Co-hosts",
        max_members=MAX_INVITED,
        help_text="They moderate the room with you. Profile handles, separated by commas.",
    )
    record = record_field("Record the talk")
    captions = captions_field()
    cover = PictureField(
        required=False,
        help_text="Optional. JPEG, PNG or WebP, up to 2 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )

    def __init__(self, *args, host, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = Group.objects.filter(
            memberships__member=host, memberships__status=Membership.Status.ACTIVE
        ).order_by("name")
        self.fields["timezone"].initial = host.timezone

    def clean(self):
        data = super().clean()
        zone_name, starts, ends = data.get("timezone"), data.get("starts"), data.get("ends")
        if data.get("visibility") == Visibility.GROUP and not data.get("group"):
            self.add_error("group", "Choose the group whose members may attend.")
        if not (zone_name and starts and ends):
            return data
        zone = zoneinfo.ZoneInfo(zone_name)
        for name, value in (("starts", starts), ("ends", ends)):
            if not exists_in_zone(value, zone):
                self.add_error(name, f"That time doesn't exist in {zone_name}: the clocks skip it.")
                return data
        starts, ends = starts.replace(tzinfo=zone), ends.replace(tzinfo=zone)
        if starts < timezone.now() - timedelta(minutes=5):
            self.add_error("starts", "Pick a start time in the future.")
        if ends <= starts:
            self.add_error("ends", "The event must end after it starts.")
        elif ends - starts > MAX_DURATION:
            self.add_error(
                "ends", "Events last at most 3 hours. Once scheduled, you can extend it up to 6."
            )
        data["starts_at"], data["ends_at"] = starts, ends
        return data
