from django.conf import settings
from django.contrib.sites.models import Site


def absolute_url(path: str) -> str:
    """The full address of a page for emails and calendar files, which have no request to
    take the host from: the current Site's domain (as accounts.notifications does)."""
    scheme = "https" if settings.HTTPS else "http"
    return f"{scheme}://{Site.objects.get_current().domain}{path}"
