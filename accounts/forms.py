import io
import zoneinfo
from functools import cache

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from PIL import Image, ImageOps, UnidentifiedImageError

from accounts.models import Member, NotificationKind, NotificationPreference

AVATAR_FORMATS = {"JPEG", "PNG", "WEBP"}
AVATAR_MAX_SIDE = 4096


@cache
def timezone_choices() -> list[tuple[str, str]]:
    names = sorted(n for n in zoneinfo.available_timezones() if "/" in n or n == "UTC")
    return [(n, n.replace("_", " ")) for n in names]


def validate_avatar(upload) -> None:
    """Accept JPEG, PNG or WebP up to AVATAR_MAX_BYTES and 4096 px a side."""
    if upload.size > settings.AVATAR_MAX_BYTES:
        limit = settings.AVATAR_MAX_BYTES // (1024 * 1024)
        raise ValidationError(f"The picture must be {limit} MB or smaller.")
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            kind = image.format
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationError("That file is not a picture we can read.") from None
    finally:
        upload.seek(0)
    if kind not in AVATAR_FORMATS:
        raise ValidationError("Use a JPEG, PNG or WebP picture.")
    if width > AVATAR_MAX_SIDE or height > AVATAR_MAX_SIDE:
        raise ValidationError(f"The picture must be at most {AVATAR_MAX_SIDE} px on each side.")


def without_metadata(upload) -> SimpleUploadedFile:
    """The picture re-encoded in its own format with nothing but its pixels: no EXIF (GPS
    position, camera, time taken), no XMP or text chunks. The orientation EXIF asked for is
    applied first, so the picture still shows the right way up."""
    upload.seek(0)
    with Image.open(upload) as opened:
        kind = opened.format
        image = ImageOps.exif_transpose(opened)
        out = io.BytesIO()
        # Pillow writes no metadata unless asked (exif=, pnginfo=, xmp=).
        options = {"quality": 90} if kind in ("JPEG", "WEBP") else {}
        image.save(out, format=kind, **options)
    return SimpleUploadedFile(upload.name, out.getvalue(), content_type=upload.content_type)


class PictureField(forms.ImageField):
    """An avatar or cover: validated by validate_avatar, stored without its metadata."""

    default_validators = [validate_avatar]

    def clean(self, data, initial=None):
        value = super().clean(data, initial)
        if isinstance(value, UploadedFile):
            return without_metadata(value)
        return value


class SignupForm(forms.Form):
    """Extra fields on allauth's signup form; allauth calls signup() after saving."""

    display_name = forms.CharField(
        max_length=80,
        label="Full name",
        widget=forms.TextInput(attrs={"autocomplete": "name", "placeholder": "Ada Lovelace"}),
    )
    headline = forms.CharField(
        max_length=120,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "Staff engineer, payments infrastructure"}),
    )

    field_order = ["display_name", "headline", "email", "password1", "password2"]

    def clean_display_name(self) -> str:
        name = self.cleaned_data["display_name"].strip()
        if not name:
            raise ValidationError("Tell us your name.")
        return name

    def signup(self, request, user: Member) -> None:
        user.headline = self.cleaned_data.get("headline", "")
        user.save(update_fields=["headline"])


class ProfileForm(forms.ModelForm):
    timezone = forms.ChoiceField(choices=timezone_choices)
    avatar = PictureField(
        required=False,
        help_text="JPEG, PNG or WebP, up to 2 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )

    class Meta:
        model = Member
        fields = [
            "display_name",
            "headline",
            "company",
            "industry",
            "location",
            "timezone",
            "about",
            "avatar",
        ]
        labels = {"display_name": "Full name"}
        widgets = {"about": forms.Textarea(attrs={"rows": 5})}

    def clean_display_name(self) -> str:
        name = self.cleaned_data["display_name"].strip()
        if not name:
            raise ValidationError("Tell us your name.")
        return name


class MembersField(forms.CharField):
    """Members named by profile handle, separated by commas: "ada-lovelace, grace-hopper".

    Cleans to a list of Member in the order given, without repeats; unknown handles are an
    error that names them.
    """

    def __init__(self, *, max_members: int = 20, **kwargs):
        self.max_members = max_members
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            "Start typing a name to pick members, or type profile handles (the part after "
            "/in/), separated by commas.",
        )
        # static/accounts/suggest.js offers members from /members/suggest/ as one types.
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"data-suggest": "/members/suggest/", "spellcheck": "false"}),
        )
        super().__init__(max_length=2000, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        handles: list[str] = []
        for raw in value.replace("\n", ",").split(","):
            handle = raw.strip().removeprefix("@").removeprefix("/in/").strip("/").lower()
            if handle and handle not in handles:
                handles.append(handle)
        if len(handles) > self.max_members:
            raise ValidationError(f"Name at most {self.max_members} people.")
        found = {m.handle: m for m in Member.objects.filter(handle__in=handles, is_active=True)}
        missing = [h for h in handles if h not in found]
        if missing:
            raise ValidationError("No member with the handle: " + ", ".join(missing))
        return [found[h] for h in handles]


class NotificationPreferencesForm(forms.Form):
    """Two checkboxes per kind of notification: in Podium, and by email."""

    def __init__(self, *args, preferences: list[NotificationPreference], **kwargs):
        super().__init__(*args, **kwargs)
        self.kinds = [p.kind for p in preferences]
        for pref in preferences:
            label = NotificationKind(pref.kind).label
            self.fields[f"{pref.kind}_in_app"] = forms.BooleanField(
                required=False, initial=pref.in_app, label=f"{label}: in Podium"
            )
            self.fields[f"{pref.kind}_email"] = forms.BooleanField(
                required=False, initial=pref.email, label=f"{label}: by email"
            )

    def rows(self):
        """(label, in-Podium field, email field) for each kind, for the settings table."""
        for kind in self.kinds:
            yield NotificationKind(kind).label, self[f"{kind}_in_app"], self[f"{kind}_email"]

    def choices(self) -> dict[str, tuple[bool, bool]]:
        data = self.cleaned_data
        return {kind: (data[f"{kind}_in_app"], data[f"{kind}_email"]) for kind in self.kinds}
