from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

from events import search
from events import views as event_views
from rooms.moderation import views as moderation_views

urlpatterns = [
    path("", event_views.home, name="home"),
    path("search/", search.search, name="search"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("groups/", include("groups.urls")),
    path("events/", include("events.urls")),
    path("rooms/", include("rooms.urls")),
    path("moderation/", include("rooms.moderation.urls")),
    path("report/", moderation_views.report_create, name="report"),
]

if settings.SERVE_FILES:
    # Avatars and covers. A front proxy serves MEDIA_ROOT in production.
    urlpatterns += [
        re_path(r"^uploads/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    ]
