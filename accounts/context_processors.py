def viewer(request) -> dict:
    """The zone in which to show times to whoever is looking."""
    user = getattr(request, "user", None)
    zone = user.timezone if user is not None and user.is_authenticated else "UTC"
    return {"viewer_zone": zone}
