from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter

from accounts.models import Member


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        # Set the name before populate_username() derives the handle from it.
        user.display_name = form.cleaned_data.get("display_name") or user.email.partition("@")[0]
        return super().save_user(request, user, form, commit)

    def populate_username(self, request, user) -> None:
        # Podium has no usernames; the profile handle comes from the display name.
        if not user.handle:
            user.handle = Member.objects.unique_handle(user.display_name or user.email)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        name = " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p)
        user.display_name = (data.get("name") or name or user.email.partition("@")[0])[:80]
        user.handle = Member.objects.unique_handle(user.display_name)
        return user
