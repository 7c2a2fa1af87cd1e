from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from groups.models import Group
from groups.services import RESERVED_SLUGS


class GroupForm(forms.ModelForm):
    slug = forms.SlugField(
        max_length=60,
        required=False,
        label="Address",
        help_text="Letters, digits and hyphens: /groups/<address>/. Leave empty to use the name.",
    )

    class Meta:
        model = Group
        fields = ["name", "slug", "description", "is_private"]
        labels = {"is_private": "Private group"}
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not slugify(name):
            raise ValidationError("Use a name with letters or digits.")
        return name

    def clean(self):
        data = super().clean()
        typed = data.get("slug") or ""
        slug = slugify(typed or data.get("name") or "")[:60]
        if typed and not slug:
            self.add_error("slug", "Use letters or digits in the address.")
        elif slug in RESERVED_SLUGS:
            self.add_error("slug", "That address is reserved; choose another.")
        elif slug and Group.objects.filter(slug=slug).exists():
            self.add_error("slug", "That address is taken; choose another.")
        data["slug"] = slug
        return data
