from accounts.notifications import Bell


def viewer(request) -> dict:
    """The zone in which to show times to whoever is looking."""
    user = getattr(request, "user", None)
    zone = user.timezone if user is not None and user.is_authenticated else "UTC"
    return {"viewer_zone": zone}


def notifications(request) -> dict:
    """The header's bell. Its count is one query, made only when the page shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"bell": Bell(user)}
