"""The moderation dashboard's forms, and the report form any member fills in."""

from django import forms

from rooms.models import ReportCategory

SUSPENSION_CHOICES = [
    ("1", "1 day"),
    ("7", "7 days"),
    ("30", "30 days"),
    ("forever", "Indefinitely"),
]


class ResolveForm(forms.Form):
    note = forms.CharField(
        label="What was done", max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class DismissForm(forms.Form):
    reason = forms.CharField(
        label="Why dismiss", max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class WarnForm(forms.Form):
    message = forms.CharField(
        label="Warning the member will see",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class SuspendForm(forms.Form):
    duration = forms.ChoiceField(choices=SUSPENSION_CHOICES, initial="7")
    reason = forms.CharField(max_length=500, widget=forms.TextInput())


class ReportForm(forms.Form):
    category = forms.ChoiceField(choices=ReportCategory.choices, widget=forms.RadioSelect)
    details = forms.CharField(
        max_length=4000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What happened, and when. Only moderators read this.",
    )
