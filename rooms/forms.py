from django import forms

from accounts.forms import MembersField
from groups.models import Group, Membership
from rooms.models import Room


def record_field(label: str) -> forms.BooleanField:
    """The host's choice to record (rooms.services.recording), on a room's or event's form."""
    return forms.BooleanField(
        label=label,
        required=False,
        help_text="A replay with a transcript, for the people who can see the room. Speakers "
        "are asked first; you can pause the recording at any time.",
    )


def captions_field() -> forms.BooleanField:
    return forms.BooleanField(
        label="Live captions",
        required=False,
        help_text="Captions of whoever is speaking; each listener can show or hide them.",
    )


class RoomForm(forms.Form):
    title = forms.CharField(
        max_length=120, widget=forms.TextInput(attrs={"placeholder": "Scaling Postgres at 10k QPS"})
    )
    description = forms.CharField(
        max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    speakers = MembersField(label="Designated speakers", max_members=19)
    group = forms.ModelChoiceField(
        queryset=Group.objects.none(), required=False, empty_label="No group"
    )
    visibility = forms.ChoiceField(choices=Room.Visibility.choices, initial="public")
    max_speakers = forms.IntegerField(
        label="Stage size",
        min_value=2,
        max_value=100,
        initial=20,
        help_text="The most people on stage at once, the host included.",
    )

    record = record_field("Record this room")
    captions = captions_field()
    go_live = forms.BooleanField(
        label="Go live now",
        required=False,
        initial=True,
        help_text="Or leave it scheduled, and press Go live on its page when your speakers "
        "are ready.",
    )

    def __init__(self, *args, host, **kwargs):
        super().__init__(*args, **kwargs)
        self.host = host
        self.fields["group"].queryset = Group.objects.filter(
            memberships__member=host, memberships__status=Membership.Status.ACTIVE
        ).order_by("name")

    def clean(self):
        data = super().clean()
        if data.get("visibility") == Room.Visibility.GROUP and not data.get("group"):
            self.add_error("group", "Choose the group whose members may join.")
        speakers = [m for m in data.get("speakers") or [] if m.pk != self.host.pk]
        data["speakers"] = speakers
        stage = data.get("max_speakers")
        if stage and len(speakers) + 1 > stage:
            self.add_error(
                "speakers",
                f"{len(speakers)} speakers and the host don't fit on a stage of {stage}.",
            )
        return data
