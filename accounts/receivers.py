"""allauth signal receivers. They only hand over to services."""

from accounts import services


def sync_verified_domain(sender, request=None, **kwargs) -> None:
    member = kwargs.get("user")
    if member is None and kwargs.get("email_address") is not None:
        member = kwargs["email_address"].user
    if member is None and kwargs.get("sociallogin") is not None:
        member = kwargs["sociallogin"].user
    if member is not None:
        services.member_sync_verified_domain(member=member)
